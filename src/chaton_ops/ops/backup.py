"""`chaton backup`: run a BackupPlan — hosts in parallel, services of a host one after another,
then retention per repository — and report one TargetResult per service × repository.

Each target: free space of the repository (refused below the threshold) → restic backup of the
data paths → one `restic backup --stdin` per database dump. Retention (`forget`, never `prune`: that
is `chaton prune`'s, on its own schedule) runs after every backup of the run (the runbook's second
phase), one step per repository, because `forget` takes restic's exclusive lock and would make a parallel
backup on another host fail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chaton_ops.core.backup_plan import BackupPlan, BackupTarget, RetentionGroup
from chaton_ops.core.database import dump_command, dump_filename
from chaton_ops.core.free_space import space_problem
from chaton_ops.core.inventory import Database
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import RunJournal, Secrets, StepNotes, Transport
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.core.restic import (
    Feature,
    ResticError,
    ResticRun,
    build_backup_argv,
    build_dump_pipeline_argv,
    build_forget_argv,
    build_forget_ids_argv,
    build_stdin_backup_argv,
    parse_pipe_status,
    supports,
)
from chaton_ops.core.restic_output import (
    parse_backup_errors,
    parse_backup_summary,
    parse_forget,
    parse_lock_message,
)
from chaton_ops.core.runbook import Plan, PlannedStep, RunStatus
from chaton_ops.core.selection import database_tag
from chaton_ops.errors import ChatonError, ConnectError, ExitCode
from chaton_ops.ops.engine import (
    GO,
    Action,
    Done,
    EventSink,
    NoJournal,
    RunState,
    StepEvent,
    StepOutput,
    StepResult,
    Verdict,
    apply_plan,
)
from chaton_ops.ops.repository import (
    SpaceProbe,
    initialise_repository,
    remove_stale_locks,
)
from chaton_ops.ops.restic_calls import VersionCache, run_restic, run_restic_waiting_for_lock

log = logging.getLogger(__name__)

BACKUP_TIMEOUT = 24 * 3600.0
RETENTION_TIMEOUT = 6 * 3600.0
# Retention runs after the snapshots are made: waiting for a `check` (or another machine's prune) to
# release restic's lock costs nothing but time, and failing would turn a good backup into a failed one.
RETENTION_LOCK_WAIT = 600.0

Progress = Callable[[BackupTarget, str], None]


@dataclass(frozen=True)
class BackupSettings:
    """What the steps of a backup run follow, built from what was asked (ops/backup_run.py `BackupRequest`)."""

    init: bool = False  # create a missing repository instead of failing
    unlock: bool = False  # remove stale restic locks when a lock stops the backup
    jobs: int = 4
    retention: bool = True
    lock_wait: float = 0.0  # seconds a backup waits for restic's lock held by another process
    retention_lock_wait: float = RETENTION_LOCK_WAIT  # the same for forget, after the snapshots


class RunNotes:
    """Notes a step leaves in its run's journal beside its own record (a repository initialised, stale
    locks removed), or nowhere when the run has no journal (unit tests).

    Handed to `run_backup` instead of a journal, it also receives each backup's end as a "backup" note
    (the engine then journals nothing): what a caller watching the run without a journal sees."""

    def __init__(self, journal: StepNotes | None, run_id: int | None) -> None:
        self.journal = journal
        self.run_id = run_id

    def record(self, target: str, step: str, status: str, detail: dict[str, object]) -> None:
        if self.journal is not None and self.run_id is not None:
            self.journal.record_step(self.run_id, target, step, status, detail)


@dataclass
class _BackupRun:
    """What every step of one backup run shares: the inventory, the hosts, the passwords, the settings,
    restic versions met so far, the free space measured ahead, and the journal's notes."""

    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    passwords: dict[str, str]
    settings: BackupSettings
    versions: VersionCache
    notes: RunNotes
    progress: Progress
    space: SpaceProbe
    steps_as_notes: bool = False  # no engine journal: each backup's end goes to the notes


def resolve_passwords(loaded: LoadedInventory, secrets: Secrets, repositories: list[str]) -> dict[str, str]:
    """Every password a run needs, resolved before anything starts (a bad reference stops it early)."""
    inventory = loaded.inventory
    return {name: secrets.resolve(inventory.repositories[name].password).reveal() for name in repositories}


def backup_runbook(plan: BackupPlan, *, retention: bool = True) -> Plan:
    """The backup plan as runbook steps: one per service × repository (lane: its host, so a host's
    services run one after another and hosts in parallel; a failed one does not stop the next), then
    one retention step per repository (phase 1, after every backup, repositories in parallel)."""
    steps = [PlannedStep(key=f"backup:{t.label}", action="backup", title=f"back up {t.service} to {t.repository}",
                         host=t.host, target=t.label, phase=0, lane=f"host:{t.host}", independent=True,
                         inputs={"service": t.service, "host": t.host, "repository": t.repository})
             for t in plan.targets]
    if retention:
        for repository in dict.fromkeys(g.repository for g in plan.retention):
            groups = [g for g in plan.retention if g.repository == repository]
            steps.append(PlannedStep(
                key=f"forget:{repository}", action="forget", title=f"retention in {repository}",
                host=groups[0].host, target=repository, phase=1, lane=f"repository:{repository}", independent=True,
                inputs={"repository": repository, "services": [s for g in groups for s in g.services]}))
    return Plan("backup", tuple(steps), inputs={"services": list(dict.fromkeys(t.service for t in plan.targets))})


def run_backup(
    loaded: LoadedInventory,
    plan: BackupPlan,
    *,
    transports: Callable[[str], Transport],
    settings: BackupSettings,
    journal: RunJournal | RunNotes | None = None,
    run_id: int | None = None,
    on_event: EventSink | None = None,
    passwords: dict[str, str] | None = None,
    secrets: Secrets | None = None,
) -> RunReport:
    """Apply `plan` on the runbook engine and report one TargetResult per service × repository.

    With a journal, `run_id` is the run `start_run` journaled; with RunNotes, the notes receive the
    steps; without either nothing is kept. The repositories' passwords: `passwords` when given (resolved
    by the caller), else from `secrets` (the composition root's Secrets port); one of them is needed."""
    if passwords is None:
        if secrets is None:
            raise TypeError("run_backup needs the repositories' passwords or the Secrets port")
        passwords = resolve_passwords(loaded, secrets, plan.repositories())
    started = dt.datetime.now(dt.UTC)
    runbook = backup_runbook(plan, retention=settings.retention)
    given_notes = journal if isinstance(journal, RunNotes) else None
    engine_journal: RunJournal = NoJournal() if journal is None or isinstance(journal, RunNotes) else journal
    run_id = run_id if run_id is not None else 0
    sink = on_event or (lambda event: None)
    by_label = {t.label: t for t in plan.targets}

    def progress(target: BackupTarget, stage: str) -> None:
        sink(StepEvent("progress", runbook.step(f"backup:{target.label}"), stage))

    run = _BackupRun(
        loaded=loaded,
        transports=transports,
        passwords=passwords,
        settings=settings,
        versions=VersionCache(),
        notes=given_notes or RunNotes(engine_journal if isinstance(engine_journal, StepNotes) else None, run_id),
        progress=progress,
        space=SpaceProbe(loaded, transports),
        steps_as_notes=given_notes is not None,
    )
    for target in plan.targets:
        run.space.start(target)  # measured ahead, while the first backups start
    actions: dict[str, Action] = {"backup": _BackupAction(run, by_label), "forget": _RetentionAction(run, plan)}

    def summarize(steps: list[StepResult]) -> tuple[RunStatus, ExitCode]:
        report = _report(plan, steps, started)
        return report.status, report.exit_code

    try:
        outcome = apply_plan(runbook, actions, engine_journal, run_id, jobs=settings.jobs, on_event=sink, summarize=summarize)
    finally:
        run.space.close()
    return replace(_report(plan, list(outcome.steps), started), runbook=outcome.summary())


def backup_exit_code(report: RunReport) -> ExitCode:
    """0 all good · 1 nothing succeeded · 3 partial, or a snapshot that misses unreadable files ·
    4 nothing succeeded because hosts could not be reached (the policy of errors.EXIT_CODES)."""
    return report.exit_code


def _report(plan: BackupPlan, steps: list[StepResult], started: dt.datetime) -> RunReport:
    """One TargetResult per service × repository from the steps' outputs, retention's outcome merged
    into the services it concerned (postponed: a warning; failed: the service failed)."""
    by_key = {r.step.key: r for r in steps}
    results = []
    for target in plan.targets:
        step = by_key.get(f"backup:{target.label}")
        out = dict(step.outputs) if step is not None else {}
        result = TargetResult(
            service=target.service, host=target.host, repository=target.repository,
            status="failed" if step is None or step.status not in ("ok", "warning") else step.status,  # type: ignore[arg-type]
            message=step.message if step is not None else "not run", snapshot_id=out.get("snapshot"),
            bytes_added=out.get("bytes_added"), duration=float(out.get("seconds", out.get("duration", 0.0))),
            files_new=out.get("files_new"), files_changed=out.get("files_changed"),
            unreachable=bool(out.get("unreachable")), bytes_processed=out.get("total_bytes"))
        retention = by_key.get(f"forget:{target.repository}")
        if result.succeeded and retention is not None:
            result = _with_retention(result, retention)
        results.append(result)
    return RunReport("backup", started, dt.datetime.now(dt.UTC), tuple(results))


def _with_retention(result: TargetResult, retention: StepResult) -> TargetResult:
    for group in retention.outputs.get("groups", ()):
        if result.service not in group["services"] or group["status"] == "ok":
            continue
        if group["status"] == "postponed":
            message = "; ".join(m for m in (result.message, group["message"]) if m)
            return replace(result, status="warning", message=message)
        message = "; ".join(m for m in (result.message, f"retention failed: {group['message']}") if m)
        return replace(result, status="failed", message=message)
    return result


class _BackupAction:
    """One service × repository: free space, paths, restic backup, database dumps. A failure is the
    step's outcome (journaled with what is known), never an exception: the next service still runs."""

    def __init__(self, run: _BackupRun, targets: dict[str, BackupTarget]) -> None:
        self.run = run
        self.targets = targets

    def check(self, step: PlannedStep, state: RunState) -> Verdict:
        return GO  # every fact (space, paths, locks) is read by the step itself, just before restic runs

    def apply(self, step: PlannedStep, state: RunState) -> StepOutput:
        target = self.targets[step.target]
        result = _back_up_target_safely(self.run, target)
        outputs: dict[str, object] = {
            "service": target.service, "host": target.host, "repository": target.repository,
            "snapshot": result.snapshot_id, "bytes_added": result.bytes_added, "files_new": result.files_new,
            "files_changed": result.files_changed, "seconds": round(result.duration, 3), "message": result.message,
            "total_bytes": result.bytes_processed, "unreachable": result.unreachable,
        }
        if self.run.steps_as_notes:
            self.run.notes.record(target.label, "backup", result.status, outputs)
        return StepOutput(result.status, outputs, result.message)


class _RetentionAction:
    """Retention of one repository, for the services whose backup succeeded in this run."""

    def __init__(self, run: _BackupRun, plan: BackupPlan) -> None:
        self.run = run
        self.plan = plan

    def _groups(self, step: PlannedStep, state: RunState) -> list[RetentionGroup]:
        groups = []
        for group in self.plan.retention:
            if group.repository != step.target:
                continue
            services = tuple(s for s in group.services
                             if state.status(f"backup:{s}@{group.repository}") in ("ok", "warning"))
            if services:
                groups.append(replace(group, services=services))
        return groups

    def check(self, step: PlannedStep, state: RunState) -> Verdict:
        if not self._groups(step, state):
            return Done("no backup to this repository succeeded: nothing to forget")
        return GO

    def apply(self, step: PlannedStep, state: RunState) -> StepOutput:
        outcomes = _apply_retention(self.run, self._groups(step, state))
        statuses = {o["status"] for o in outcomes}
        status = "failed" if "failed" in statuses else "warning" if "postponed" in statuses else "changed"
        message = "; ".join(o["message"] for o in outcomes if o["message"])
        return StepOutput("ok" if status == "changed" else status, {"groups": outcomes}, message)


# ---------------------------------------------------------------------------------------------
# One host, one target
# ---------------------------------------------------------------------------------------------


def _back_up_target_safely(context: _BackupRun, target: BackupTarget) -> TargetResult:
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
    return result


def _failed(target: BackupTarget, message: str, started: float) -> TargetResult:
    return TargetResult(service=target.service, host=target.host, repository=target.repository, status="failed",
                        message=message, duration=time.monotonic() - started)


def _back_up_target(context: _BackupRun, target: BackupTarget, started: float) -> TargetResult:
    transport = context.transports(target.host)
    binary = target.restic
    password = context.passwords[target.repository]

    # the path check runs while the free space is measured in the background (another host,
    # usually): both must pass before restic starts, and a full disk is reported first
    missing = _missing_paths(transport, target.paths)
    space, unknown_because = context.space.get(target)
    notes: list[str] = []
    if space is None:
        notes.append(f"free space of the repository unknown ({unknown_because})")
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


def _run_with_recovery(context: _BackupRun, transport: Transport, binary: str, target: BackupTarget,
                       argv: list[str], password: str) -> ResticRun:
    """Run a backup; on a missing repository init it (with --init) and run again; on a lock remove the
    stale ones (with --unlock), then run again waiting up to `lock_wait` for a lock another process holds."""

    def run(wait: float, locked: ResticRun | None = None) -> ResticRun:
        return run_restic_waiting_for_lock(transport, argv, password, wait=wait, binary=binary,
                                           versions=context.versions, timeout=BACKUP_TIMEOUT, locked=locked)

    result = run(0.0)
    if result.outcome == "no-repository" and context.settings.init:
        context.progress(target, "init")
        version = context.versions.get(transport, binary)
        created = initialise_repository(transport, binary, target.repository_url, password, version)
        context.notes.record(target.repository, "init", "ok", {"created": created, "host": target.host})
        result = run(0.0)
    if result.outcome == "locked":
        if context.settings.unlock:
            context.progress(target, "unlock")
            remove_stale_locks(transport, binary, target.repository_url, password)
            context.notes.record(target.repository, "unlock", "ok",
                                   {"lock": parse_lock_message(result.result.stderr), "host": target.host})
            result = run(context.settings.lock_wait)  # the stale locks are gone: try again at once
        elif context.settings.lock_wait > 0:
            context.progress(target, "waiting for the repository's lock")
            result = run(context.settings.lock_wait, locked=result)
    if result.outcome == "locked":
        holder = parse_lock_message(result.result.stderr) or "by another process"
        waited = f" (waited {context.settings.lock_wait:g} s)" if context.settings.lock_wait > 0 else ""
        hint = ("that lock is held by a live process (--unlock removes only stale locks); --lock-wait SECONDS "
                "waits for it" if context.settings.unlock
                else "if that lock is stale (its process is gone), run again with --unlock; if its process "
                     "runs, --lock-wait SECONDS waits for it")
        raise ResticError(f"{target.host}: repository {target.repository} is locked{waited}: {holder}; {hint}",
                          kind="locked")
    return result


def _dump_database(context: _BackupRun, transport: Transport, binary: str, target: BackupTarget,
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


def _apply_retention(context: _BackupRun, groups: list[RetentionGroup]) -> list[dict[str, Any]]:
    """`forget` per group of services (those whose backup succeeded), never `prune`: prune rewrites
    packs under restic's exclusive lock and would cost every night as much as the backup itself; it runs
    on its own schedule (`chaton prune`, ops/prune.py).

    The outcome of each group: ok (with the policy, snapshots removed and kept), failed, or postponed
    (the repository stayed locked by another process, a `check` or a prune: the snapshot was made, so
    its services end with a warning)."""
    outcomes: list[dict[str, Any]] = []
    for group in groups:
        try:
            done = _forget(context, group)
            outcomes.append({"services": list(group.services), "status": "ok", "message": "", **done})
        except RetentionPostponed as postponed:
            outcomes.append({"services": list(group.services), "status": "postponed",
                             "message": mask_text(postponed.message)})
        except ChatonError as failure:
            outcomes.append({"services": list(group.services), "status": "failed", "message": mask_text(failure.message)})
    return outcomes


def _run_retention_command(context: _BackupRun, group: RetentionGroup, argv: list[str], what: str) -> ResticRun:
    """forget, waiting for restic's lock (stale locks removed first with --unlock); a lock
    still held at the end postpones retention."""
    transport = context.transports(group.host)
    url = context.loaded.inventory.repositories[group.repository].url
    password = context.passwords[group.repository]
    wait = max(context.settings.lock_wait, context.settings.retention_lock_wait)

    def run(wait: float, locked: ResticRun | None = None) -> ResticRun:
        return run_restic_waiting_for_lock(transport, argv, password, wait=wait, binary=group.restic,
                                           versions=context.versions, timeout=RETENTION_TIMEOUT, locked=locked)

    result = run(0.0)
    if result.outcome == "locked":
        if context.settings.unlock:
            remove_stale_locks(transport, group.restic, url, password)
            result = run(wait)  # the stale locks are gone: try again at once, then wait
        else:
            result = run(wait, locked=result)
    if result.outcome == "locked":
        holder = parse_lock_message(result.result.stderr) or "by another process"
        raise RetentionPostponed(
            f"snapshot made; retention ({what}) postponed to the next run: {group.repository} stayed locked "
            f"for {wait:g} s ({holder})" + ("" if context.settings.unlock else
                                           " (if that lock is stale, run again with --unlock)"),
            kind="locked")
    return result


def _forget(context: _BackupRun, group: RetentionGroup) -> dict[str, Any]:
    """One `forget` of a group (no prune): what it did (policy, snapshots removed and kept), journaled
    with the retention step."""
    url = context.loaded.inventory.repositories[group.repository].url
    argv = build_forget_argv(group.restic, url, tags=group.tags, keep_flags=group.keep_flags, prune=False)
    run = _run_retention_command(context, group, argv, "forget")
    if not run.succeeded:
        raise run.error(f"retention (forget) of {', '.join(group.services)} in {group.repository}")
    groups = parse_forget(run.result.stdout)
    removed = [snapshot for g in groups for snapshot in g.remove]
    return {"policy": list(group.keep_flags), "removed": len(removed), "kept": sum(len(g.keep) for g in groups)}
