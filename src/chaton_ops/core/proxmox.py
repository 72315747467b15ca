"""Proxmox VE as pure data: guests, snapshots, archives and tasks parsed from the API's answers, and the
API calls chaton makes, built by small pure functions (a change is an `ApiCall`: what `--dry-run` prints,
what the journal records and what the adapter sends).

Every path segment that comes from outside (a node or storage name read from the API, a snapshot name
typed by an admin) is checked against PVE's own formats before it goes into a path: a value that does
not fit is refused, never quoted into something else.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from chaton_ops.core.inventory import Proxmox as ProxmoxSettings
from chaton_ops.core.inventory import PruneBackups, Vzdump
from chaton_ops.errors import ChatonError, UsageError

GuestKind = Literal["qemu", "lxc"]
Method = Literal["GET", "POST", "PUT", "DELETE"]

# PVE's formats: pve-node (a DNS label), pve-storage-id, pve-configid (snapshot names), UPIDs.
NODE_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
STORAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$")
SNAPSHOT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,39}$")
UPID_RE = re.compile(r"^UPID:[A-Za-z0-9-]+:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,}:[0-9A-Fa-f]{8}:[A-Za-z0-9_-]+:[^/\s]*:[^/\s]+:[^/\s]*$")
# vzdump archive names: vzdump-qemu-103-2026_11_20-02_00_00.vma.zst; PBS: backup/vm/103/2026-11-20T02:00:00Z
ARCHIVE_RE = re.compile(r"vzdump-(?P<kind>qemu|lxc|openvz)-(?P<vmid>\d+)-(?P<time>\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)")
PBS_ARCHIVE_RE = re.compile(r"(?P<kind>vm|ct)/(?P<vmid>\d+)/(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


class ProxmoxDataError(ChatonError):
    """A value read from the API that cannot go into an API path (never sent, never guessed at)."""


def _segment(value: object, pattern: re.Pattern[str], what: str) -> str:
    text = str(value)
    if not pattern.match(text):
        raise ProxmoxDataError(f"the API gave {what} {text!r}, which is not a valid Proxmox {what}")
    return text


def check_snapshot_name(name: str) -> str:
    """A snapshot name as PVE accepts it (a letter, then letters, digits, '-' or '_'; 2 to 40 characters)."""
    if not SNAPSHOT_NAME_RE.match(name):
        raise UsageError(f"snapshot name {name!r}: use 2 to 40 letters, digits, '-' or '_', starting with a letter")
    return name


@dataclass(frozen=True)
class GuestRef:
    """Where a guest lives: cluster (the inventory's name), node, kind and vmid."""

    cluster: str
    node: str
    kind: GuestKind
    vmid: int

    @property
    def path(self) -> str:
        node = _segment(self.node, NODE_RE, "node name")
        return f"/nodes/{node}/{self.kind}/{int(self.vmid)}"


@dataclass(frozen=True)
class ApiCall:
    """One request that changes something: method, path under /api2/json, parameters (never a secret)."""

    method: Method
    path: str
    params: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """METHOD /path key=value …, a value with spaces quoted as a shell would."""
        shown = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.params)
        return f"{self.method} {self.path}" + (f" {shown}" if shown else "")

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "params": dict(self.params)}


def _call(method: Method, path: str, params: Mapping[str, object] | None = None) -> ApiCall:
    items = tuple((key, _param_text(value)) for key, value in (params or {}).items() if value is not None)
    return ApiCall(method, path, items)


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# ------------------------------------------------------------------------------------ call builders
def set_onboot_call(ref: GuestRef, digest: str | None = None) -> ApiCall:
    """Start the guest with its node. The config digest read just before makes PVE refuse the change
    if someone else changed the config meanwhile."""
    return _call("PUT", f"{ref.path}/config", {"onboot": True, "digest": digest})


def snapshot_call(ref: GuestRef, name: str, *, vmstate: bool = False, description: str | None = None) -> ApiCall:
    params: dict[str, object] = {"snapname": check_snapshot_name(name), "description": description}
    if vmstate and ref.kind == "qemu":
        params["vmstate"] = True
    return _call("POST", f"{ref.path}/snapshot", params)


def delete_snapshot_call(ref: GuestRef, name: str) -> ApiCall:
    return _call("DELETE", f"{ref.path}/snapshot/{check_snapshot_name(name)}")


def rollback_call(ref: GuestRef, name: str) -> ApiCall:
    return _call("POST", f"{ref.path}/snapshot/{check_snapshot_name(name)}/rollback")


def start_call(ref: GuestRef) -> ApiCall:
    return _call("POST", f"{ref.path}/status/start")


def prune_backups_value(prune: PruneBackups) -> str:
    """PVE's property string: keep-last=3,keep-weekly=6 (keys in PVE's order)."""
    parts = [f"{key.replace('_', '-')}={value}" for key, value in prune.model_dump().items() if value is not None]
    return ",".join(parts)


def vzdump_call(ref: GuestRef, settings: Vzdump, *, storage: str | None = None, mode: str | None = None) -> ApiCall:
    """One guest's backup: POST /nodes/{node}/vzdump, the inventory's settings with the command line's on top."""
    node = _segment(ref.node, NODE_RE, "node name")
    params: dict[str, object] = {
        "vmid": int(ref.vmid),
        "storage": _segment(storage or settings.storage, STORAGE_RE, "storage"),
        "mode": mode or settings.mode,
        "compress": "0" if settings.compress == "none" else settings.compress,
    }
    if settings.prune_backups is not None:
        params["prune-backups"] = prune_backups_value(settings.prune_backups)
    return _call("POST", f"/nodes/{node}/vzdump", params)


def task_status_path(node: str, upid: str) -> str:
    return f"/nodes/{_segment(node, NODE_RE, 'node name')}/tasks/{_segment(upid, UPID_RE, 'task id')}/status"


def task_log_path(node: str, upid: str) -> str:
    return f"/nodes/{_segment(node, NODE_RE, 'node name')}/tasks/{_segment(upid, UPID_RE, 'task id')}/log"


def storage_content_path(node: str, storage: str) -> str:
    return f"/nodes/{_segment(node, NODE_RE, 'node name')}/storage/{_segment(storage, STORAGE_RE, 'storage')}/content"


def upid_node(upid: str) -> str:
    """The node a task runs on, from its UPID (UPID:node:pid:pstart:starttime:type:id:user:)."""
    return _segment(_segment(upid, UPID_RE, "task id").split(":")[1], NODE_RE, "node name")


# ------------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class Guest:
    """A guest as /cluster/resources lists it."""

    ref: GuestRef
    name: str
    status: str  # running, stopped, paused, unknown (its node is offline)
    uptime: int | None = None
    memory: int | None = None
    max_memory: int | None = None
    lock: str | None = None
    template: bool = False

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ClusterState:
    """Quorum and nodes, from /cluster/status (a lone node without a cluster is quorate)."""

    quorate: bool
    nodes: tuple[tuple[str, bool], ...] = field(default=())  # (name, online)

    def online(self, node: str) -> bool | None:
        """True/False when the node is known, None when /cluster/status does not list it."""
        for name, online in self.nodes:
            if name == node:
                return online
        return None

    @property
    def offline_nodes(self) -> tuple[str, ...]:
        return tuple(name for name, online in self.nodes if not online)


@dataclass(frozen=True)
class Snapshot:
    name: str
    taken: dt.datetime | None
    description: str = ""
    vmstate: bool = False
    parent: str | None = None


@dataclass(frozen=True)
class Archive:
    """A vzdump archive on a storage."""

    volid: str
    storage: str
    vmid: int | None
    created: dt.datetime | None
    size: int | None
    protected: bool = False

    @property
    def name(self) -> str:
        return self.volid.split(":", 1)[-1].rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TaskStatus:
    upid: str
    running: bool
    exitstatus: str | None

    @property
    def succeeded(self) -> bool:
        """PVE marks a finished task `stopped` whatever happened: only exitstatus OK is a success."""
        return not self.running and self.exitstatus == "OK"


def _items(data: Any) -> list[Mapping[str, Any]]:
    """The objects of a list answer; anything else (a proxy's page, a changed API) gives none."""
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(epoch: Any) -> dt.datetime | None:
    seconds = _int(epoch)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


def parse_guests(cluster: str, data: Any) -> list[Guest]:
    """Guests (QEMU and LXC) of /cluster/resources?type=vm, sorted by vmid."""
    guests = []
    for item in _items(data):
        kind = item.get("type")
        if kind not in ("qemu", "lxc") or _int(item.get("vmid")) is None:
            continue
        node = _segment(item.get("node", ""), NODE_RE, "node name")
        ref = GuestRef(cluster, node, kind, int(item["vmid"]))
        guests.append(Guest(ref, str(item.get("name") or ""), str(item.get("status") or "unknown"),
                            _int(item.get("uptime")), _int(item.get("mem")), _int(item.get("maxmem")),
                            item.get("lock") or None, bool(_int(item.get("template")))))
    return sorted(guests, key=lambda guest: guest.ref.vmid)


def parse_cluster_state(data: Any) -> ClusterState:
    quorate = True
    nodes = []
    for item in _items(data):
        if item.get("type") == "cluster":
            quorate = bool(_int(item.get("quorate")))
        elif item.get("type") == "node":
            nodes.append((str(item.get("name")), bool(_int(item.get("online")))))
    return ClusterState(quorate, tuple(sorted(nodes)))


def parse_onboot(config: Mapping[str, Any]) -> bool:
    """PVE leaves `onboot` out of the config when it is 0 (the default)."""
    return isinstance(config, Mapping) and str(config.get("onboot", "0")).strip().lower() in ("1", "true", "yes", "on")


def parse_snapshots(data: Any) -> list[Snapshot]:
    """The guest's snapshots, oldest first; PVE's `current` pseudo-entry ("You are here!") left out."""
    snapshots = [
        Snapshot(str(item["name"]), _time(item.get("snaptime")), str(item.get("description") or "").strip(),
                 bool(_int(item.get("vmstate"))), item.get("parent") or None)
        for item in _items(data) if item.get("name") and item.get("name") != "current"
    ]
    return sorted(snapshots, key=lambda s: (s.taken or dt.datetime.min.replace(tzinfo=dt.UTC), s.name))


def parse_archives(storage: str, data: Any) -> list[Archive]:
    """The vzdump archives of a storage's content listing (content=backup). The guest and time come from
    PVE's fields, else from the archive's name (vzdump-qemu-103-2026_11_20-02_00_00…, PBS vm/103/…)."""
    archives = []
    for item in _items(data):
        volid = str(item.get("volid") or "")
        if not volid or item.get("content", "backup") != "backup":
            continue
        vmid, created = _int(item.get("vmid")), _time(item.get("ctime"))
        found = ARCHIVE_RE.search(volid)
        pbs = PBS_ARCHIVE_RE.search(volid)
        if found:
            vmid = vmid or int(found["vmid"])
            created = created or dt.datetime.strptime(found["time"], "%Y_%m_%d-%H_%M_%S").replace(tzinfo=dt.UTC)
        elif pbs:
            vmid = vmid or int(pbs["vmid"])
            created = created or dt.datetime.strptime(pbs["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        archives.append(Archive(volid, storage, vmid, created, _int(item.get("size")), bool(_int(item.get("protected")))))
    return sorted(archives, key=lambda a: (a.vmid or 0, a.created or dt.datetime.min.replace(tzinfo=dt.UTC)))


def parse_task_status(upid: str, data: Any) -> TaskStatus:
    data = data if isinstance(data, Mapping) else {}
    running = data.get("status") != "stopped"
    exitstatus = data.get("exitstatus")
    return TaskStatus(upid, running, None if exitstatus is None else str(exitstatus))


def parse_task_log(data: Any) -> list[str]:
    lines = sorted(((int(item.get("n", 0)), str(item.get("t", ""))) for item in _items(data)), key=lambda x: x[0])
    return [text for _, text in lines]


def is_upid(value: Any) -> bool:
    return isinstance(value, str) and UPID_RE.match(value) is not None


DEFAULT_PORT = 8006


def base_url(settings: ProxmoxSettings) -> str:
    """The cluster's API root: https://HOST:PORT/api2/json (PVE's port 8006 when the inventory names none)."""
    parts = urllib.parse.urlsplit(settings.api)
    netloc = parts.netloc if parts.port else f"{parts.netloc}:{DEFAULT_PORT}"
    return f"https://{netloc}/api2/json"
