"""Startup: `chaton --help` and `chaton inventory check inventory/example.yml` against bare `python -c pass`.

Wall time over RUNS runs of each (min / median / max), interleaved so that a busy machine weighs on all
three alike; the ratio to `python -c pass` per iteration (min / median / max of the paired ratios); and
whether any heavy library got imported by `inventory check` (it must not: fabric, paramiko, proxmoxer,
httpx, dnspython, jinja2). Target: median of each ≤ 250 ms.

The commands run with bytecode caching on, as an installed chaton runs: a PYTHONDONTWRITEBYTECODE
inherited from the shell would make every run compile chaton's modules from source (about 50 ms more
on `inventory check`), which is not what users see.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from stats import ratio_spread, spread  # noqa: E402 - bench/ is not a package

PYTHON = Path(sys.executable)
CHATON = PYTHON.parent / "chaton"
RUNS = 21
TARGET_MS = 250.0
HEAVY = ("fabric", "paramiko", "proxmoxer", "httpx", "dns", "jinja2", "apprise")

COMMANDS = {
    "python_pass": [str(PYTHON), "-c", "pass"],
    "help": [str(CHATON), "--help"],
    "inventory_check": [str(CHATON), "inventory", "check", "inventory/example.yml"],
}


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def wall_ms(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def imported_heavy(args: list[str]) -> list[str]:
    probe = (f"import sys\nfrom chaton_ops.cli.main import main\nmain({args!r})\n"
             f"print('HEAVY:' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    done = subprocess.run([str(PYTHON), "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY:"))
    return [name for name in line.removeprefix("HEAVY:").split(",") if name]


def run() -> dict[str, object]:
    if not CHATON.exists():
        return {"skipped": f"{CHATON} is not installed (make install)"}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the page cache and .pyc files once
        wall_ms(argv)
    for _ in range(RUNS):
        for name, argv in COMMANDS.items():
            times[name].append(wall_ms(argv))
    median = {name: statistics.median(values) for name, values in times.items()}
    heavy_check = imported_heavy(["inventory", "check", "inventory/example.yml"])
    heavy_help = imported_heavy(["--help"])
    figures: dict[str, object] = {"runs": RUNS, "target_ms": TARGET_MS}
    for name, values in times.items():
        figures[f"{name}_ms"] = spread(values)
    for name in ("help", "inventory_check"):
        figures[f"ratio_{name}_to_python"] = ratio_spread(times[name], times["python_pass"])
    figures["heavy_imported_by_check"] = ", ".join(heavy_check) or "none"
    figures["heavy_imported_by_help"] = ", ".join(heavy_help) or "none"
    figures["ok"] = (median["help"] <= TARGET_MS and median["inventory_check"] <= TARGET_MS
                     and not heavy_check and not heavy_help)
    return figures


if __name__ == "__main__":
    print(run())
