"""The exit-code policy: one table (errors.EXIT_CODES), the verdict of a run from its targets, and the
README's table saying the same."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import chaton_ops.errors as errors
from chaton_ops.errors import EXIT_CODES, ChatonError, ExitCode, Verdict, exit_code_of, verdict_of

README = Path(__file__).parents[2] / "README.md"
OUTCOMES = ("ok", "skipped", "warning", "failed", "unreachable")


@pytest.mark.parametrize(("outcomes", "verdict"), [
    ((), Verdict.OK),
    (("ok",), Verdict.OK),
    (("skipped", "ok"), Verdict.OK),  # a step skipped on request (check --no-integrity) is no failure
    (("ok", "warning"), Verdict.WARNING),
    (("ok", "failed"), Verdict.PARTIAL),
    (("warning", "failed"), Verdict.PARTIAL),
    (("ok", "unreachable"), Verdict.PARTIAL),
    (("failed",), Verdict.FAILED),
    (("failed", "unreachable"), Verdict.FAILED),
    (("unreachable", "unreachable"), Verdict.UNREACHABLE),
])
def test_the_verdict_of_a_run_comes_from_its_targets(outcomes: tuple[str, ...], verdict: Verdict) -> None:
    assert verdict_of(outcomes) == verdict  # type: ignore[arg-type]
    assert exit_code_of(outcomes) == EXIT_CODES[verdict]  # type: ignore[arg-type]


def test_the_verdict_does_not_depend_on_the_order_and_a_success_beside_failures_is_partial() -> None:
    for size in range(1, 4):
        for outcomes in itertools.product(OUTCOMES, repeat=size):
            verdict = verdict_of(outcomes)  # type: ignore[arg-type]
            assert verdict == verdict_of(tuple(reversed(outcomes)))  # type: ignore[arg-type]
            if verdict in (Verdict.FAILED, Verdict.UNREACHABLE):
                assert verdict_of((*outcomes, "ok")) == Verdict.PARTIAL  # type: ignore[arg-type]
            assert (verdict == Verdict.OK) == all(o in ("ok", "skipped") for o in outcomes)


def test_an_unknown_outcome_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not a target outcome: fine"):
        verdict_of(["ok", "fine"])  # type: ignore[list-item]


def test_every_verdict_has_an_exit_code_and_every_exit_code_a_verdict() -> None:
    assert set(EXIT_CODES) == set(Verdict)
    assert set(EXIT_CODES.values()) == set(ExitCode)


def test_every_error_class_ends_with_an_exit_code_of_the_table() -> None:
    classes = [value for value in vars(errors).values()
               if isinstance(value, type) and issubclass(value, ChatonError)]
    for error_class in classes:
        assert error_class.verdict in EXIT_CODES, error_class
    assert errors.UsageError("x").exit_code == ExitCode.USAGE
    assert errors.ConfirmationRequired("x").exit_code == ExitCode.USAGE
    assert errors.Declined("x").exit_code == ExitCode.FAILED
    assert errors.ConnectError("h", "x").exit_code == ExitCode.UNREACHABLE


def test_the_readme_table_lists_exactly_the_exit_codes_of_the_policy() -> None:
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}

    assert documented == {int(code) for code in ExitCode}
