"""Inventory load and validation at two sizes: 1,000 services on 200 hosts (≤ 500 ms) and 10,000 services
on 2,000 hosts (≤ 1,500 ms end to end, DESIGN "Performance targets").

Measured in-process (`load_inventory`: YAML, both validation passes; the models are built once before
timing, as in a command that loads its inventory once) and end to end through `chaton inventory check`
(the whole process: interpreter start, imports, load, validation, exit). Each figure: min, median and
max over RUNS runs; `ok` holds the medians to the targets. Timings are wall clock: noisy on a shared
machine — read the min too.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = Path(sys.executable)
CHATON = PYTHON.parent / "chaton"
SERVICES = 1000
HOSTS = 200
RUNS = 7
# (label, services, hosts, target in ms for the in-process load and for `chaton inventory check`)
CASES = (("1k", 1000, 200, 500.0), ("10k", 10_000, 2000, 1500.0))
PRIORITIES = ("critical", "high", "normal", "low")


def generate_inventory(path: Path, services: int = SERVICES, hosts: int = HOSTS) -> Path:
    """Write a valid inventory with `services` services spread over `hosts` VMs, tenants and a fallback."""
    lines = [
        "version: 1",
        "collective: {name: Bench, domain: bench.example, contact: admins@bench.example}",
        "secrets:",
        "  restic-main: {file: /etc/chaton/restic-main.pass}",
        "  restic-offsite: {env: RESTIC_OFFSITE}",
        "  pve-token: {env: CHATON_PVE_TOKEN}",
        "  tsig: {command: pass show chaton/tsig}",
        "repositories:",
        "  main: {url: 'sftp:backup@backup.bench.example:/srv/restic/main', password: restic-main}",
        "  offsite: {url: 'sftp:u1@offsite.example.org:/restic/bench', password: restic-offsite}",
        "proxmox:",
        "  hutte: {api: 'https://pve.bench.example:8006', token_id: 'chaton@pve!ops', token: pve-token}",
        "dns:",
        "  bench.example: {server: 192.0.2.53, key_name: chaton, key: tsig}",
        "hosts:",
        "  vps: {address: 198.51.100.7, kind: fallback, capacity: {disk_gb: 2000, memory_gb: 64}}",
    ]
    for index in range(hosts):
        lines.append(f"  host-{index}: {{address: 10.{index // 250}.{index % 250}.10, "
                     f"vm: {{proxmox: hutte, node: pve1, vmid: {100 + index}}}}}")
    lines.append("tenants:")
    for index in range(services // 10):
        lines.append(f"  tenant-{index}: {{contact: contact@tenant-{index}.example, last_contact: 2026-01-15, "
                     f"repository: main}}")
    lines.append("services:")
    for index in range(services):
        lines += [
            f"  svc-{index}:",
            f"    tenant: tenant-{index // 10}",
            f"    host: host-{index % hosts}",
            f"    priority: {PRIORITIES[index % 4]}",
            f"    data: [/srv/svc-{index}/data, /srv/svc-{index}/config]",
            "    exclude: ['*.tmp', '*/cache/*']",
            f"    databases: [{{engine: postgres, name: svc_{index}}}]",
            "    repositories: [main, offsite]",
            f"    dns: [{{zone: bench.example, name: svc-{index}, type: A}}]",
            f"    check: {{http: {{url: 'https://svc-{index}.bench.example/', status: 200}}}}",
            "    fallback: vps",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def spread(label: str, samples: list[float]) -> dict[str, float]:
    return {f"{label}_min_ms": min(samples), f"{label}_median_ms": statistics.median(samples),
            f"{label}_max_ms": max(samples)}


def measure(directory: Path, label: str, services: int, hosts: int) -> tuple[list[float], list[float], int]:
    from chaton_ops.core.loader import load_inventory

    path = generate_inventory(directory / f"inventory-{label}.yml", services, hosts)
    loaded = load_inventory(path)  # builds the models once, and proves the inventory is valid
    assert len(loaded.inventory.services) == services and len(loaded.inventory.hosts) == hosts + 1
    in_process = []
    for _ in range(RUNS):
        start = time.perf_counter()
        load_inventory(path)
        in_process.append((time.perf_counter() - start) * 1000)
    end_to_end = []
    if CHATON.exists():
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([str(CHATON), "inventory", "check", str(path)], check=True,
                           stdout=subprocess.DEVNULL, env={"RESTIC_OFFSITE": "x", "PATH": "/usr/bin:/bin"})
            end_to_end.append((time.perf_counter() - start) * 1000)
    return in_process, end_to_end, path.stat().st_size


def run() -> dict[str, object]:
    figures: dict[str, object] = {"runs": RUNS}
    ok = True
    with tempfile.TemporaryDirectory(prefix="chaton-bench-") as directory:
        for label, services, hosts, target in CASES:
            in_process, end_to_end, size = measure(Path(directory), label, services, hosts)
            figures[f"{label}_file_kb"] = round(size / 1024)
            figures[f"{label}_target_ms"] = target
            figures.update(spread(f"{label}_load_validate", in_process))
            ok = ok and statistics.median(in_process) <= target
            if end_to_end:
                figures.update(spread(f"{label}_chaton_check", end_to_end))
                ok = ok and statistics.median(end_to_end) <= target
    figures["ok"] = ok
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<34} {value:.1f}" if isinstance(value, float) else f"{key:<34} {value}")
