"""`chaton restore`: facts → plan (core/restore.py) → steps (ops/restore_steps.py, ops/restore_db.py).

`gather_restore_facts` reads everything the plan depends on from the host that restores: restic's
version, the snapshot (chosen by the service's `service:NAME` tag, never by restic's host name, so a
snapshot taken on the primary restores anywhere), its listing and size, the destinations' state and
free space, the databases there, and the playbook's stop/start/after_restore steps.
`run_restore` strings the steps together for the CLI; failover calls the same steps itself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaton_ops.adapters.restic import (
    ResticError,
    build_ls_argv,
    build_snapshots_argv,
    detect_version,
    format_version,
    run_restic,
)
from chaton_ops.adapters.restic_output import SnapshotListing, parse_ls, parse_snapshots
from chaton_ops.adapters.secrets import resolve_secret
from chaton_ops.core.backup import service_tag
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Transport
from chaton_ops.core.restore import (
    DestinationState,
    RestoreFacts,
    RestoreMode,
    RestorePlan,
    RestoreRefused,
    SnapshotInfo,
    check_snapshot_service,
    choose_data_snapshot,
    choose_dumps,
    plan_restore,
    to_info,
)
from chaton_ops.errors import ChatonError, ConnectError, ExitCode, UsageError
from chaton_ops.ops.deploy import DeployReport, PreparedDeploy, prepare_deploy, run_playbook
from chaton_ops.ops.restore_db import DatabaseLoaded, database_of, existing_databases, load_database
from chaton_ops.ops.restore_steps import (  # noqa: F401 - the steps, importable from here by failover
    Progress,
    RestoreFailed,
    SpaceResult,
    StagedCopy,
    Swapped,
    Verification,
    check_space,
    discard_kept_aside,
    megabytes_per_second,
    remove_staging,
    restore_calls,
    restore_into,
    swap_into_place,
    verify_restored,
)

LIST_TIMEOUT = 3600.0
STATE_TIMEOUT = 120.0
SPEED_SAMPLES = 10
SPEED_MIN_BYTES = 1 << 20  # smaller restores measure restic's start, not its speed


def current_host(loaded: LoadedInventory, service: str) -> str:
    """Where a service runs now. Until placements are recorded (failover), its inventory host."""
    return loaded.inventory.services[service].host


def check_service_and_host(loaded: LoadedInventory, service: str, host: str | None) -> None:
    inventory = loaded.inventory
    if service not in inventory.services:
        raise UsageError(f"unknown service: {service} (known: {', '.join(sorted(inventory.services)) or 'none'})")
    if host is not None and host not in inventory.hosts:
        raise UsageError(f"unknown host: {host} (known: {', '.join(sorted(inventory.hosts))})")


def choose_repository(loaded: LoadedInventory, service: str, repository: str | None) -> str:
    inventory = loaded.inventory
    own = inventory.repositories_for(service)
    if repository is not None:
        if repository not in inventory.repositories:
            raise UsageError(f"unknown repository: {repository}")
        return repository
    if not own:
        raise UsageError(f"service {service} has no repository")
    return own[0]


# ------------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class GatheredRestore:
    """The facts, and the snapshot's listing (kept out of the facts: it can be long) for verification."""

    facts: RestoreFacts
    listing: SnapshotListing | None


def gather_restore_facts(
    loaded: LoadedInventory,
    service: str,
    transport: Transport,
    *,
    mode: RestoreMode,
    password: str,
    snapshot: str = "latest",
    repository: str | None = None,
    root: str | None = None,
    home: str | None = None,
    started: dt.datetime | None = None,
) -> GatheredRestore:
    """Read-only: what a restore of `service` onto `transport.host` depends on."""
    inventory = loaded.inventory
    host = transport.host
    check_service_and_host(loaded, service, host)
    definition = inventory.services[service]
    repository = choose_repository(loaded, service, repository)
    url = inventory.repositories[repository].url
    binary = inventory.hosts[host].restic
    version = detect_version(transport, binary)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="restore-facts") as pool:
        listed_all = pool.submit(_list_snapshots, transport, binary, url, password, service, repository) \
            if definition.databases else None
        listing = _find_data_snapshot(transport, binary, url, password, service, repository, snapshot,
                                      list(definition.data), listed_all.result if listed_all else None) \
            if definition.data else None
        everything = listed_all.result() if listed_all is not None else []
    if not definition.data and snapshot != "latest":
        chosen = choose_data_snapshot(everything, service, snapshot)  # checks the service
        anchor = chosen.time if chosen is not None else None
    else:
        anchor = listing.snapshot.time if listing is not None else None
    dumps, missing = choose_dumps(everything, service, definition.databases, anchor)
    data_snapshot = to_info(listing.snapshot) if listing is not None else None
    bytes_by_path, entries_by_path = _sizes(listing)
    targets = list(data_snapshot.paths) if data_snapshot is not None and mode == "in-place" else []
    states = destination_states(transport, [*targets, *([root] if root else [])])
    root_state = states.pop() if root else None
    engines: dict[str, set[str] | None] = {}
    if mode != "target":
        for dump in dumps:
            engine = "postgres" if dump.database.engine == "postgres" else "mysql"
            if engine not in engines:
                engines[engine] = existing_databases(transport, dump.database)
    stop, start, after = _playbook_labels(loaded, service, host) if mode == "in-place" else ((), (), ())
    facts = RestoreFacts(
        service=service, host=host, home=home or current_host(loaded, service), mode=mode, repository=repository,
        restic_version=format_version(version), started=started or dt.datetime.now(dt.UTC), snapshot=data_snapshot,
        bytes_by_path=bytes_by_path, entries_by_path=entries_by_path, dumps=tuple(dumps), missing_dumps=tuple(missing),
        destinations=tuple(states), root=root, root_state=root_state,
        root_is_empty=root_state is None or not root_state.exists or root_state.kind == "empty directory",
        existing_databases=tuple(f"{engine}:{name}" for engine, names in engines.items() for name in sorted(names or ())),
        missing_engines=tuple(engine for engine, names in engines.items() if names is None),
        stop=stop, start=start, after_restore=after,
    )
    return GatheredRestore(facts, listing)


def _restic_failure(error: ResticError, host: str, repository: str) -> ChatonError:
    if error.kind == "unreachable":
        return ConnectError(host, f"repository {repository} cannot be reached from {host}: {error.stderr_tail}")
    return error


def _list_snapshots(transport: Transport, binary: str, url: str, password: str, service: str,
                    repository: str) -> list[SnapshotInfo]:
    run = run_restic(transport, [*build_snapshots_argv(binary, url, tags=[service_tag(service)]), "--no-lock"],
                     password, timeout=LIST_TIMEOUT)
    if not run.succeeded:
        raise _restic_failure(run.error(f"snapshots of {service} in {repository}"), transport.host, repository)
    return [to_info(s) for s in parse_snapshots(run.result.stdout)]


def _ls(transport: Transport, binary: str, url: str, password: str, repository: str, snapshot: str,
        **choose: Any) -> SnapshotListing | None:
    """`restic ls` of a snapshot; None when `latest` matched none (0.14 says so and exits 0)."""
    run = run_restic(transport, build_ls_argv(binary, url, snapshot, **choose), password, timeout=LIST_TIMEOUT)
    stderr = run.result.stderr
    if not run.succeeded:
        if "no snapshot found" in stderr or "no snapshot matched" in stderr:
            return None
        if "no matching ID found" in stderr or "failed to find snapshot" in stderr:
            raise UsageError(f"no snapshot {snapshot} in repository {repository}")
        raise _restic_failure(run.error(f"listing snapshot {snapshot} of {repository}"), transport.host, repository)
    try:
        return parse_ls(run.result.stdout)
    except ValueError:
        return None


def _find_data_snapshot(transport: Transport, binary: str, url: str, password: str, service: str, repository: str,
                        wanted: str, data: list[str],
                        listed: Callable[[], list[SnapshotInfo]] | None) -> SnapshotListing | None:
    """The data snapshot and its listing in one restic call (`ls latest --tag service:NAME --path …`, or
    `ls ID`); the snapshot list only when that finds nothing (paths changed in the inventory) or to
    tell an empty repository from another service's snapshot."""
    if wanted != "latest":
        listing = _ls(transport, binary, url, password, repository, wanted)
        if listing is None:
            raise UsageError(f"no snapshot {wanted} in repository {repository}")
        info = to_info(listing.snapshot)
        check_snapshot_service(info, service)
        if info.is_dump:
            raise UsageError(f"snapshot {info.short_id} is the dump of database {info.tag_value('database')}: give "
                             f"the data snapshot of {service} (see `chaton snapshots {service}`)")
        return listing
    listing = _ls(transport, binary, url, password, repository, "latest", tags=[service_tag(service)], paths=data)
    if listing is not None:
        return listing
    snapshots = listed() if listed is not None else _list_snapshots(transport, binary, url, password, service,
                                                                    repository)
    chosen = choose_data_snapshot(snapshots, service, "latest")
    if chosen is None:
        return None
    return _ls(transport, binary, url, password, repository, chosen.id)


def _sizes(listing: SnapshotListing | None) -> tuple[dict[str, int], dict[str, int]]:
    if listing is None:
        return {}, {}
    sizes: dict[str, int] = {}
    entries: dict[str, int] = {}
    for path in listing.snapshot.paths:
        nodes = listing.under(path)
        sizes[path] = sum(node.size for node in nodes)
        entries[path] = len(nodes)
    return sizes, entries


DESTINATION_SCRIPT = r"""
for p; do
  a=$p; while [ ! -e "$a" ] && [ ! -L "$a" ] && [ "$a" != / ]; do a=$(dirname -- "$a"); done
  if [ "$a" = "$p" ]; then e=1; k=$(stat -c %F -- "$p"); else e=0; k=-; fi
  if [ "$e" = 1 ] && [ -d "$p" ] && [ ! -L "$p" ] && [ -z "$(find "$p" -mindepth 1 -maxdepth 1 -print -quit)" ]; then
    k="empty directory"; fi
  m=$(stat -c %m -- "$a" 2>/dev/null || echo /)
  f=$(df -P -k -- "$a" | awk 'NR==2 {print $4}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$e" "$k" "$m" "$f"
done
"""


def destination_states(transport: Transport, paths: list[str]) -> list[DestinationState]:
    """Exists? what? is it a mount point? which filesystem, how much free — for each path, in one command."""
    if not paths:
        return []
    result = transport.run(["sh", "-c", DESTINATION_SCRIPT, "sh", *paths], timeout=STATE_TIMEOUT, check=False)
    states = []
    lines = result.stdout.splitlines()
    for index, path in enumerate(paths):
        fields = lines[index].rsplit("\t", 4) if index < len(lines) else []
        if len(fields) != 5:
            raise RestoreFailed(f"{transport.host}: cannot read the state of {path}: {result.stderr_tail(2)}")
        _, exists, kind, mount, free = fields
        states.append(DestinationState(path=path, exists=exists == "1", kind=None if kind == "-" else kind,
                                       is_mount_point=exists == "1" and mount == path, filesystem=mount,
                                       free_bytes=int(free) * 1024 if free.isdigit() else None))
    return states


def _playbook_labels(loaded: LoadedInventory, service: str,
                     host: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if loaded.inventory.services[service].playbook is None:
        return (), (), ()
    labels = []
    for phase in ("stop", "start", "after_restore"):
        prepared = prepare_deploy(loaded, service, host, phase=phase)  # type: ignore[arg-type]
        labels.append(tuple(step.step.label for step in prepared.steps))
    return labels[0], labels[1], labels[2]


# ------------------------------------------------------------------------------------------ journal
class RestoreJournal(Protocol):
    """What restores need of adapters/journal.Journal."""

    def start_run(self, command: str, args: list[str]) -> int: ...

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int: ...

    def step(self, run_id: int, target: str, step: str,
             detail: dict[str, Any] | None = None) -> Any: ...

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None: ...


class Steps:
    """Journals each step of a run (as running before it starts, with its outputs after), or nothing."""

    def __init__(self, journal: RestoreJournal | None, run_id: int | None, target: str) -> None:
        self.journal, self.run_id, self.target = journal, run_id, target

    @contextmanager
    def step(self, name: str, detail: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if self.journal is None or self.run_id is None:
            yield dict(detail)
            return
        with self.journal.step(self.run_id, self.target, name, detail) as extra:
            yield extra

    def record(self, name: str, status: str, detail: dict[str, Any]) -> None:
        if self.journal is not None and self.run_id is not None:
            self.journal.record_step(self.run_id, self.target, name, status, detail)


# ------------------------------------------------------------------------------------------ apply
@dataclass
class RestoreReport:
    """What a restore did, step by step (filled as it goes: a failure leaves what was done before)."""

    plan: RestorePlan
    copies: list[StagedCopy] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    databases: list[DatabaseLoaded] = field(default_factory=list)
    swaps: list[Swapped] = field(default_factory=list)
    playbook: list[DeployReport] = field(default_factory=list)
    duration: float = 0.0
    error: str | None = None

    @property
    def bytes(self) -> int:
        return sum(copy.bytes for copy in self.copies)

    @property
    def restore_seconds(self) -> float:
        return sum(copy.duration for copy in self.copies)

    @property
    def verified(self) -> bool:
        return bool(self.verifications) and all(v.verified for v in self.verifications)

    @property
    def status(self) -> str:
        return "failed" if self.error else "ok"

    def state_of_paths(self) -> list[tuple[str, str]]:
        """Each path: restored, or as it was before (never anything in between)."""
        swapped = {swap.path for swap in self.swaps}
        return [(item.destination, "restored" if item.destination in swapped or item.action == "write" and
                 not self.error else "as before") for item in self.plan.paths]


def snapshot_detail(plan: RestorePlan) -> dict[str, Any]:
    snapshot = plan.snapshot
    return {"service": plan.service, "host": plan.host, "snapshot": snapshot.id if snapshot else None,
            "snapshot_time": snapshot.time.isoformat() if snapshot else None}


def copy_detail(plan: RestorePlan, copy: StagedCopy, verified: bool | None) -> dict[str, Any]:
    return {**snapshot_detail(plan), "bytes": copy.bytes, "files": copy.files, "duration": round(copy.duration, 3),
            "mb_per_s": copy.mb_per_second, "verified": verified, "folder": copy.folder, "paths": list(copy.paths)}


def restore_data(transport: Transport, plan: RestorePlan, listing: SnapshotListing | None, *, binary: str,
                 repository_url: str, password: str, steps: Steps, report: RestoreReport,
                 progress: Progress | None, step_name: str = "restore") -> None:
    """restic restore of every path into its staging (or target, or scratch) folder, then verification
    of each path there. Journaled per restic call with snapshot, bytes, files, duration, MB/s, verified."""
    if plan.snapshot is None or listing is None:
        return
    from chaton_ops.adapters.restic import parse_version

    version = parse_version(f"restic {plan.restic_version}")
    for call in restore_calls(plan):
        if progress is not None:
            progress(f"restoring into {call.folder}", None)
        with steps.step(step_name, {**snapshot_detail(plan), "folder": call.folder, "paths": list(call.paths),
                                    "bytes": call.bytes, "files": call.files}) as detail:
            copy = restore_into(transport, call, binary=binary, repository_url=repository_url, password=password,
                                snapshot_id=plan.snapshot.id, version=version, progress=progress,
                                must_be_new=plan.mode != "target")
            report.copies.append(copy)
            checks = []
            for item in plan.paths:
                if item.path in call.paths:
                    location = item.staged_path if item.staged_path else item.destination
                    if progress is not None:
                        progress(f"verifying {location}", None)
                    checks.append(verify_restored(transport, listing.under(item.path), item.path, location))
            report.verifications += checks
            verified = all(check.verified for check in checks)
            detail.update(copy_detail(plan, copy, verified))
            detail["differences"] = [d for check in checks for d in check.differences]
            if not verified:
                detail["status"] = "failed"
                first = next(check for check in checks if not check.verified)
                raise RestoreFailed(f"{transport.host}: the restored copy of {first.path} differs from the snapshot "
                                    f"({'; '.join(first.differences)}); nothing was swapped; the copy is in "
                                    f"{transport.host}:{call.folder}")


@dataclass(frozen=True)
class PreparedRestore:
    plan: RestorePlan
    listing: SnapshotListing | None
    password: str
    binary: str
    repository_url: str


def prepare_restore(loaded: LoadedInventory, service: str, transports: Callable[[str], Transport], *,
                    snapshot: str = "latest", to: str | None = None, target: str | None = None,
                    repository: str | None = None) -> PreparedRestore:
    """Facts and plan of `chaton restore` (read-only: what --dry-run shows)."""
    check_service_and_host(loaded, service, to)
    if target is not None and not target.startswith("/"):
        raise UsageError(f"--target needs an absolute path, not {target!r}")
    host = to or current_host(loaded, service)
    repository = choose_repository(loaded, service, repository)
    password = resolve_secret(loaded, loaded.inventory.repositories[repository].password).reveal()
    transport = transports(host)
    gathered = gather_restore_facts(loaded, service, transport, mode="target" if target else "in-place",
                                    password=password, snapshot=snapshot, repository=repository,
                                    root=target.rstrip("/") or "/" if target else None)
    return PreparedRestore(plan_restore(gathered.facts), gathered.listing, password,
                           loaded.inventory.hosts[host].restic, loaded.inventory.repositories[repository].url)


def apply_restore(loaded: LoadedInventory, prepared: PreparedRestore, transport: Transport, *,
                  journal: RestoreJournal | None = None, run_id: int | None = None,
                  progress: Progress | None = None) -> RestoreReport:
    """Apply a plan: space → restore and verify in staging → databases into staging → stop → swaps →
    start → after_restore. Until the swaps nothing live is touched; a failure says what is where."""
    plan = prepared.plan
    if plan.refusals:
        raise RestoreRefused("; ".join(plan.refusals))
    steps = Steps(journal, run_id, plan.service)
    report = RestoreReport(plan)
    started = time.monotonic()
    steps.record("plan", "ok", {**snapshot_detail(plan), "mode": plan.mode, "bytes": plan.total_bytes,
                                "files": plan.total_entries, "kept_aside": plan.kept_aside,
                                "staging": sorted({p.staging for p in plan.paths if p.staging})})
    try:
        _apply(loaded, prepared, transport, steps, report, progress)
    except (ChatonError, KeyboardInterrupt) as failure:
        report.error = str(failure) if isinstance(failure, ChatonError) else "interrupted"
        raise
    finally:
        report.duration = time.monotonic() - started
    return report


def _apply(loaded: LoadedInventory, prepared: PreparedRestore, transport: Transport, steps: Steps,
           report: RestoreReport, progress: Progress | None) -> None:
    plan = prepared.plan
    with steps.step("space", {"host": plan.host}) as detail:
        detail["filesystems"] = [s.detail() for s in check_space(transport, plan.space)]
    restore_data(transport, plan, prepared.listing, binary=prepared.binary, repository_url=prepared.repository_url,
                 password=prepared.password, steps=steps, report=report, progress=progress)
    databases = list(loaded.inventory.services[plan.service].databases)
    if plan.mode == "target":
        _write_dumps(transport, prepared, steps, progress)
        return
    stopped = False
    try:
        if plan.stop:
            stopped = True
            _run_phase(loaded, plan, transport, "stop", steps, report, progress)
        for item in plan.databases:
            if progress is not None:
                progress(f"loading {item.engine} database {item.name}", None)
            with steps.step("load database", {**snapshot_detail(plan), "database": f"{item.engine}:{item.name}",
                                              "dump_snapshot": item.snapshot_id, "staging": item.staging_name,
                                              "kept_aside": item.kept_aside}) as detail:
                loaded_db = load_database(transport, item, database_of(item, databases), binary=prepared.binary,
                                          repository_url=prepared.repository_url, password=prepared.password)
                report.databases.append(loaded_db)
                detail.update(loaded_db.detail())
        for path in plan.paths:
            with steps.step("swap", {"host": plan.host, "path": path.destination, "kept_aside": path.kept_aside,
                                     "staged": path.staged_path}) as detail:
                swapped = swap_into_place(transport, path)
                report.swaps.append(swapped)
                detail.update(swapped.detail())
        for folder in sorted({item.staging for item in plan.paths if item.staging}):
            remove_staging(transport, folder)
    finally:
        if stopped:
            _run_phase(loaded, plan, transport, "start", steps, report, progress)
    if plan.after_restore:
        _run_phase(loaded, plan, transport, "after_restore", steps, report, progress)


def _write_dumps(transport: Transport, prepared: PreparedRestore, steps: Steps, progress: Progress | None) -> None:
    """--target: each database dump written as a file under the folder (for inspection, nothing loaded)."""
    from chaton_ops.adapters.restic import build_restore_argv, parse_version

    plan = prepared.plan
    version = parse_version(f"restic {plan.restic_version}")
    assert plan.root is not None
    for item in plan.databases:
        if progress is not None:
            progress(f"writing the dump of {item.engine} database {item.name}", None)
        with steps.step("write dump", {"service": plan.service, "host": plan.host, "snapshot": item.snapshot_id,
                                       "file": item.destination_file}):
            argv = build_restore_argv(prepared.binary, prepared.repository_url, item.snapshot_id, target=plan.root,
                                      version=version, verify=True)
            run = run_restic(transport, argv, prepared.password, timeout=LIST_TIMEOUT)
            if not run.succeeded:
                raise run.error(f"writing the dump {item.file} under {plan.root}")


def _run_phase(loaded: LoadedInventory, plan: RestorePlan, transport: Transport, phase: str, steps: Steps,
               report: RestoreReport, progress: Progress | None) -> None:
    if progress is not None:
        progress(f"playbook {phase} steps", None)
    prepared: PreparedDeploy = prepare_deploy(loaded, plan.service, plan.host, phase=phase)  # type: ignore[arg-type]
    with steps.step(phase, {"host": plan.host, "steps": [s.step.label for s in prepared.steps]}) as detail:
        outcome = run_playbook(prepared, transport)
        report.playbook.append(outcome)
        detail["outcomes"] = [f"{o.label}: {o.status}" for o in outcome.outcomes]
        if outcome.failure is not None:
            detail["status"] = "failed"
            raise RestoreFailed(f"{plan.host}: playbook {phase} step {outcome.failure.label!r} failed: "
                                f"{outcome.failure.message} {outcome.failure.output_tail}".strip())


def restore_exit_code(report: RestoreReport) -> ExitCode:
    return ExitCode.OK if report.status == "ok" else ExitCode.FAILED


# ------------------------------------------------------------------------------------- speed
class SpeedJournal(Protocol):
    def runs(self, limit: int = 20, command: str | None = None) -> list[Any]: ...

    def steps(self, run_id: int) -> list[Any]: ...


def measured_restore_speed(journal: SpeedJournal, host: str | None = None) -> float | None:
    """Bytes per second of recent restores and drills (restic's restore step, on `host` if given):
    what failover uses to estimate its duration. None when nothing was measured yet. Restores of
    less than 1 MiB are left out while bigger ones exist (they measure restic's start, not its speed)."""
    samples: list[tuple[str, int, float]] = []
    for command, step_name in (("restore", "restore"), ("drill", "drill")):
        for run in journal.runs(limit=50, command=command):
            for step in journal.steps(run.id):
                detail = step.detail or {}
                if step.step != step_name or step.status != "ok" or (host and detail.get("host") != host):
                    continue
                size, duration = detail.get("bytes"), detail.get("duration")
                if isinstance(size, int) and isinstance(duration, int | float) and duration > 0:
                    samples.append((step.started_at, size, float(duration)))
    samples.sort(reverse=True)
    big = [s for s in samples if s[1] >= SPEED_MIN_BYTES]
    chosen = (big or samples)[:SPEED_SAMPLES]
    if not chosen:
        return None
    return sum(s[1] for s in chosen) / sum(s[2] for s in chosen)
