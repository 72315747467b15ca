"""A vzdump worker for fakepve, as PVE's runs it: fakepve 0.5 answers POST /nodes/{node}/vzdump from the
schema alone (a task that succeeds and writes nothing). This one, installed on a FakePve instance, writes
the archive onto the storage, fails the job the way PVE does (a locked guest, a full storage: the task
ends `job errors`, the reason is in its log) and checks `prune-backups` against PVE's property format.
`pve.vzdump_secs` (PVE seconds) makes each backup take that long; `pve.vzdump_runs` records when each ran.

Used by the fakepve tests and by `make fakepve`. The client side is untouched: chaton talks to it
exactly as to a real node.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fakepve import PveError, TaskError

PRUNE_KEYS = ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
DEFAULT_DISK = 4 * 1024**3


def check_prune_backups(value: str) -> str | None:
    """PVE's `prune-backups` format (PVE::JSONSchema): comma-separated keep-*=N, keep-all alone. None when valid."""
    seen: dict[str, int] = {}
    for part in str(value).split(","):
        key, sep, number = part.partition("=")
        if key not in PRUNE_KEYS:
            return f"property '{key}' is not defined in schema and the schema does not allow additional properties"
        if not sep or not number.isdigit():
            return f"{key}: type check ('integer') failed - got '{number}'"
        seen[key] = int(number)
    if seen.get("keep-all") and len(seen) > 1:
        return "keep-all cannot be set together with other options."
    return None


def install_vzdump(pve: Any) -> list[dict[str, Any]]:
    """Serve vzdump on `pve` with archives and failures; returns the list of accepted requests' parameters."""
    accepted: list[dict[str, Any]] = []
    original = pve.synthesise

    async def synthesise(match: Any, method: str, info: Any, user: Any, values: dict[str, Any]) -> Any:
        if method == "POST" and match.template == "/nodes/{node}/vzdump":
            return await _vzdump(pve, accepted, user, values)
        return await original(match, method, info, user, values)

    pve.synthesise = synthesise
    return accepted


async def _vzdump(pve: Any, accepted: list[dict[str, Any]], user: Any, values: dict[str, Any]) -> str:
    prune = values.get("prune-backups")
    if prune is not None:
        problem = check_prune_backups(prune)
        if problem:
            raise PveError(400, "Parameter verification failed.", {"prune-backups": "invalid format - " + problem})
    storage = values.get("storage") or "local"
    store = pve.storages.get(storage)
    if store is None:
        raise PveError(500, f"storage '{storage}' does not exist")
    if "backup" not in str(store.get("content", "")).split(","):
        raise PveError(500, f"storage '{storage}' does not support backups")
    accepted.append(dict(values))
    node = values["node"]
    vmid = int(str(values.get("vmid")).split(",")[0])
    guest = pve.guest(vmid)
    options = " ".join(f"--{key} {values[key]}" for key in ("storage", "mode", "compress", "prune-backups")
                       if values.get(key) is not None)
    log = [f"INFO: starting new backup job: vzdump {vmid} {options}".rstrip()]
    kind = "lxc" if guest is not None and guest.guest.startswith("lxc") else "qemu"
    failure = None
    if guest is None or guest.node != node:
        failure = f"ERROR: Backup of VM {vmid} failed - guest {vmid} is not on node '{node}'"
    elif guest.lock:
        failure = f"ERROR: Backup of VM {vmid} failed - VM is locked ({guest.lock})"
    else:
        log.append(f"INFO: Starting Backup of VM {vmid} ({kind})")
        size = pve._vm_maxdisk(guest) if kind == "qemu" else DEFAULT_DISK
        size = max(size or DEFAULT_DISK, 1) // 4
        if "avail" in store and size > store["avail"]:
            failure = (f"ERROR: Backup of VM {vmid} failed - vma_queue_write: write error - "
                       "No space left on device")
    if failure:
        log += [failure, "INFO: Backup job finished with errors"]

        async def fail() -> None:
            raise TaskError("job errors")
        return await pve.task(node, "vzdump", vmid, user or "root@pam", fail, log=log)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y_%m_%d-%H_%M_%S")
    volname = f"backup/vzdump-{kind}-{vmid}-{stamp}." + ("vma.zst" if kind == "qemu" else "tar.zst")

    async def body() -> str:
        started = time.monotonic()
        await pve.pause(getattr(pve, "vzdump_secs", 0))  # PVE seconds, scaled by time_scale
        runs = pve.__dict__.setdefault("vzdump_runs", [])
        runs.append({"vmid": vmid, "node": node, "start": started, "end": time.monotonic()})
        store.setdefault("volumes", {})[volname] = {"content": "backup", "format": "vma.zst", "size": size,
                                                    "vmid": vmid, "ctime": int(time.time())}
        if "avail" in store:
            store["avail"] -= size
        return f"INFO: Finished Backup of VM {vmid} (00:00:01)"
    return await pve.task(node, "vzdump", vmid, user or "root@pam", body, log=log)
