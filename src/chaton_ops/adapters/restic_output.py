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
        summary = item.get("summary") or {}
        size = summary.get("total_bytes_processed")
        snapshots.append(Snapshot(
            id=item["id"],
            short_id=item.get("short_id") or item["id"][:8],
            time=parse_time(item["time"]),
            hostname=item.get("hostname", ""),
            paths=tuple(item.get("paths") or ()),
            tags=tuple(item.get("tags") or ()),
            size=int(size) if size is not None else None,
        ))
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
