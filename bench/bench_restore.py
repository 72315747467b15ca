"""`chaton restore` and `chaton drill` against the bare `restic restore` they run, in the lab.

Data: one service of ≈ 200 MB in 3,000 files on primary, backed up to the repository on backup.
1. Onto an empty target: `chaton restore bench --to vps` (the path does not exist on vps) against the
   same `restic restore --verify` argv run over ssh on vps into a fresh folder (restic 0.18 there).
   Also against `restic snapshots` + that restore (what a person runs by hand: find the snapshot first).
2. Onto a target holding the previous version: `chaton restore bench --yes` in place on primary
   (staging, verification, swap; the previous copy is kept aside) against the same bare restore on
   primary into a fresh folder (restic 0.14 there).
3. The drill's MB/s (restic's restore and verification inside it) beside bare restic's MB/s.
Targets: (1) ≤ 1.10 ×, (2) ≤ 1.30 ×. Runs are interleaved (chaton, bare, chaton, …) so a busy machine
weighs on both sides alike; min/median/max are reported and ratios use medians. Kept-aside copies and
bare folders are removed between runs, outside the timings. Needs root and the lab (its lock).
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lab_session import LabUnavailable, lab_session  # noqa: E402 - bench/ is not a package

CHATON = Path(sys.executable).with_name("chaton")
RUNS = int(os.environ.get("CHATON_BENCH_RUNS", "5"))
FILES, FILE_BYTES = 3000, 70_000  # ≈ 200 MB
TARGET_EMPTY = 1.10
TARGET_SWAP = 1.30


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv[:8])}… exited {done.returncode}: {done.stderr[-800:]}")
    return took, done.stdout


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def run() -> dict[str, Any]:
    try:
        with lab_session("bench_restore") as lab:
            return _measure(lab, Path(tempfile.mkdtemp(prefix="chaton-bench-restore-")))
    except LabUnavailable as why:
        return {"skipped": str(why)}


def _measure(lab: Any, work: Path) -> dict[str, Any]:
    from tests.lab.lab import NEW_RESTIC

    from chaton_ops.core.restic import build_restore_argv

    env = {**os.environ, "CHATON_JOURNAL": str(work / "journal.sqlite3")}
    repository = f"sftp:root@{lab.address('backup')}:/srv/restic/bench-{uuid.uuid4().hex[:8]}"
    secret = f"RESTIC_PASSWORD_FILE={lab.host_restic_password_file}"
    lab.ssh("primary", f"mkdir -p /srv/bench && cd /srv/bench && for d in $(seq -w 0 29); do mkdir d$d; "
                       f"for f in $(seq -w 0 99); do head -c {FILE_BYTES} /dev/urandom > d$d/f$f.bin; done; done",
            check=True, timeout=600)
    lab.ssh("primary", f"{secret} restic -r {repository} init -q && {secret} restic -r {repository} backup -q "
                       "--host primary --tag chaton --tag service:bench /srv/bench", check=True, timeout=600)
    data = json.loads(json.dumps(lab.inventory_data(), default=str))
    data["repositories"] = {"main": {"url": repository, "password": "restic-lab"}}
    data["services"] = {"bench": {"host": "primary", "tenant": "lab", "data": ["/srv/bench"],
                                  "repositories": ["main"], "fallback": "vps"}}
    inventory = work / "inventory.yml"
    inventory.write_text(json.dumps(data))
    snapshot = json.loads(lab.ssh("primary", f"{secret} restic -r {repository} snapshots --json",
                                  check=True).stdout)[0]["id"]

    def bare(host: str, binary: str, version: tuple[int, int, int], *, lookup: bool = False) -> list[str]:
        folder = f"/srv/.bare-{uuid.uuid4().hex[:8]}"
        argv = build_restore_argv(binary, repository, snapshot, target=folder, version=version, verify=True)
        # `lookup`: what a person runs by hand first, to find the service's snapshot and its size
        first = f"{secret} {binary} -r {repository} snapshots --json --tag service:bench > /dev/null && " \
            if lookup else ""
        return lab.ssh_argv(host, f"{first}{secret} {shlex.join(argv)} > /dev/null")

    def chaton(*args: str) -> list[str]:
        return [str(CHATON), "-i", str(inventory), "-q", *args]

    def settle() -> None:
        # every measured command starts after the same clean-up: removing ≈ 200 MB just before a restore
        # slows it down (ext4 with discard), so both sides get it, then a sync and a pause
        lab.ssh("vps", "rm -rf /srv/bench /srv/.bare-* /srv/.bench.chaton-prev-* /srv/.chaton-restore-*", timeout=300)
        lab.ssh("primary", "rm -rf /srv/.bare-* /srv/.bench.chaton-prev-* /srv/.chaton-restore-*; sync", timeout=300)
        time.sleep(1)

    times: dict[str, list[float]] = {k: [] for k in ("empty_chaton", "empty_bare", "empty_bare_lookup", "swap_chaton",
                                                     "swap_bare")}
    drill_speeds: list[float] = []
    for _ in range(RUNS):
        for name, argv in (("empty_chaton", chaton("restore", "bench", "--to", "vps")),
                           ("empty_bare", bare("vps", str(NEW_RESTIC), (0, 18, 0))),
                           ("empty_bare_lookup", bare("vps", str(NEW_RESTIC), (0, 18, 0), lookup=True)),
                           ("swap_chaton", chaton("restore", "bench", "--yes")),
                           ("swap_bare", bare("primary", "restic", (0, 14, 0)))):
            settle()
            times[name].append(timed(argv, env)[0])
        settle()
        took, out = timed([str(CHATON), "-i", str(inventory), "--json", "drill", "bench"], env)
        drill_speeds.append(json.loads(out)["drills"][0]["mb_per_s"])
    settle()
    size_mb = FILES * FILE_BYTES / 1e6
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio_empty = medians["empty_chaton"] / medians["empty_bare"]
    ratio_swap = medians["swap_chaton"] / medians["swap_bare"]
    figures: dict[str, Any] = {f"{name}_s": spread(values) for name, values in times.items()}
    figures.update({
        "ratio_empty_target": round(ratio_empty, 3),
        "ratio_staging_swap": round(ratio_swap, 3),
        "ratio_empty_target_vs_lookup_and_restore": round(medians["empty_chaton"] / medians["empty_bare_lookup"], 3),
        "ratio_empty_target_by_run": [round(c / b, 3) for c, b in zip(times["empty_chaton"], times["empty_bare"], strict=True)],
        "ratio_staging_swap_by_run": [round(c / b, 3) for c, b in zip(times["swap_chaton"], times["swap_bare"], strict=True)],
        "drill_mb_per_s": spread(drill_speeds),
        "bare_mb_per_s_vps": spread([size_mb / t for t in times["empty_bare"]]),
        "bare_mb_per_s_primary": spread([size_mb / t for t in times["swap_bare"]]),
        "data_mb": round(size_mb),
        "files": FILES,
        "runs": RUNS,
        "load_average_at_end": os.getloadavg()[0],
        "target_empty": TARGET_EMPTY,
        "target_swap": TARGET_SWAP,
        "ok": ratio_empty <= TARGET_EMPTY and ratio_swap <= TARGET_SWAP,
    })
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<28} {value}")
