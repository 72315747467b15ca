"""Parsers of restic's output, 0.14 (Debian 12) and newer, into small frozen models.

Differences handled here: the backup summary's snapshot id (8 characters in 0.14, full later), error
lines (`{"Op", "Path", "Err"}` in 0.14, `{"message"}` later), `init` as text (0.14) or JSON, the size
summary of `snapshots --json` (≥ 0.17), nanosecond RFC 3339 times.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupSummary:
    snapshot_id: str | None  # short (0.14) or full (≥ 0.15); None when restic made no snapshot
    files_new: int
    files_changed: int
    files_unmodified: int
    data_added: int
    total_files_processed: int
    total_bytes_processed: int
    duration: float


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: dt.datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    size: int | None = None  # total bytes processed, when restic recorded it (≥ 0.17)

    def tag_value(self, prefix: str) -> str | None:
        """`service` → the NAME of a `service:NAME` tag."""
        for tag in self.tags:
            if tag.startswith(prefix + ":"):
                return tag[len(prefix) + 1:]
        return None


@dataclass(frozen=True)
class ForgetGroup:
    host: str | None
    tags: tuple[str, ...]
    keep: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class BackupErrors:
    unreadable: tuple[str, ...] = field(default_factory=tuple)


def _json_lines(text: str) -> list[dict[str, Any]]:
    objects = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


def parse_backup_summary(stdout: str) -> BackupSummary | None:
    """The `message_type: summary` line of `backup --json`; None when there is none."""
    for message in reversed(_json_lines(stdout)):
        if message.get("message_type") == "summary":
            return BackupSummary(
                snapshot_id=message.get("snapshot_id") or None,
                files_new=int(message.get("files_new", 0)),
                files_changed=int(message.get("files_changed", 0)),
                files_unmodified=int(message.get("files_unmodified", 0)),
                data_added=int(message.get("data_added", 0)),
                total_files_processed=int(message.get("total_files_processed", 0)),
                total_bytes_processed=int(message.get("total_bytes_processed", 0)),
                duration=float(message.get("total_duration", 0.0)),
            )
    return None


def parse_backup_errors(stdout: str, stderr: str) -> BackupErrors:
    """Files restic could not read: `message_type: error` lines (stderr in 0.14, either stream later)."""
    items: list[str] = []
    for message in _json_lines(stderr) + _json_lines(stdout):
        if message.get("message_type") == "error":
            item = message.get("item") or _error_path(message.get("error"))
            if item and item not in items:
                items.append(str(item))
    return BackupErrors(tuple(items))


def _error_path(error: Any) -> str | None:
    if isinstance(error, dict):
        path = error.get("Path") or error.get("path")
        return str(path) if path else None
    return None


def parse_time(value: str) -> dt.datetime:
    """restic's RFC 3339 times carry nanoseconds, which datetime does not take."""
    value = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", value)
    if match:
        head, fraction, zone = match.groups()
        value = head + ((fraction or "")[:7]) + zone
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_snapshots(stdout: str) -> list[Snapshot]:
    """`snapshots --json` (a JSON list; `null` or empty output for no snapshot)."""
    text = stdout.strip()
    if not text:
        return []
    data = json.loads(text)
    snapshots = []
    for item in data or []:
        snapshots.append(_snapshot_from(item))
    return sorted(snapshots, key=lambda s: s.time)


def parse_forget(stdout: str) -> list[ForgetGroup]:
    """`forget --json`: one entry per group with the snapshots kept and removed."""
    text = stdout.strip()
    # --prune appends plain-text prune output after the JSON line
    first = text.splitlines()[0] if text else ""
    if not first.startswith("["):
        return []
    groups = []
    for item in json.loads(first) or []:
        groups.append(ForgetGroup(
            host=item.get("host"),
            tags=tuple(item.get("tags") or ()),
            keep=tuple(s.get("id", "") for s in item.get("keep") or ()),
            remove=tuple(s.get("id", "") for s in item.get("remove") or ()),
        ))
    return groups


def parse_init(stdout: str) -> str | None:
    """The new repository's id: `{"message_type":"initialized","id":…}` (≥ 0.15) or the 0.14 text."""
    for message in _json_lines(stdout):
        if message.get("message_type") == "initialized":
            return str(message.get("id"))
    match = re.search(r"created restic repository (\w+) at", stdout)
    return match.group(1) if match else None


def parse_lock_message(stderr: str) -> str:
    """The lock holder and age from a 'repository is already locked' error, on one line."""
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.startswith("{")
             and ("locked" in line or "lock was created" in line or line.startswith("storage ID"))]
    return " / ".join(lines)


def parse_lock_ids(stdout: str) -> list[str]:
    """`restic list locks`: one id per line."""
    return [line.strip() for line in stdout.splitlines() if re.fullmatch(r"[0-9a-f]{64}", line.strip())]


# ---------------------------------------------------------------------------------------------
# Restore: listing, size, progress and summary
# ---------------------------------------------------------------------------------------------

# Go's os.FileMode keeps the type and the special bits above the permission bits.
_GO_MODE_SETUID = 1 << 23
_GO_MODE_SETGID = 1 << 22
_GO_MODE_STICKY = 1 << 20


@dataclass(frozen=True)
class ListedNode:
    """One entry of a snapshot (or of a restored tree): what a restore must reproduce."""

    path: str  # absolute, as in the snapshot
    type: str  # file, dir, symlink, fifo, socket, dev, chardev
    mode: int  # permission bits with setuid/setgid/sticky, as `stat` shows them (0o4755…)
    size: int  # bytes of a regular file, 0 otherwise
    uid: int
    gid: int
    mtime: int  # seconds since the epoch
    link_target: str = ""


@dataclass(frozen=True)
class SnapshotListing:
    """`restic ls --json SNAPSHOT`: the snapshot and its nodes."""

    snapshot: Snapshot
    nodes: tuple[ListedNode, ...]

    @property
    def total_file_bytes(self) -> int:
        return sum(node.size for node in self.nodes if node.type == "file")

    @property
    def file_count(self) -> int:
        return sum(1 for node in self.nodes if node.type == "file")

    def under(self, path: str) -> tuple[ListedNode, ...]:
        """The node at `path` and everything below it."""
        prefix = path.rstrip("/") + "/"
        return tuple(node for node in self.nodes if node.path == path or node.path.startswith(prefix))


def go_mode_to_unix(mode: int) -> int:
    """Go's FileMode bits → the permission and special bits `stat -c %a` prints."""
    unix = mode & 0o777
    if mode & _GO_MODE_SETUID:
        unix |= 0o4000
    if mode & _GO_MODE_SETGID:
        unix |= 0o2000
    if mode & _GO_MODE_STICKY:
        unix |= 0o1000
    return unix


def _snapshot_from(item: dict[str, Any]) -> Snapshot:
    summary = item.get("summary") or {}
    size = summary.get("total_bytes_processed")
    return Snapshot(
        id=item["id"],
        short_id=item.get("short_id") or item["id"][:8],
        time=parse_time(item["time"]),
        hostname=item.get("hostname", ""),
        paths=tuple(item.get("paths") or ()),
        tags=tuple(item.get("tags") or ()),
        size=int(size) if size is not None else None,
    )


def parse_ls(stdout: str) -> SnapshotListing:
    """`ls --json`: one snapshot line (`struct_type: snapshot`) then one line per node (0.14 and newer)."""
    snapshot: Snapshot | None = None
    nodes: list[ListedNode] = []
    for message in _json_lines(stdout):
        kind = message.get("struct_type") or message.get("message_type")
        if kind == "snapshot" and snapshot is None:
            snapshot = _snapshot_from(message)
        elif kind == "node":
            node_type = str(message.get("type", ""))
            nodes.append(ListedNode(
                path=str(message["path"]),
                type=node_type,
                mode=go_mode_to_unix(int(message.get("mode", 0))),
                size=int(message.get("size") or 0) if node_type == "file" else 0,
                uid=int(message.get("uid", 0)),
                gid=int(message.get("gid", 0)),
                mtime=int(parse_time(message["mtime"]).timestamp()) if message.get("mtime") else 0,
                link_target=str(message.get("linktarget") or ""),
            ))
    if snapshot is None:
        raise ValueError("restic ls printed no snapshot line")
    return SnapshotListing(snapshot, tuple(nodes))


@dataclass(frozen=True)
class RestoreSize:
    total_bytes: int
    total_files: int


def parse_stats(stdout: str) -> RestoreSize:
    """`stats --json --mode restore-size`: {"total_size", "total_file_count"} (files and folders)."""
    data = json.loads(stdout.strip().splitlines()[-1])
    return RestoreSize(int(data.get("total_size", 0)), int(data.get("total_file_count", 0)))


@dataclass(frozen=True)
class RestoreProgress:
    """One status line of `restore --json` (restic ≥ 0.16)."""

    fraction: float
    files_restored: int
    total_files: int
    bytes_restored: int
    total_bytes: int


def parse_restore_status(line: str) -> RestoreProgress | None:
    """A `message_type: status` line of `restore --json`, else None (0.14 prints text: never status)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("message_type") != "status":
        return None
    return RestoreProgress(
        fraction=float(message.get("percent_done", 0.0)),
        files_restored=int(message.get("files_restored", 0)),
        total_files=int(message.get("total_files", 0)),
        bytes_restored=int(message.get("bytes_restored", 0)),
        total_bytes=int(message.get("total_bytes", 0)),
    )


@dataclass(frozen=True)
class RestoreSummary:
    """What a restore said about itself. restic 0.14 prints text: only the verified file count."""

    files_restored: int | None = None  # files and folders (≥ 0.16)
    bytes_restored: int | None = None
    files_deleted: int | None = None  # with --delete (≥ 0.17)
    files_verified: int | None = None  # with --verify, in text mode


_VERIFIED_RE = re.compile(r"finished verifying (\d+) files in ")


def parse_restore_summary(stdout: str) -> RestoreSummary:
    """The `message_type: summary` line of `restore --json` (≥ 0.16) and/or the text of 0.14."""
    verified = None
    match = _VERIFIED_RE.search(stdout)
    if match:
        verified = int(match.group(1))
    for message in reversed(_json_lines(stdout)):
        if message.get("message_type") == "summary":
            deleted = message.get("files_deleted")
            return RestoreSummary(
                files_restored=int(message.get("files_restored", 0)),
                bytes_restored=int(message.get("bytes_restored", 0)),
                files_deleted=int(deleted) if deleted is not None else None,
                files_verified=verified,
            )
    return RestoreSummary(files_verified=verified)


@dataclass(frozen=True)
class PruneReport:
    """What `restic prune` said it removed and what it left (its own counts, in bytes)."""

    removed_bytes: int | None  # "total prune": blobs deleted, and the parts of repacked packs dropped
    remaining_bytes: int | None
    unused_after_bytes: int | None  # unused data left (within --max-unused)
    repacked_bytes: int | None


_SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50}
_PRUNE_LINE = re.compile(r"^(?P<what>total prune|remaining|to repack|unused size after prune):\s+"
                         r"(?:\d+ blobs / )?(?P<size>[\d.]+) (?P<unit>B|KiB|MiB|GiB|TiB|PiB)\b", re.MULTILINE)


def parse_prune(stdout: str) -> PruneReport:
    """`restic prune`'s summary lines (the same text from 0.14 to 0.18: prune has no JSON output)."""
    sizes: dict[str, int] = {}
    for found in _PRUNE_LINE.finditer(stdout):
        sizes.setdefault(found["what"], round(float(found["size"]) * _SIZE_UNITS[found["unit"]]))
    return PruneReport(sizes.get("total prune"), sizes.get("remaining"), sizes.get("unused size after prune"),
                       sizes.get("to repack"))
