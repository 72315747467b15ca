"""`chaton backup` against the bare restic it runs, and 4 hosts against 1, in the lab.

1. Overhead: one service of ≈ 200 MB in 3,000 files on primary, repository on backup over SFTP.
   `chaton backup bench --no-retention` (the installed command: interpreter start, inventory,
   SSH connection, `restic version`, free-space check, path check, journal) against the very same
   `restic backup` argv run with the system ssh client on primary (password from a file there).
   Both first into an empty repository (full backup), then again (incremental: nothing changed).
   A second pair compares the full run (with `forget --prune`) against bare backup + forget --prune.
   Target: chaton / bare ≤ 1.10.
2. Parallel: 4 hosts (node1..node4) × 1 service against 1 host × 1 service, each ≈ 40 MB in 1,000
   files, each run into a fresh repository. Target: 4 hosts ≤ 1.5 × 1 host. The lab's hosts share
   the machine's cores (restic hashes and encrypts: CPU-bound), so the same pair is also measured with
   ≈ 1 MB per host, where the orchestration rather than the CPU is what is measured.

Repetitions are interleaved so a busy machine weighs on both sides alike; medians are reported.
Needs root and the lab; holds the machine-wide lab lock. Standalone:
`flock /tmp/chaton-lab.lock .venv/bin/python bench/bench_backup.py`.
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

CHATON = Path(sys.executable).with_name("chaton")
EXTRA_HOSTS = 4
RUNS = 5
TARGET_OVERHEAD = 1.10
TARGET_PARALLEL = 1.5
BIG_FILES, BIG_FILE_BYTES = 3000, 70_000  # ≈ 200 MB
SMALL_FILES, SMALL_FILE_BYTES = 1000, 40_000  # ≈ 40 MB per node
TINY_FILES, TINY_FILE_BYTES = 100, 10_000  # ≈ 1 MB per node: the orchestration, not the CPU, is measured


def make_data(root: Path, files: int, size: int) -> None:
    for index in range(files):
        folder = root / f"d{index // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.bin").write_bytes(os.urandom(size))


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv[:6])}… exited {done.returncode}: {done.stderr[-500:]}")
    return took


def run() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "the lab needs root"}
    from tests.lab.lab import Lab, LabError, LabLock

    lock = LabLock()
    try:
        lock.acquire(timeout=float(os.environ.get("CHATON_LAB_LOCK_WAIT", "240")), who="bench_backup")
    except LabError as error:
        return {"skipped": str(error)}
    lab = Lab(extra=EXTRA_HOSTS)
    work = Path(tempfile.mkdtemp(prefix="chaton-bench-backup-"))
    try:
        lab.up()
        return _measure(lab, work)
    finally:
        lab.down()
        lock.release()


def _measure(lab: Any, work: Path) -> dict[str, Any]:
    from chaton_ops.adapters.restic import build_backup_argv, build_forget_argv

    env = {**os.environ, "CHATON_JOURNAL": str(work / "journal.sqlite3"), "CHATON_STATE_DIR": str(work / "state")}
    backup_address = lab.address("backup")
    make_data(lab.host_path("primary", "/srv/bench"), BIG_FILES, BIG_FILE_BYTES)
    nodes = [f"node{i}" for i in range(1, EXTRA_HOSTS + 1)]
    for node in nodes:
        make_data(lab.host_path(node, "/srv/bench"), SMALL_FILES, SMALL_FILE_BYTES)
        make_data(lab.host_path(node, "/srv/tiny"), TINY_FILES, TINY_FILE_BYTES)

    def inventory(repository: str, services: dict[str, Any]) -> Path:
        data = json.loads(json.dumps(lab.inventory_data(), default=str))
        data["repositories"] = {"main": {"url": f"sftp:root@{backup_address}:/srv/restic/{repository}",
                                         "password": "restic-lab"}}
        data["services"] = services
        path = work / f"{repository}.yml"
        path.write_text(json.dumps(data))
        return path

    def service(host: str, folder: str = "/srv/bench") -> dict[str, Any]:
        return {"host": host, "tenant": "lab", "data": [folder], "repositories": ["main"]}

    def fresh_repository(host: str = "primary") -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        url = f"sftp:root@{backup_address}:/srv/restic/{name}"
        lab.ssh(host, f"restic -r {url} --password-file {lab.host_restic_password_file} init", check=True)
        return name

    def bare(host: str, argv: list[str]) -> list[str]:
        # the same argv, run over ssh the usual way, the password from a file on the host
        return lab.ssh_argv(host, f"RESTIC_PASSWORD_FILE={lab.host_restic_password_file} {shlex.join(argv)}")

    def restic_backup_argv(repository: str, host: str) -> list[str]:
        url = f"sftp:root@{backup_address}:/srv/restic/{repository}"
        return build_backup_argv("restic", url, paths=["/srv/bench"], host=host,
                                 tags=["chaton", "service:bench", "tenant:lab"])

    def restic_forget_argv(repository: str) -> list[str]:
        url = f"sftp:root@{backup_address}:/srv/restic/{repository}"
        return build_forget_argv("restic", url, tags=["service:bench"],
                                 keep_flags=["--keep-last", "3", "--keep-daily", "7", "--keep-weekly", "5",
                                             "--keep-monthly", "12"], prune=True)

    times: dict[str, list[float]] = {k: [] for k in (
        "full_chaton", "full_bare", "incremental_chaton", "incremental_bare",
        "with_retention_chaton", "with_retention_bare", "one_host", "four_hosts", "one_host_1mb",
        "four_hosts_1mb")}
    for _ in range(RUNS):
        # 1. overhead, full backup into an empty repository, then incremental
        for side in ("chaton", "bare"):
            repository = fresh_repository()
            path = inventory(repository, {"bench": service("primary")})
            chaton = [str(CHATON), "-i", str(path), "-q", "backup", "bench", "--no-retention"]
            command = chaton if side == "chaton" else bare("primary", restic_backup_argv(repository, "primary"))
            times[f"full_{side}"].append(timed(command, env))
            times[f"incremental_{side}"].append(timed(command, env))
            if side == "chaton":
                full = [str(CHATON), "-i", str(path), "-q", "backup", "bench"]
                times["with_retention_chaton"].append(timed(full, env))
            else:
                started = time.perf_counter()
                timed(bare("primary", restic_backup_argv(repository, "primary")), env)
                timed(bare("primary", restic_forget_argv(repository)), env)
                times["with_retention_bare"].append(time.perf_counter() - started)
        # 2. parallel hosts, each run into a fresh repository
        repository = fresh_repository()
        path = inventory(repository, {f"bench-{node}": service(node) for node in nodes})
        times["one_host"].append(timed([str(CHATON), "-i", str(path), "-q", "backup", "bench-node1",
                                        "--no-retention"], env))
        repository = fresh_repository()
        path = inventory(repository, {f"bench-{node}": service(node) for node in nodes})
        times["four_hosts"].append(timed([str(CHATON), "-i", str(path), "-q", "backup", "--all", "--jobs", "4",
                                          "--no-retention"], env))
        for suffix, folder in (("_1mb", "/srv/tiny"),):
            repository = fresh_repository()
            path = inventory(repository, {f"bench-{node}": service(node, folder) for node in nodes})
            times[f"one_host{suffix}"].append(timed([str(CHATON), "-i", str(path), "-q", "backup", "bench-node1",
                                                     "--no-retention"], env))
            repository = fresh_repository()
            path = inventory(repository, {f"bench-{node}": service(node, folder) for node in nodes})
            times[f"four_hosts{suffix}"].append(timed([str(CHATON), "-i", str(path), "-q", "backup", "--all",
                                                       "--jobs", "4", "--no-retention"], env))
    median = {name: statistics.median(values) for name, values in times.items()}
    ratios = {
        "ratio_full": median["full_chaton"] / median["full_bare"],
        "ratio_incremental": median["incremental_chaton"] / median["incremental_bare"],
        "ratio_with_retention": median["with_retention_chaton"] / median["with_retention_bare"],
        "ratio_four_hosts_to_one": median["four_hosts"] / median["one_host"],
        "ratio_four_hosts_to_one_1mb": median["four_hosts_1mb"] / median["one_host_1mb"],
    }
    figures: dict[str, Any] = {f"{name}_ms": round(value * 1000) for name, value in median.items()}
    figures.update({name: round(value, 3) for name, value in ratios.items()})
    figures.update({
        "runs": RUNS,
        "cpus": os.cpu_count(),
        "data_primary_mb": round(BIG_FILES * BIG_FILE_BYTES / 1e6),
        "data_per_node_mb": round(SMALL_FILES * SMALL_FILE_BYTES / 1e6),
        "target_overhead": TARGET_OVERHEAD,
        "target_parallel": TARGET_PARALLEL,
        "ok": max(ratios["ratio_full"], ratios["ratio_incremental"]) <= TARGET_OVERHEAD
        and ratios["ratio_four_hosts_to_one"] <= TARGET_PARALLEL,
    })
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<32} {value}")
