"""A fake Proxmox VE cluster for the tests and `make fakepve`: fakepve with an API token, the vzdump worker
of tests/pve/vzdump.py, and inventories that point chaton at it (CA file, token in a 0600 file)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from tests.pve.vzdump import install_vzdump

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "example.yml"
TOKEN_ID = "chaton@pve!ops"
GIB = 1024**3


def add_token(pve: Any, token_id: str = TOKEN_ID) -> str:
    """A fresh API token on the fake; returns its secret."""
    secret = secrets.token_hex(16)
    pve.apitokens[token_id] = secret
    return secret


def write_token(directory: Path, secret: str) -> Path:
    path = directory / "pve-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return path


def proxmox_entry(url: str, cafile: str | Path, **extra: Any) -> dict[str, Any]:
    return {"api": url, "token_id": TOKEN_ID, "token": "pve-token", "ca_file": str(cafile), **extra}


def write_inventory(path: Path, clusters: dict[str, dict[str, Any]], hosts: dict[str, dict[str, Any]],
                    token_file: Path) -> Path:
    """A small inventory: the clusters, the hosts, the token secret as a file."""
    data = {"version": 1,
            "collective": {"name": "Fake PVE", "domain": "fake.example", "contact": "admins@fake.example"},
            "secrets": {"pve-token": {"file": str(token_file)}},
            "proxmox": clusters, "hosts": hosts}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the example collective
def seed_example(pve: Any) -> None:
    """The guests of inventory/example.yml on nodes hutte1 and hutte2, with some drift to show: cloud would
    not start with its node, web was migrated to hutte2, an old test VM and a template nobody describes,
    a week-old chaton snapshot of web, and archives of various ages on storage `backup`."""
    pve.nodes.clear()
    pve.add_node("hutte1")
    pve.add_node("hutte2")
    disk = "local-lvm:vm-{0}-disk-0,size=32G"
    pve.add_vm(101, "mail", node="hutte1", status="running", config={"onboot": 1, "memory": 4096,
                                                                     "scsi0": disk.format(101)})
    pve.add_vm(102, "cloud", node="hutte1", status="running", config={"memory": 8192, "scsi0": disk.format(102)})
    web = pve.add_vm(103, "web", node="hutte2", status="running", config={"onboot": 1, "memory": 2048,
                                                                          "scsi0": disk.format(103)})
    pve.add_vm(110, "cigales", node="hutte1", status="running", config={"onboot": 1, "memory": 4096,
                                                                        "scsi0": disk.format(110)})
    pve.add_vm(120, "old-test", node="hutte2", status="stopped", config={"memory": 1024})
    pve.add_vm(9000, "debian-12-tpl", node="hutte1", template=True, config={"template": 1})
    for vm, started in ((101, 19), (102, 19), (103, 2), (110, 40)):
        pve.vm(vm).started_at = time.time() - started * 86400 - 3 * 3600
    week_ago = int(time.time()) - 7 * 86400
    web.snapshots["before-upgrade"] = {"name": "web", "snaptime": week_ago - 86400, "description": "manual"}
    web.snapshots["chaton-" + _stamp(week_ago, "%Y-%m-%d-%H%M")] = {
        "name": "web", "snaptime": week_ago, "description": "taken by chaton", "parent": "before-upgrade"}
    pve.storages["backup"] = {"type": "dir", "path": "/mnt/pve/backup", "content": "backup", "shared": 1,
                              "active": 1, "files": set(), "avail": 400 * GIB, "volumes": {}}
    now = int(time.time())
    for vmid, hours in ((101, 20), (101, 92), (102, 150), (103, 20), (110, 44)):
        seed_archive(pve, "backup", vmid, now - hours * 3600, 3 * GIB)


def seed_archive(pve: Any, storage: str, vmid: int, when: int, size: int, kind: str = "qemu") -> str:
    """A vzdump archive on a storage, as vzdump names it."""
    volname = f"backup/vzdump-{kind}-{vmid}-{_stamp(when, '%Y_%m_%d-%H_%M_%S')}." + \
        ("vma.zst" if kind == "qemu" else "tar.zst")
    pve.storages[storage].setdefault("volumes", {})[volname] = {
        "content": "backup", "format": "vma.zst", "size": size, "vmid": vmid, "ctime": when}
    return f"{storage}:{volname}"


def _stamp(epoch: int, pattern: str) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(pattern)


def example_inventory(path: Path, url: str, cafile: str | Path, token_file: Path) -> Path:
    """inventory/example.yml with its cluster pointed at the fake (CA file, token file)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    hutte = data["proxmox"]["hutte"]
    hutte.update(api=url, ca_file=str(cafile), verify_tls=True)
    data["secrets"]["pve-token"] = {"file": str(token_file)}
    path.write_text("# Written by `make fakepve` (tests/pve/serve.py): inventory/example.yml pointed at the fake.\n"
                    + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def prepare_example(pve: Any, directory: Path, cafile: str | Path) -> Path:
    """Seed the example collective on a started fake, and write its inventory and token into `directory`."""
    seed_example(pve)
    install_vzdump(pve)
    token_file = write_token(directory, add_token(pve))
    return example_inventory(directory / "inventory.yml", pve.url, cafile, token_file)
