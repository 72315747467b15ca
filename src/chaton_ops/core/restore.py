"""Restores and drills as pure data: facts gathered on the hosts in, a frozen plan out.

A restore is exact (afterwards each restored path equals the snapshot) and never a mix (an
interrupted restore leaves each path as it was, or fully restored). So, per data path:
- restic writes into a *staging* folder beside the path (same folder, hence same filesystem),
  which starts empty: what it holds at the end is exactly the snapshot;
- the copy is verified there (restic's content check and the snapshot's listing);
- then one rename swaps it into place; the previous content is *kept aside* under a dated name in
  the same folder, never deleted by the restore.
Databases are loaded into a staging database, and only once the load succeeded the live one is
renamed aside and the loaded one takes its name.

`mode`: "in-place" (the service's path on a host: its home, or another one with --to), "target"
(under a folder, for inspection: nothing swapped, stopped or loaded) or "drill" (a scratch folder
and scratch databases, all removed afterwards). No I/O here: ops/restore.py gathers and applies.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chaton_ops.core.database import derived_name, dump_filename
from chaton_ops.core.inventory import Database
from chaton_ops.core.units import format_bytes
from chaton_ops.errors import ChatonError, ExitCode, UsageError

RestoreMode = Literal["in-place", "target", "drill"]
STAGING_PREFIX = ".chaton-restore-"
KEPT_ASIDE_MARK = ".chaton-prev-"
BLOCK = 4096  # what a folder or a small file takes at least on disk, counted per entry


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RestoreRefused(ChatonError):
    """The plan says no (space, a path that cannot be swapped, a missing database engine): nothing written."""

    exit_code = ExitCode.FAILED


class SnapshotInfo(Model):
    """A restic snapshot as chaton uses it."""

    id: str = Field(description="Full snapshot id.")
    short_id: str = Field(description="The 8-character id restic prints.")
    time: dt.datetime = Field(description="When the snapshot was taken (UTC).")
    hostname: str = Field(description="restic's host name of the snapshot (the inventory host that made it).")
    paths: tuple[str, ...] = Field(description="Paths the snapshot holds.")
    tags: tuple[str, ...] = Field(description="Tags: chaton, service:NAME, tenant:NAME, database:ENGINE:NAME.")

    def tag_value(self, prefix: str) -> str | None:
        for tag in self.tags:
            if tag.startswith(prefix + ":"):
                return tag[len(prefix) + 1:]
        return None

    @property
    def service(self) -> str | None:
        return self.tag_value("service")

    @property
    def is_dump(self) -> bool:
        return self.tag_value("database") is not None


class DumpSnapshot(Model):
    """The dump of one database chosen to go with the data snapshot (the closest in time)."""

    database: Database = Field(description="The database, as in the inventory.")
    snapshot: SnapshotInfo = Field(description="The snapshot holding its dump.")
    file: str = Field(description="Path of the dump file in the snapshot.")


class DestinationState(Model):
    """A destination path on the host, as found just before planning."""

    path: str = Field(description="The path that would receive the restored content.")
    exists: bool = Field(description="Something is there now.")
    kind: str | None = Field(default=None, description="What is there (directory, regular file, …).")
    is_mount_point: bool = Field(default=False, description="The path is a mount point (it cannot be renamed).")
    filesystem: str = Field(description="Mount point of the filesystem it is on (of its nearest existing parent).")
    free_bytes: int | None = Field(default=None, description="Free bytes on that filesystem.")


class RestoreFacts(Model):
    """Everything a restore plan depends on, gathered on the hosts (ops/restore.py)."""

    service: str = Field(description="The service restored.")
    host: str = Field(description="Host the data is written on.")
    home: str = Field(description="Host the service runs on now.")
    mode: RestoreMode = Field(description="in-place, target (under a folder) or drill (scratch).")
    repository: str = Field(description="Repository the snapshot comes from.")
    restic_version: str = Field(description="restic version on the host that restores.")
    started: dt.datetime = Field(description="When the run started (UTC): dates the staging and kept-aside names.")
    snapshot: SnapshotInfo | None = Field(default=None, description="The data snapshot (None: the service has no data).")
    bytes_by_path: dict[str, int] = Field(default_factory=dict, description="Bytes of regular files under each snapshot path.")
    entries_by_path: dict[str, int] = Field(default_factory=dict, description="Entries (files, folders, links) under each path.")
    dumps: tuple[DumpSnapshot, ...] = Field(default=(), description="The dump snapshot of each database.")
    missing_dumps: tuple[str, ...] = Field(default=(), description="Databases of the service with no dump snapshot.")
    destinations: tuple[DestinationState, ...] = Field(default=(), description="State of each destination path.")
    root: str | None = Field(default=None, description="Folder restored under (target, drill); None in place.")
    root_state: DestinationState | None = Field(default=None, description="State of that folder.")
    root_is_empty: bool = Field(default=True, description="The folder is absent or empty.")
    existing_databases: tuple[str, ...] = Field(default=(), description="ENGINE:NAME of databases on the host now.")
    missing_engines: tuple[str, ...] = Field(default=(), description="Engines whose client is not on the host.")
    stop: tuple[str, ...] = Field(default=(), description="Playbook `stop` steps (labels).")
    start: tuple[str, ...] = Field(default=(), description="Playbook `start` steps (labels).")
    after_restore: tuple[str, ...] = Field(default=(), description="Playbook `after_restore` steps (labels).")


class PathRestore(Model):
    """One snapshot path: where it goes and how."""

    path: str = Field(description="Path in the snapshot.")
    destination: str = Field(description="Where its restored content ends up.")
    action: Literal["swap", "create", "write"] = Field(
        description="swap: staged then swapped with the content there now; create: staged then renamed into "
        "place (nothing there); write: restored straight under an empty folder (target, drill).")
    staging: str | None = Field(default=None, description="Folder restic restores into before the swap.")
    staged_path: str | None = Field(default=None, description="Where the verified copy waits before the swap.")
    kept_aside: str | None = Field(default=None, description="Where the previous content goes (swap).")
    bytes: int = Field(description="Bytes of regular files.")
    entries: int = Field(description="Files, folders and links.")


class DatabaseRestore(Model):
    """One database: which dump, loaded where."""

    engine: str = Field(description="postgres, mysql or mariadb.")
    name: str = Field(description="Database name.")
    snapshot_id: str = Field(description="Snapshot holding the dump.")
    snapshot_time: dt.datetime = Field(description="When the dump was taken.")
    file: str = Field(description="Path of the dump in its snapshot.")
    action: Literal["load", "file", "scratch"] = Field(
        description="load: into a staging database, then swapped in; file: the dump written under the target "
        "folder; scratch: loaded into a scratch database, queried, dropped (drill).")
    staging_name: str | None = Field(default=None, description="Database the dump is loaded into first.")
    kept_aside: str | None = Field(default=None, description="Name the previous database is kept under.")
    destination_file: str | None = Field(default=None, description="Dump file written (action file).")


class SpaceNeed(Model):
    """Bytes a filesystem must have free before anything is written."""

    filesystem: str = Field(description="Mount point.")
    needed_bytes: int = Field(description="Snapshot bytes written there (plus one block per entry).")
    free_bytes: int | None = Field(description="Free bytes now (None: unknown).")

    @property
    def enough(self) -> bool:
        return self.free_bytes is None or self.free_bytes >= self.needed_bytes


class NoOp(Model):
    """Something the restore leaves alone, and why."""

    what: str = Field(description="What is not done.")
    reason: str = Field(description="Why.")


class RestorePlan(Model):
    """What a restore (or drill) will do, shown by --dry-run and applied step by step."""

    service: str = Field(description="The service.")
    host: str = Field(description="Host written on.")
    home: str = Field(description="Host the service runs on now.")
    mode: RestoreMode = Field(description="in-place, target or drill.")
    repository: str = Field(description="Repository.")
    restic_version: str = Field(description="restic version on the host.")
    stamp: str = Field(description="Date stamp of the staging, kept-aside and scratch names.")
    snapshot: SnapshotInfo | None = Field(description="Data snapshot.")
    snapshot_age_seconds: float | None = Field(description="Age of the data snapshot when planned.")
    total_bytes: int = Field(description="Bytes of regular files restored.")
    total_entries: int = Field(description="Entries restored.")
    paths: tuple[PathRestore, ...] = Field(description="Each snapshot path.")
    databases: tuple[DatabaseRestore, ...] = Field(description="Each database.")
    space: tuple[SpaceNeed, ...] = Field(description="Free space needed per filesystem.")
    root: str | None = Field(description="Folder restored under (target, drill).")
    live: bool = Field(description="Replaces the service's live data on its own host: asks for confirmation.")
    stop: tuple[str, ...] = Field(description="Playbook steps run before (live restores).")
    start: tuple[str, ...] = Field(description="Playbook steps run after (live restores).")
    after_restore: tuple[str, ...] = Field(description="Playbook after_restore steps (restores on the home host).")
    noops: tuple[NoOp, ...] = Field(description="What is left alone, with the reason.")
    refusals: tuple[str, ...] = Field(description="Why the restore cannot run (empty: it can).")

    @property
    def kept_aside(self) -> list[str]:
        places = [p.kept_aside for p in self.paths if p.kept_aside]
        return places + [f"{d.engine} database {d.kept_aside}" for d in self.databases if d.kept_aside]


# ------------------------------------------------------------------------------- choosing snapshots
def to_info(snapshot: object) -> SnapshotInfo:
    """A parsed restic snapshot (core.restic_output.Snapshot, or anything alike) as SnapshotInfo."""
    return SnapshotInfo(id=snapshot.id, short_id=snapshot.short_id, time=snapshot.time,  # type: ignore[attr-defined]
                        hostname=snapshot.hostname, paths=tuple(snapshot.paths),  # type: ignore[attr-defined]
                        tags=tuple(snapshot.tags))  # type: ignore[attr-defined]


def check_snapshot_service(snapshot: SnapshotInfo, service: str) -> None:
    """A snapshot chosen by id must be one of the service's: never restore another service's data."""
    owner = snapshot.service
    if owner != service:
        of = f"service {owner}" if owner else "no chaton service (no service: tag)"
        raise UsageError(f"snapshot {snapshot.short_id} belongs to {of}, not to {service}: refusing to restore it "
                         f"as {service}")


def choose_data_snapshot(snapshots: Sequence[SnapshotInfo], service: str, wanted: str) -> SnapshotInfo | None:
    """The service's data snapshot: `latest` (the newest that is not a database dump) or an id (prefix)."""
    own = [s for s in snapshots if s.service == service and not s.is_dump]
    if wanted == "latest":
        return max(own, key=lambda s: s.time) if own else None
    matches = [s for s in snapshots if s.id.startswith(wanted)]
    if not matches:
        raise UsageError(f"no snapshot {wanted} in the repository")
    if len(matches) > 1:
        raise UsageError(f"snapshot id {wanted} is ambiguous ({len(matches)} snapshots start with it): give more of it")
    check_snapshot_service(matches[0], service)
    return matches[0]


def choose_dumps(snapshots: Sequence[SnapshotInfo], service: str, databases: Sequence[Database],
                 anchor: dt.datetime | None) -> tuple[list[DumpSnapshot], list[str]]:
    """For each database, its dump snapshot closest in time to `anchor` (the data snapshot: the same
    backup run), or the newest when there is no data snapshot. Databases without a dump are listed."""
    chosen: list[DumpSnapshot] = []
    missing: list[str] = []
    for database in databases:
        tag = f"database:{database.engine}:{database.name}"
        candidates = [s for s in snapshots if s.service == service and tag in s.tags]
        if not candidates:
            missing.append(f"{database.engine}:{database.name}")
            continue
        if anchor is None:
            best = max(candidates, key=lambda s: s.time)
        else:
            best = min(candidates, key=lambda s: abs((s.time - anchor).total_seconds()))
        file = best.paths[0] if best.paths else "/" + dump_filename(database)
        chosen.append(DumpSnapshot(database=database, snapshot=best, file=file))
    return chosen, missing


# ------------------------------------------------------------------------------------------- names
def run_stamp(started: dt.datetime) -> str:
    return started.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def staging_folder(path: str, stamp: str) -> str:
    return posixpath.join(posixpath.dirname(path.rstrip("/")) or "/", STAGING_PREFIX + stamp)


def kept_aside_path(path: str, stamp: str) -> str:
    parent, name = posixpath.split(path.rstrip("/"))
    return posixpath.join(parent or "/", f".{name}{KEPT_ASIDE_MARK}{stamp}")


def under(root: str, path: str) -> str:
    return posixpath.join(root, path.lstrip("/"))


# ---------------------------------------------------------------------------------------- planning
def plan_restore(facts: RestoreFacts) -> RestorePlan:
    stamp = run_stamp(facts.started)
    snapshot = facts.snapshot
    noops: list[NoOp] = []
    refusals: list[str] = []
    states = {state.path: state for state in facts.destinations}
    paths: list[PathRestore] = []
    if snapshot is not None:
        for path in snapshot.paths:
            size, entries = facts.bytes_by_path.get(path, 0), facts.entries_by_path.get(path, 0)
            if facts.mode != "in-place":
                assert facts.root is not None
                paths.append(PathRestore(path=path, destination=under(facts.root, path), action="write",
                                         bytes=size, entries=entries))
                continue
            state = states.get(path)
            if state is not None and state.is_mount_point:
                refusals.append(f"{path} on {facts.host} is a mount point: it cannot be swapped; restore with "
                                "--target DIR on that filesystem and move the content by hand")
            staging = staging_folder(path, stamp)
            exists = state is not None and state.exists
            paths.append(PathRestore(path=path, destination=path, action="swap" if exists else "create",
                                     staging=staging, staged_path=under(staging, path),
                                     kept_aside=kept_aside_path(path, stamp) if exists else None,
                                     bytes=size, entries=entries))
    if facts.mode == "target" and not facts.root_is_empty:
        refusals.append(f"{facts.root} on {facts.host} is not empty: --target needs an empty or new folder, "
                        "so that what is under it is exactly the snapshot")
    databases = _plan_databases(facts, stamp, refusals)
    for missing in facts.missing_dumps:
        noops.append(NoOp(what=f"database {missing}", reason="no dump snapshot in the repository"))
    if snapshot is None and not facts.dumps:
        refusals.append(f"service {facts.service} has no snapshot in repository {facts.repository}")
    space = _space_needs(facts, paths)
    for need in space:
        if not need.enough:
            assert need.free_bytes is not None
            refusals.append(f"not enough free space on {facts.host}:{need.filesystem}: the snapshot needs "
                            f"{format_bytes(need.needed_bytes)} ({need.needed_bytes} bytes), "
                            f"{format_bytes(need.free_bytes)} ({need.free_bytes} bytes) are free")
    live = facts.mode == "in-place" and facts.host == facts.home and (
        any(p.action == "swap" for p in paths) or any(d.kept_aside for d in databases))
    stop, start, after = _playbook_steps(facts, live, noops)
    age = (facts.started - snapshot.time).total_seconds() if snapshot is not None else None
    return RestorePlan(
        service=facts.service, host=facts.host, home=facts.home, mode=facts.mode, repository=facts.repository,
        restic_version=facts.restic_version, stamp=stamp, snapshot=snapshot, snapshot_age_seconds=age,
        total_bytes=sum(p.bytes for p in paths), total_entries=sum(p.entries for p in paths), paths=tuple(paths),
        databases=tuple(databases), space=tuple(space), root=facts.root, live=live, stop=stop, start=start,
        after_restore=after, noops=tuple(noops), refusals=tuple(refusals),
    )


def _plan_databases(facts: RestoreFacts, stamp: str, refusals: list[str]) -> list[DatabaseRestore]:
    planned = []
    for dump in facts.dumps:
        database = dump.database
        common = {"engine": database.engine, "name": database.name, "snapshot_id": dump.snapshot.id,
                  "snapshot_time": dump.snapshot.time, "file": dump.file}
        if facts.mode == "target":
            assert facts.root is not None
            planned.append(DatabaseRestore(**common, action="file", destination_file=under(facts.root, dump.file)))
            continue
        engine = "postgres" if database.engine == "postgres" else "mysql"
        if engine in facts.missing_engines:
            refusals.append(f"{database.engine} is not installed on {facts.host} (no {_client(engine)}): "
                            f"deploy {facts.service} there first, or restore with --target DIR")
        if facts.mode == "drill":
            planned.append(DatabaseRestore(**common, action="scratch",
                                           staging_name=derived_name(database, f"chaton_drill_{stamp.lower()}")))
            continue
        exists = f"{engine}:{database.name}" in facts.existing_databases
        planned.append(DatabaseRestore(
            **common, action="load", staging_name=derived_name(database, f"chaton_new_{stamp.lower()}"),
            kept_aside=derived_name(database, f"chaton_prev_{stamp.lower()}") if exists else None))
    return planned


def _client(engine: str) -> str:
    return "psql" if engine == "postgres" else "mysql"


def _space_needs(facts: RestoreFacts, paths: list[PathRestore]) -> list[SpaceNeed]:
    by_filesystem: dict[str, list[int]] = {}
    free: dict[str, int | None] = {}
    states = {state.path: state for state in facts.destinations}
    for item in paths:
        state = facts.root_state if facts.mode != "in-place" else states.get(item.path)
        if state is None:
            continue
        need = item.bytes + BLOCK * item.entries
        by_filesystem.setdefault(state.filesystem, []).append(need)
        free[state.filesystem] = state.free_bytes
    return [SpaceNeed(filesystem=fs, needed_bytes=sum(needs), free_bytes=free[fs]) for fs, needs in by_filesystem.items()]


def _playbook_steps(facts: RestoreFacts, live: bool,
                    noops: list[NoOp]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if facts.mode != "in-place":
        return (), (), ()
    stop, start = (facts.stop, facts.start) if live else ((), ())
    if not live and (facts.stop or facts.start):
        noops.append(NoOp(what="playbook stop/start", reason=f"the service does not run on {facts.host} with the "
                                                              "data replaced here"))
    elif live and not (facts.stop or facts.start):
        noops.append(NoOp(what="stop/start", reason="nothing to stop: the service's playbook has no `stop:` steps "
                                                    "(or it has no playbook)"))
    after = facts.after_restore if facts.host == facts.home else ()
    if facts.after_restore and facts.host != facts.home:
        noops.append(NoOp(what="after_restore steps", reason=f"{facts.service} runs on {facts.home}, not "
                                                             f"{facts.host} (failover runs them after deploying)"))
    return stop, start, after


def describe_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
