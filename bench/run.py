"""`make bench`: run every bench/bench_*.py and keep the figures.

Each bench module has `run() -> dict`. A measured figure is a spread over the runs, {"min", "median",
"max"} (bench/stats.py): durations end in `_ms`; a comparison is the spread of its paired ratios
(`ratio_…`: each pair timed in the same iteration), never a ratio of medians. `target…` is the goal a
median is held to and `ok` whether it met it. A module that cannot run here (it needs the lab, say)
returns {"skipped": "why"} or raises; the others still run. Results go to bench/results/latest.json.
Exit status: 1 when a bench failed or missed its target, else 0.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import platform
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from stats import format_figure  # noqa: E402 - bench/ is not a package


def discover(selected: list[str]) -> list[Path]:
    modules = sorted(HERE.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(name in m.stem for name in selected)]
    return modules


def run_module(path: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        return {"status": "failed", "error": "cannot import"}
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        figures = dict(module.run())
    except Exception as error:  # a bench that breaks must not stop the others
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=3)}
    if "skipped" in figures:
        return {"status": "skipped", **figures}
    status = "ok" if figures.get("ok", True) else "missed target"
    return {"status": status, **figures}


def print_summary(results: dict[str, dict[str, Any]]) -> None:
    width = max(len(name) for name in results) if results else 10
    for name, figures in results.items():
        print(f"{name:<{width}}  {figures['status']}")
        for key, value in figures.items():
            if key in ("status", "traceback"):
                continue
            print(f"{'':<{width}}    {key:<34} {format_figure(value)}")


def main(argv: list[str]) -> int:
    results: dict[str, dict[str, Any]] = {}
    for path in discover(argv):
        print(f"running {path.stem} …", file=sys.stderr, flush=True)
        results[path.stem] = run_module(path)
    print_summary(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(HERE.parent)}", file=sys.stderr)
    return 1 if any(r["status"] in ("failed", "missed target") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
