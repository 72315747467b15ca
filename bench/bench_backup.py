"""`chaton backup` against the bare restic commands it runs, in the lab, measured in one run.

1. Overhead, one service: ≈ 200 MB in 3,000 files on primary, repository on backup over SFTP.
   `chaton backup bench --no-retention` (the installed command: interpreter start, inventory, SSH
   connection, free-space and path checks, journal) against the very same `restic backup` argv run
   with the system ssh client on primary (password from a file there): a full backup into an empty
   repository, then again (incremental: nothing changed); then a night's work (5 % of the files
   rewritten first, outside the timing): `chaton backup bench`, the shipped default (backup, then
   `forget` — prune is `chaton prune`'s, weekly), against the bare `restic backup` alone ("nightly":
   what retention costs a night) and against bare backup + forget ("with_retention": the same work).
   Target: chaton / bare ≤ 1.10.
2. Parallel: `chaton backup --all --jobs 4` of 4 services on 4 hosts (node1..node4, ≈ 40 MB in 1,000
   files each) against the same 4 bare `restic backup` commands started together, each side into a
   fresh repository. Target: chaton / bare ≤ 1.10. (On 2 cores four restic processes are CPU-bound,
   about 1.7 × one: comparing 4 hosts with 1 host would measure the CPU, not chaton.)

Every figure is min / median / max over RUNS iterations; every comparison is the spread of the ratios of
pairs timed one right after the other in the same iteration (which side goes first alternates), never
a ratio of medians; a target is held against the median of the paired ratios.

Needs root. It brings up lab N (`CHATON_LAB_ID=N`, default 0) itself and holds that lab's lock
(tests/lab/lab.py LOCK_FILE: /run/lock/chaton-lab[-N].lock) from up to down, so no test session or
other benchmark can take the lab apart meanwhile. Standalone, one part or both:
`CHATON_LAB_ID=N .venv/bin/python bench/bench_backup.py [overhead] [parallel]` (BENCH_RUNS=N runs).
"""

from __future__ import annotations

import json
import os
import shlex
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
from stats import ratio_spread, spread  # noqa: E402 - bench/ is not a package

CHATON = Path(sys.executable).with_name("chaton")
EXTRA_HOSTS = 4
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGET_OVERHEAD = 1.10
TARGET_PARALLEL = 1.10
BIG_FILES, BIG_FILE_BYTES = 3000, 70_000  # ≈ 200 MB
CHANGED_FILES = BIG_FILES // 20  # a night's changes: 5 % of the files
NODE_FILES, NODE_FILE_BYTES = 1000, 40_000  # ≈ 40 MB per node
PARTS = ("overhead", "parallel")


def make_data(root: Path, files: int, size: int) -> None:
    for index in range(files):
        folder = root / f"d{index // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.bin").write_bytes(os.urandom(size))


def check_done(argv: list[str], done: subprocess.CompletedProcess[str] | subprocess.Popen[str], stderr: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv[:6])}… exited {done.returncode}: {stderr[-500:]}")


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - started
    check_done(argv, done, done.stderr)
    return took


def timed_together(commands: list[list[str]], env: dict[str, str]) -> float:
    """Start every command at once; the time until the last one ends."""
    started = time.perf_counter()
    running = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL) for argv in commands]
    outputs = [process.communicate() for process in running]
    took = time.perf_counter() - started
    for argv, process, (_, stderr) in zip(commands, running, outputs, strict=True):
        check_done(argv, process, stderr)
    return took


def run(parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    try:
        with lab_session("bench_backup", extra=EXTRA_HOSTS) as lab:
            return _measure(_Bench(lab, Path(tempfile.mkdtemp(prefix="chaton-bench-backup-"))), parts)
    except LabUnavailable as why:
        return {"skipped": str(why)}


class _Bench:
    """The lab, a work folder, and how each side of a comparison is run."""

    def __init__(self, lab: Any, work: Path) -> None:
        self.lab = lab
        self.work = work
        self.env = {**os.environ, "CHATON_JOURNAL": str(work / "journal.sqlite3"),
                    "CHATON_STATE_DIR": str(work / "state")}
        self.backup_address = lab.address("backup")
        self.nodes = [f"node{i}" for i in range(1, EXTRA_HOSTS + 1)]
        self.changed: list[str] = []

    def url(self, repository: str) -> str:
        return f"sftp:root@{self.backup_address}:/srv/restic/{repository}"

    def inventory(self, repository: str, services: dict[str, Any]) -> Path:
        data = json.loads(json.dumps(self.lab.inventory_data(), default=str))
        data["repositories"] = {"main": {"url": self.url(repository), "password": "restic-lab"}}
        data["services"] = services
        path = self.work / f"{repository}.yml"
        path.write_text(json.dumps(data))
        return path

    def fresh_repository(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.lab.ssh("primary", f"restic -r {self.url(name)} --password-file {self.lab.host_restic_password_file} "
                                "init", check=True)
        return name

    def chaton(self, inventory: Path, *args: str) -> list[str]:
        return [str(CHATON), "-i", str(inventory), "-q", "backup", *args]

    def bare(self, host: str, argv: list[str]) -> list[str]:
        # the same argv chaton runs, over ssh the usual way, the password from a file on the host
        return self.lab.ssh_argv(host, f"RESTIC_PASSWORD_FILE={self.lab.host_restic_password_file} {shlex.join(argv)}")

    def restic_backup(self, repository: str, host: str, service: str) -> list[str]:
        from chaton_ops.core.restic import build_backup_argv

        return build_backup_argv("restic", self.url(repository), paths=["/srv/bench"], host=host,
                                 tags=["chaton", f"service:{service}", "tenant:lab"])

    def restic_forget(self, repository: str, service: str) -> list[str]:
        from chaton_ops.core.restic import build_forget_argv

        return build_forget_argv("restic", self.url(repository), tags=[f"service:{service}"],
                                 keep_flags=["--keep-last", "3", "--keep-daily", "7", "--keep-weekly", "5",
                                             "--keep-monthly", "12"], prune=False)


def service(host: str) -> dict[str, Any]:
    return {"host": host, "tenant": "lab", "data": ["/srv/bench"], "repositories": ["main"]}


def _measure(bench: _Bench, parts: tuple[str, ...]) -> dict[str, Any]:
    times: dict[str, list[float]] = {}
    if "overhead" in parts:
        make_data(bench.lab.host_path("primary", "/srv/bench"), BIG_FILES, BIG_FILE_BYTES)
    if "parallel" in parts:
        for node in bench.nodes:
            make_data(bench.lab.host_path(node, "/srv/bench"), NODE_FILES, NODE_FILE_BYTES)
    for iteration in range(RUNS):
        # which side goes first alternates, so neither always meets a warmer (or busier) machine
        order = ("chaton", "bare") if iteration % 2 == 0 else ("bare", "chaton")
        if "overhead" in parts:
            for side in order:
                _one_service(bench, side, times)
        if "parallel" in parts:
            for side in order:
                _four_hosts(bench, side, times)
    figures: dict[str, Any] = {f"{name}_ms": spread([value * 1000 for value in values])
                               for name, values in times.items()}
    ok = True
    comparisons: list[tuple[str, str, float]] = []
    if "overhead" in parts:
        comparisons += [("full", "overhead", TARGET_OVERHEAD), ("incremental", "overhead", TARGET_OVERHEAD),
                        ("nightly", "overhead", TARGET_OVERHEAD), ("with_retention", "overhead", TARGET_OVERHEAD)]
    if "parallel" in parts:
        comparisons += [("four_hosts", "parallel", TARGET_PARALLEL)]
    for name, _, target in comparisons:
        ratio = ratio_spread(times[f"{name}_chaton"], times[f"{name}_bare"])
        figures[f"ratio_{name}"] = ratio
        ok = ok and ratio["median"] <= target
    figures.update({
        "runs": RUNS,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "ok": ok,
    })
    if "overhead" in parts:
        figures.update(data_primary_mb=round(BIG_FILES * BIG_FILE_BYTES / 1e6), target_overhead=TARGET_OVERHEAD)
    if "parallel" in parts:
        figures.update(data_per_node_mb=round(NODE_FILES * NODE_FILE_BYTES / 1e6), target_parallel=TARGET_PARALLEL)
    return figures


def _one_service(bench: _Bench, side: str, times: dict[str, list[float]]) -> None:
    repository = bench.fresh_repository()
    path = bench.inventory(repository, {"bench": service("primary")})

    def record(name: str, took: float) -> None:
        times.setdefault(f"{name}_{side}", []).append(took)

    if side == "chaton":
        command = bench.chaton(path, "bench", "--no-retention")
        record("full", timed(command, bench.env))
        record("incremental", timed(command, bench.env))
        change_some_files(bench, side)
        took = timed(bench.chaton(path, "bench"), bench.env)
        record("nightly", took)
        record("with_retention", took)
    else:
        command = bench.bare("primary", bench.restic_backup(repository, "primary", "bench"))
        record("full", timed(command, bench.env))
        record("incremental", timed(command, bench.env))
        change_some_files(bench, side)
        started = time.perf_counter()
        timed(command, bench.env)
        record("nightly", time.perf_counter() - started)
        timed(bench.bare("primary", bench.restic_forget(repository, "bench")), bench.env)
        record("with_retention", time.perf_counter() - started)


def change_some_files(bench: _Bench, side: str) -> None:
    """A night's changes: 5 % of the files rewritten (a different 5 % each time, the same amount for both sides)."""
    root = bench.lab.host_path("primary", "/srv/bench")
    files = sorted(root.rglob("*.bin"))
    start = (len(bench.changed) * CHANGED_FILES) % len(files)
    bench.changed.append(side)
    for path in files[start:start + CHANGED_FILES]:
        path.write_bytes(os.urandom(BIG_FILE_BYTES))


def _four_hosts(bench: _Bench, side: str, times: dict[str, list[float]]) -> None:
    repository = bench.fresh_repository()
    if side == "chaton":
        path = bench.inventory(repository, {f"bench-{node}": service(node) for node in bench.nodes})
        took = timed(bench.chaton(path, "--all", "--jobs", str(len(bench.nodes)), "--no-retention"), bench.env)
    else:
        took = timed_together([bench.bare(node, bench.restic_backup(repository, node, f"bench-{node}"))
                               for node in bench.nodes], bench.env)
    times.setdefault(f"four_hosts_{side}", []).append(took)


if __name__ == "__main__":
    from stats import format_figure

    chosen = tuple(arg for arg in sys.argv[1:] if arg in PARTS) or PARTS
    for key, value in run(chosen).items():
        print(f"{key:<32} {format_figure(value)}")
