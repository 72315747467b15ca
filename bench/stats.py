"""How every benchmark reports a figure: min / median / max over its runs, and ratios per pair.

A ratio of two medians hides how the two sides moved together on a busy machine; a ratio per pair
(chaton and the bare command timed one right after the other, in the same iteration) does not. So
each comparison is the list of paired ratios, reported as min / median / max, and a target is held
against the median of those ratios.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], *, digits: int = 1) -> dict[str, float]:
    """{"min", "median", "max"} of `values` (milliseconds, ratios …), rounded."""
    if not values:
        raise ValueError("no values to summarise")
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """numerator[i] / denominator[i] for each pair measured in the same iteration."""
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired runs: {len(numerators)} against {len(denominators)}")
    return [top / bottom for top, bottom in zip(numerators, denominators, strict=True)]


def ratio_spread(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, float]:
    return spread(paired_ratios(numerators, denominators), digits=3)


def format_figure(value: object) -> str:
    """One figure on one line: a spread as `min / median / max`."""
    if isinstance(value, dict) and set(value) == {"min", "median", "max"}:
        return f"{value['min']} / {value['median']} / {value['max']}  (min / median / max)"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)
