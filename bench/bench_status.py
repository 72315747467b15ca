"""`chaton status` on 20 lab hosts against 1 host: hosts and probes run side by side.

Brings the lab up with `--extra 16` (primary, vps, backup, dns, node1..node16) and times two things,
interleaved (1 host, 20 hosts, …) so that a busy machine weighs on both alike:

- the command as an admin or cron runs it: `chaton -q status` in a fresh process (interpreter, imports,
  inventory, journal, every check, state file), for an inventory of one host and of all 20;
- the checks alone, in process: `gather_status` with fresh SSH connections (imports paid before);
- the bare tool: OpenSSH's `ssh HOST sh -c FACTS_SCRIPT`, one process per host, all started together.

Both inventories hold the lab's `www` (HTTP probe and DNS record on the zone's server) and a journal
with a recent backup and drill, so that no repository is asked (one restic per service, whatever the
number of hosts). Every figure is min / median / max; every ratio the spread of the ratios of the pairs
timed in the same iteration (bench/stats.py), never a ratio of medians. Target: the median paired ratio
of 20 hosts to 1 host ≤ 2, for the command. The lab is torn down at the end.

Needs root and the lab's packages; uses lab CHATON_LAB_ID (default 0) and holds its lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from lab_session import LabUnavailable, lab_session  # noqa: E402 - bench/ is not a package
from stats import format_figure, ratio_spread, spread  # noqa: E402 - bench/ is not a package

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXTRA_HOSTS = 16
RUNS = 9
TARGET_RATIO = 2.0
CHATON = Path(sys.executable).with_name("chaton")


def write_inventory(lab: object, folder: Path, hosts: list[str]) -> Path:
    import yaml

    data = json.loads(json.dumps(lab.inventory_data(), default=str))  # type: ignore[attr-defined]
    data["hosts"] = {name: spec for name, spec in data["hosts"].items() if name in hosts}
    if "vps" not in hosts:
        data["services"]["www"].pop("fallback", None)
    path = folder / f"inventory-{len(hosts)}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_journal(path: Path) -> None:
    from chaton_ops.adapters.journal import Journal

    with Journal(path) as journal:
        for action, detail in (("backup", {"service": "www", "repository": "main", "total_bytes": 1000}),
                               ("drill", {"service": "www", "verified": True, "bytes": 1000})):
            run = journal.start_run(action, ["www"])
            journal.record_step(run, "www@main", action, "ok", detail)
            journal.finish_run(run, "ok", 0)


def command_once(inventory: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(CHATON), "-i", str(inventory), "-q", "status"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode not in (0, 1):  # 1: the lab's TTL of 300 s is a readiness warning
        raise RuntimeError(f"chaton status exited {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def gather_once(inventory: Path, journal: Path) -> float:
    from chaton_ops.adapters.dns import Rfc2136Dns
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.probes import NetworkProbes
    from chaton_ops.core.loader import load_inventory
    from chaton_ops.ops.compose import open_journal_for_reading
    from chaton_ops.ops.status import gather_status
    from chaton_ops.ops.status_sources import read_journal

    started = time.perf_counter()
    loaded = load_inventory(inventory)
    with open_journal_for_reading(journal) as reader:
        view, _moves = read_journal(reader, len(loaded.inventory.services))
    with HostPool(loaded) as pool:
        report = gather_status(loaded, transports=pool.transport, probes=NetworkProbes(), journal=view,
                               dns=Rfc2136Dns(loaded.inventory.dns, {}))
    elapsed = (time.perf_counter() - started) * 1000
    if report.unreachable_hosts:
        raise RuntimeError(f"unreachable: {report.unreachable_hosts}")
    return elapsed


def bare_once(lab: object, hosts: list[str]) -> float:
    """The facts script through OpenSSH, one `ssh` per host, all at once (what a shell loop would do)."""
    import shlex

    from chaton_ops.core.host_facts import facts_argv

    command = shlex.join(facts_argv("www.lab.test"))
    started = time.perf_counter()
    processes = [subprocess.Popen(lab.ssh_argv(host, command), stdin=subprocess.DEVNULL,  # type: ignore[attr-defined]
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for host in hosts]
    if any(process.wait(timeout=120) != 0 for process in processes):
        raise RuntimeError("ssh failed")
    return (time.perf_counter() - started) * 1000


def run() -> dict[str, object]:
    try:
        with lab_session("bench_status", extra=EXTRA_HOSTS) as lab:
            return _measure(lab)
    except LabUnavailable as why:
        return {"skipped": str(why)}


def _measure(lab: Any) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="bench-status-"))
    journal = folder / "journal.sqlite3"
    env = {**os.environ, "CHATON_JOURNAL": str(journal), "CHATON_STATE_DIR": str(folder / "state")}
    os.environ["CHATON_JOURNAL"] = str(journal)
    hosts = list(lab.hosts)
    one = write_inventory(lab, folder, ["primary"])
    every = write_inventory(lab, folder, hosts)
    write_journal(journal)
    command_once(every, env)  # warm up: page cache, sshd's first fork, .pyc files
    gather_once(every, journal)
    times: dict[str, list[float]] = {"command_1": [], "command_20": [], "gather_1": [], "gather_20": [],
                                     "bare_ssh_1": [], "bare_ssh_20": []}
    for _ in range(RUNS):
        times["command_1"].append(command_once(one, env))
        times["command_20"].append(command_once(every, env))
        times["gather_1"].append(gather_once(one, journal))
        times["gather_20"].append(gather_once(every, journal))
        times["bare_ssh_1"].append(bare_once(lab, ["primary"]))
        times["bare_ssh_20"].append(bare_once(lab, hosts))
    figures: dict[str, object] = {"hosts": len(hosts), "runs": RUNS}
    figures.update({f"{name}_ms": spread(values) for name, values in times.items()})
    command_ratio = ratio_spread(times["command_20"], times["command_1"])
    figures.update(ratio_command_20_to_1=command_ratio,
                   ratio_gather_20_to_1=ratio_spread(times["gather_20"], times["gather_1"]),
                   ratio_bare_ssh_20_to_1=ratio_spread(times["bare_ssh_20"], times["bare_ssh_1"]),
                   ratio_gather_20_to_bare_ssh_20=ratio_spread(times["gather_20"], times["bare_ssh_20"]),
                   target_ratio=TARGET_RATIO, load_average=round(os.getloadavg()[0], 2),
                   ok=command_ratio["median"] <= TARGET_RATIO)
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<32} {format_figure(value)}")
