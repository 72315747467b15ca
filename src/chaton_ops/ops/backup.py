"""`chaton backup`: run a BackupPlan — hosts in parallel, services of a host one after another,
then retention per repository — and report one TargetResult per service × repository.

Each target: free space of the repository (refused below the threshold) → restic backup of the
data paths → one `restic backup --stdin` per database dump. Retention (`forget`, never `prune`: that
is `chaton prune`'s, on its own schedule) runs after every backup of the run, one repository at a time,
because `forget` takes restic's exclusive lock and would make a parallel backup on another host fail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from chaton_ops.adapters.restic import (
    Feature,
    ResticError,
    ResticRun,
    VersionCache,
    build_backup_argv,
    build_dump_pipeline_argv,
    build_forget_argv,
    build_forget_ids_argv,
    build_stdin_backup_argv,
    parse_pipe_status,
    run_restic,
    run_restic_waiting_for_lock,
    supports,
)
from chaton_ops.adapters.restic_output import (
    parse_backup_errors,
    parse_backup_summary,
    parse_forget,
    parse_lock_message,
)
from chaton_ops.adapters.secrets import resolve_secret
from chaton_ops.core.backup import (
    BackupPlan,
    BackupTarget,
    RetentionGroup,
    database_tag,
    dump_command,
    dump_filename,
    space_problem,
)
from chaton_ops.core.inventory import Database
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import Transport
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.errors import ChatonError, ConnectError, ExitCode
from chaton_ops.ops.repository import (
    SpaceProbe,
    initialise_repository,
    remove_stale_locks,
)

log = logging.getLogger(__name__)

BACKUP_TIMEOUT = 24 * 3600.0
RETENTION_TIMEOUT = 6 * 3600.0
# Retention runs after the snapshots are made: waiting for a `check` (or another machine's prune) to
# release restic's lock costs nothing but time, and failing would turn a good backup into a failed one.
RETENTION_LOCK_WAIT = 600.0

Progress = Callable[[BackupTarget, str], None]


@dataclass(frozen=True)
class BackupOptions:
    init: bool = False  # create a missing repository instead of failing
    unlock: bool = False  # remove stale restic locks when a lock stops the backup
    jobs: int = 4
    retention: bool = True
    lock_wait: float = 0.0  # seconds a backup waits for restic's lock held by another process
    retention_lock_wait: float = RETENTION_LOCK_WAIT  # the same for forget, after the snapshots


class Journaled:
    """The journal calls of a run, or nothing when there is no journal (unit tests)."""

    def __init__(self, journal: object | None, run_id: int | None) -> None:
        self.journal = journal
        self.run_id = run_id

    def record(self, target: str, step: str, status: str, detail: dict[str, object]) -> None:
        if self.journal is not None and self.run_id is not None:
            self.journal.record_step(self.run_id, target, step, status, detail)  # type: ignore[attr-defined]


@dataclass
class _Context:
    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    passwords: dict[str, str]
    options: BackupOptions
    versions: VersionCache
    journal: Journaled
    progress: Progress
    space: SpaceProbe


def resolve_passwords(loaded: LoadedInventory, repositories: list[str]) -> dict[str, str]:
    """Every password a run needs, resolved before anything starts (a bad reference stops it early)."""
    inventory = loaded.inventory
    return {name: resolve_secret(loaded, inventory.repositories[name].password).reveal() for name in repositories}


def run_backup(
    loaded: LoadedInventory,
    plan: BackupPlan,
    *,
    transports: Callable[[str], Transport],
    options: BackupOptions,
    journal: Journaled | None = None,
    progress: Progress | None = None,
    passwords: dict[str, str] | None = None,
) -> RunReport:
    started = dt.datetime.now(dt.UTC)
    context = _Context(
        loaded=loaded,
        transports=transports,
        passwords=passwords if passwords is not None else resolve_passwords(loaded, plan.repositories()),
        options=options,
        versions=VersionCache(),
        journal=journal or Journaled(None, None),
        progress=progress or (lambda target, stage: None),
        space=SpaceProbe(loaded, transports),
    )
    hosts = plan.hosts()
    for target in plan.targets:
        context.space.start(target)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(options.jobs, len(hosts) or 1)),
                                thread_name_prefix="backup") as pool:
            per_host = list(pool.map(lambda host: _back_up_host(context, plan.targets_on(host)), hosts))
    finally:
        context.space.close()
    by_target = {(r.service, r.repository): r for results in per_host for r in results}
    results = [by_target[(t.service, t.repository)] for t in plan.targets]
    if options.retention and plan.retention:
        results = _apply_retention(context, plan, results)
    return RunReport("backup", started, dt.datetime.now(dt.UTC), tuple(results))


def backup_exit_code(report: RunReport) -> ExitCode:
    """0 all good · 1 nothing succeeded · 3 partial, or a snapshot that misses unreadable files ·
    4 nothing succeeded because hosts could not be reached (the policy of errors.EXIT_CODES)."""
    return report.exit_code


# ---------------------------------------------------------------------------------------------
# One host, one target
# ---------------------------------------------------------------------------------------------


def _back_up_host(context: _Context, targets: list[BackupTarget]) -> list[TargetResult]:
    return [_back_up_target_safely(context, target) for target in targets]


def _back_up_target_safely(context: _Context, target: BackupTarget) -> TargetResult:
    started = time.monotonic()
    context.progress(target, "start")
    try:
        result = _back_up_target(context, target, started)
    except ConnectError as failure:
        result = replace(_failed(target, mask_text(failure.message), started), unreachable=True)
    except ChatonError as failure:
        result = _failed(target, mask_text(failure.message), started)
    except Exception as failure:  # noqa: BLE001 - one target's bug must not stop the other hosts
        log.debug("backup of %s failed unexpectedly", target.label, exc_info=True)
        result = _failed(target, mask_text(f"unexpected error: {type(failure).__name__}: {failure}"), started)
    context.progress(target, result.status)
    context.journal.record(target.label, "backup", result.status, {
        "service": target.service, "host": target.host, "repository": target.repository,
        "snapshot": result.snapshot_id, "bytes_added": result.bytes_added, "files_new": result.files_new,
        "files_changed": result.files_changed, "duration": round(result.duration, 3), "message": result.message,
        "total_bytes": result.bytes_processed,
    })
    return result


def _failed(target: BackupTarget, message: str, started: float) -> TargetResult:
    return TargetResult(service=target.service, host=target.host, repository=target.repository, status="failed",
                        message=message, duration=time.monotonic() - started)


def _back_up_target(context: _Context, target: BackupTarget, started: float) -> TargetResult:
    transport = context.transports(target.host)
    binary = target.restic
    password = context.passwords[target.repository]

    # the path check runs while the free space is measured in the background (another host,
    # usually): both must pass before restic starts, and a full disk is reported first
    missing = _missing_paths(transport, target.paths)
    space = context.space.get(target)
    notes: list[str] = []
    if space is None:
        notes.append("free space of the repository unknown")
    else:
        problem = space_problem(space, target.min_free_percent, target.repository)
        if problem:
            return _failed(target, problem, started)
    if missing:
        return _failed(target, f"source path{'s' if len(missing) > 1 else ''} missing on {target.host}: "
                               f"{', '.join(missing)}", started)

    snapshot_id = None
    files_new = files_changed = 0
    bytes_added = bytes_processed = 0
    status = "ok"
    if target.paths:
        argv = build_backup_argv(binary, target.repository_url, paths=target.paths, host=target.host,
                                 tags=target.tags, excludes=target.excludes)
        context.progress(target, "data")
        run = _run_with_recovery(context, transport, binary, target, argv, password)
        summary = parse_backup_summary(run.result.stdout)
        if not run.succeeded or summary is None:
            raise run.error(f"backup of {target.service} to {target.repository}")
        snapshot_id = summary.snapshot_id
        files_new, files_changed, bytes_added = summary.files_new, summary.files_changed, summary.data_added
        bytes_processed = summary.total_bytes_processed
        if run.outcome == "warning":
            status = "warning"
            unreadable = parse_backup_errors(run.result.stdout, run.result.stderr).unreadable
            notes.append(f"snapshot incomplete, unreadable: {', '.join(unreadable) or 'see restic output'}")

    dumps: list[str] = []
    for database in target.databases:
        context.progress(target, f"dump {database.engine}:{database.name}")
        dump_snapshot, dump_added, dump_size = _dump_database(context, transport, binary, target, database, password)
        snapshot_id = snapshot_id or dump_snapshot
        bytes_added += dump_added
        bytes_processed += dump_size
        dumps.append(f"{database.engine}:{database.name} → {dump_snapshot}")
    if dumps:
        notes.append("database dumps: " + ", ".join(dumps))
    return TargetResult(
        service=target.service, host=target.host, repository=target.repository, status=status,  # type: ignore[arg-type]
        message="; ".join(notes), snapshot_id=snapshot_id, bytes_added=bytes_added,
        duration=time.monotonic() - started, files_new=files_new, files_changed=files_changed,
        bytes_processed=bytes_processed,
    )


def _missing_paths(transport: Transport, paths: tuple[str, ...]) -> list[str]:
    if not paths:
        return []
    script = 'for p; do [ -e "$p" ] || printf "%s\\n" "$p"; done'
    result = transport.run(["sh", "-c", script, "sh", *paths], timeout=60, check=False)
    return [line for line in result.stdout.splitlines() if line]


def _run_with_recovery(context: _Context, transport: Transport, binary: str, target: BackupTarget,
                       argv: list[str], password: str) -> ResticRun:
    """Run a backup; on a missing repository init it (with --init) and run again; on a lock remove the
    stale ones (with --unlock), then run again waiting up to `lock_wait` for a lock another process holds."""

    def run(wait: float, locked: ResticRun | None = None) -> ResticRun:
        return run_restic_waiting_for_lock(transport, argv, password, wait=wait, binary=binary,
                                           versions=context.versions, timeout=BACKUP_TIMEOUT, locked=locked)

    result = run(0.0)
    if result.outcome == "no-repository" and context.options.init:
        context.progress(target, "init")
        version = context.versions.get(transport, binary)
        created = initialise_repository(transport, binary, target.repository_url, password, version)
        context.journal.record(target.repository, "init", "ok", {"created": created, "host": target.host})
        result = run(0.0)
    if result.outcome == "locked":
        if context.options.unlock:
            context.progress(target, "unlock")
            remove_stale_locks(transport, binary, target.repository_url, password)
            context.journal.record(target.repository, "unlock", "ok",
                                   {"lock": parse_lock_message(result.result.stderr), "host": target.host})
            result = run(context.options.lock_wait)  # the stale locks are gone: try again at once
        elif context.options.lock_wait > 0:
            context.progress(target, "waiting for the repository's lock")
            result = run(context.options.lock_wait, locked=result)
    if result.outcome == "locked":
        holder = parse_lock_message(result.result.stderr) or "by another process"
        waited = f" (waited {context.options.lock_wait:g} s)" if context.options.lock_wait > 0 else ""
        hint = ("that lock is held by a live process (--unlock removes only stale locks); --lock-wait SECONDS "
                "waits for it" if context.options.unlock
                else "if that lock is stale (its process is gone), run again with --unlock; if its process "
                     "runs, --lock-wait SECONDS waits for it")
        raise ResticError(f"{target.host}: repository {target.repository} is locked{waited}: {holder}; {hint}",
                          kind="locked")
    return result


def _dump_database(context: _Context, transport: Transport, binary: str, target: BackupTarget,
                   database: Database, password: str) -> tuple[str | None, int, int]:
    # the only step whose argv depends on the version: `restic version` runs once per host, here
    version = context.versions.get(transport, binary)
    tags = (*target.tags, database_tag(database))
    filename = dump_filename(database)
    command = dump_command(database)
    if supports(version, Feature.STDIN_FROM_COMMAND):
        # restic hands its environment to the dump tool: the password must not go along
        argv = build_stdin_backup_argv(binary, target.repository_url, filename=filename, host=target.host,
                                       tags=tags, command=["env", "-u", "RESTIC_PASSWORD", *command])
    else:
        restic_argv = build_stdin_backup_argv(binary, target.repository_url, filename=filename,
                                              host=target.host, tags=tags)
        argv = build_dump_pipeline_argv(command, restic_argv)
    run = _run_with_recovery(context, transport, binary, target, argv, password)
    summary = parse_backup_summary(run.result.stdout)
    statuses = parse_pipe_status(run.result.stderr)
    what = f"dump of {database.engine} database {database.name} on {target.host}"
    if statuses is not None and statuses[0] != 0:
        if summary is not None and summary.snapshot_id:
            # the dump tool failed halfway: restic saved a truncated file, which must not stay
            run_restic(transport, build_forget_ids_argv(binary, target.repository_url, [summary.snapshot_id]),
                       password, timeout=RETENTION_TIMEOUT)
        tail = "; ".join(line for line in run.result.stderr.splitlines()
                         if line.strip() and not line.startswith(("{", "chaton-pipe-status")))[-300:]
        raise ResticError(f"{what} failed (exit {statuses[0]}): {tail}", kind="fatal")
    if not run.succeeded or summary is None:
        raise run.error(what)
    return summary.snapshot_id, summary.data_added, summary.total_bytes_processed


# ---------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------


class RetentionPostponed(ResticError):
    """Retention could not take restic's lock in time: the snapshots stand, retention runs next time."""


def _apply_retention(context: _Context, plan: BackupPlan, results: list[TargetResult]) -> list[TargetResult]:
    """`forget` per group of services (only those whose backup succeeded), never `prune`: prune rewrites
    packs under restic's exclusive lock and would cost every night as much as the backup itself; it runs
    on its own schedule (`chaton prune`, ops/prune.py).

    A failed forget fails its services; a repository that stayed locked by another process (a
    `check`, a prune) only postpones retention: the snapshot was made, so the service ends with a warning."""
    succeeded = {(r.service, r.repository) for r in results if r.succeeded}
    problems: dict[tuple[str, str], ChatonError] = {}
    by_repository: dict[str, list[RetentionGroup]] = {}
    for group in plan.retention:
        services = tuple(s for s in group.services if (s, group.repository) in succeeded)
        if services:
            by_repository.setdefault(group.repository, []).append(replace(group, services=services))

    def forget_in(repository: str) -> None:
        for group in by_repository[repository]:
            try:
                _forget(context, group)
            except ChatonError as failure:
                for service in group.services:
                    problems[(service, repository)] = failure

    with ThreadPoolExecutor(max_workers=max(1, min(context.options.jobs, len(by_repository) or 1)),
                            thread_name_prefix="retention") as pool:
        list(pool.map(forget_in, list(by_repository)))
    updated = []
    for result in results:
        problem = problems.get((result.service, result.repository or ""))
        if isinstance(problem, RetentionPostponed):
            message = "; ".join(m for m in (result.message, mask_text(problem.message)) if m)
            result = replace(result, status="warning", message=message)
        elif problem is not None:
            message = "; ".join(m for m in (result.message, f"retention failed: {mask_text(problem.message)}") if m)
            result = replace(result, status="failed", message=message)
        updated.append(result)
    return updated


def _run_retention_command(context: _Context, group: RetentionGroup, argv: list[str], what: str) -> ResticRun:
    """forget, waiting for restic's lock (stale locks removed first with --unlock); a lock
    still held at the end postpones retention."""
    transport = context.transports(group.host)
    url = context.loaded.inventory.repositories[group.repository].url
    password = context.passwords[group.repository]
    wait = max(context.options.lock_wait, context.options.retention_lock_wait)

    def run(wait: float, locked: ResticRun | None = None) -> ResticRun:
        return run_restic_waiting_for_lock(transport, argv, password, wait=wait, binary=group.restic,
                                           versions=context.versions, timeout=RETENTION_TIMEOUT, locked=locked)

    result = run(0.0)
    if result.outcome == "locked":
        if context.options.unlock:
            remove_stale_locks(transport, group.restic, url, password)
            result = run(wait)  # the stale locks are gone: try again at once, then wait
        else:
            result = run(wait, locked=result)
    if result.outcome == "locked":
        holder = parse_lock_message(result.result.stderr) or "by another process"
        context.journal.record(group.repository, what, "postponed", {"services": list(group.services),
                                                                    "lock": holder, "waited_seconds": wait})
        raise RetentionPostponed(
            f"snapshot made; retention ({what}) postponed to the next run: {group.repository} stayed locked "
            f"for {wait:g} s ({holder})" + ("" if context.options.unlock else
                                           " (if that lock is stale, run again with --unlock)"),
            kind="locked")
    return result


def _forget(context: _Context, group: RetentionGroup) -> bool:
    """One `forget` of a group (no prune); True if it removed snapshots."""
    url = context.loaded.inventory.repositories[group.repository].url
    argv = build_forget_argv(group.restic, url, tags=group.tags, keep_flags=group.keep_flags, prune=False)
    run = _run_retention_command(context, group, argv, "forget")
    if not run.succeeded:
        context.journal.record(group.repository, "forget", "failed",
                               {"services": list(group.services), "error": run.error("forget").message})
        raise run.error(f"retention (forget) of {', '.join(group.services)} in {group.repository}")
    groups = parse_forget(run.result.stdout)
    removed = [snapshot for g in groups for snapshot in g.remove]
    context.journal.record(group.repository, "forget", "ok", {
        "services": list(group.services), "policy": list(group.keep_flags), "removed": len(removed),
        "kept": sum(len(g.keep) for g in groups),
    })
    return bool(removed)
