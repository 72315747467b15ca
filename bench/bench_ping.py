"""`chaton ping` over 10 lab hosts against 1 host: parallel work costs about the slowest host.

Brings the lab up with `--extra 6` (primary, vps, backup, dns, node1..node6), then times, in process,
what `chaton ping` does: load the inventory, open a fresh connection per host (TCP, SSH handshake,
host key check, public-key auth), run `true`, close. Interpreter start and the fabric import are paid
once before timing (they are the same for 1 or 10 hosts). Repetitions are interleaved (1 host, 10
hosts, 10 hosts with the default 4 jobs) so a busy machine weighs on all alike. Target: median of 10
hosts with `--jobs 10` ≤ 2 × 1 host, held against the median of the ratios paired per iteration
(reported as min / median / max, as are the times). The lab is torn down at the end.

Needs root and the lab's packages. It brings up lab N (`CHATON_LAB_ID=N`, default 0) itself and holds
that lab's lock (tests/lab/lab.py LOCK_FILE: /run/lock/chaton-lab[-N].lock) from up to down, so no
test session or other benchmark can take the lab apart meanwhile. Standalone:
`CHATON_LAB_ID=N .venv/bin/python bench/bench_ping.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lab_session import LabUnavailable, lab_session  # noqa: E402 - bench/ is not a package
from stats import ratio_spread, spread  # noqa: E402 - bench/ is not a package

EXTRA_HOSTS = 6
RUNS = 9
TARGET_RATIO = 2.0
DEFAULT_JOBS = 4


def ping_once(inventory_path: Path, names: list[str], jobs: int) -> float:
    """Wall time (ms) of one ping run with fresh connections; raises if any host did not answer."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.core.loader import load_inventory
    from chaton_ops.ops.ping import ping_hosts

    started = time.perf_counter()
    loaded = load_inventory(inventory_path)
    with HostPool(loaded) as pool:
        results = ping_hosts(loaded.inventory, names, pool.transport, jobs=jobs)
    elapsed = (time.perf_counter() - started) * 1000
    failed = [f"{r.host}: {r.result}" for r in results if not r.ok]
    if failed:
        raise RuntimeError("ping failed: " + "; ".join(failed))
    return elapsed


def run() -> dict[str, object]:
    try:
        with lab_session("bench_ping", extra=EXTRA_HOSTS) as lab:
            return _measure(lab)
    except LabUnavailable as why:
        return {"skipped": str(why)}


def _measure(lab: Any) -> dict[str, object]:
    hosts = list(lab.hosts)
    one = [hosts[0]]
    ping_once(lab.inventory, hosts, len(hosts))  # warm up: imports, page cache, sshd's first fork
    times: dict[str, list[float]] = {"one_host": [], "ten_hosts": [], "ten_hosts_default_jobs": []}
    for _ in range(RUNS):
        times["one_host"].append(ping_once(lab.inventory, one, 1))
        times["ten_hosts"].append(ping_once(lab.inventory, hosts, len(hosts)))
        times["ten_hosts_default_jobs"].append(ping_once(lab.inventory, hosts, DEFAULT_JOBS))
    ratio = ratio_spread(times["ten_hosts"], times["one_host"])
    return {
        "hosts": len(hosts),
        "runs": RUNS,
        **{f"{name}_ms": spread(values) for name, values in times.items()},
        "ratio_ten_to_one": ratio,
        "ratio_ten_default_jobs_to_one": ratio_spread(times["ten_hosts_default_jobs"], times["one_host"]),
        "target_ratio": TARGET_RATIO,
        "ok": ratio["median"] <= TARGET_RATIO,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<32} {value}")
