"""A generated inventory of 1,000 services on 200 hosts: load and validate in ≤ 500 ms.

Measured in-process (`load_inventory`: YAML, both validation passes; the models are built once before
timing, as in a command that loads its inventory once) and end to end through `chaton inventory check`.
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
TARGET_MS = 500.0
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


def run() -> dict[str, object]:
    from chaton_ops.core.loader import load_inventory

    with tempfile.TemporaryDirectory(prefix="chaton-bench-") as directory:
        path = generate_inventory(Path(directory) / "inventory.yml")
        loaded = load_inventory(path)  # builds the models once, and proves the inventory is valid
        assert len(loaded.inventory.services) == SERVICES and len(loaded.inventory.hosts) == HOSTS + 1
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
        size_kb = path.stat().st_size / 1024
    figures: dict[str, object] = {
        "services": SERVICES,
        "hosts": HOSTS,
        "file_kb": round(size_kb),
        "runs": RUNS,
        "target_ms": TARGET_MS,
        "load_validate_median_ms": statistics.median(in_process),
        "load_validate_min_ms": min(in_process),
    }
    if end_to_end:
        figures["chaton_check_median_ms"] = statistics.median(end_to_end)
    figures["ok"] = statistics.median(in_process) <= TARGET_MS and (
        not end_to_end or statistics.median(end_to_end) <= TARGET_MS)
    return figures


if __name__ == "__main__":
    print(run())
