"""`chaton restore` as one use case: facts and plan read from the host (ops/restore.py), refused or
shown and confirmed, then the runbook (one step: the whole restore on its host), journaled with its
plan and applied by the engine. `--dry-run` builds the same runbook and stops before the question.

The engine step is the whole restore; its rows in the journal are the restore's own (`plan`, `space`,
`restore`, `load database`, `swap`, the playbook phases: what `history` always showed and what
failover's speed estimate reads), written by the action (`journals_parts`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.ports import Locks, Secrets, TemplatesFor, Transport
from chaton_ops.core.restore import RestorePlan, RestoreRefused
from chaton_ops.core.run_report import RunSummary
from chaton_ops.core.runbook import Plan, PlannedStep, RunStatus
from chaton_ops.errors import ChatonError, ExitCode
from chaton_ops.ops.compose import inventory_secrets, network_probes, playbook_templates
from chaton_ops.ops.deploy import Probe, probing_with
from chaton_ops.ops.engine import (
    GO,
    EventSink,
    NoJournal,
    RunResult,
    RunState,
    StepOutput,
    StepResult,
    Verdict,
    apply_plan,
    default_summary,
    start_run,
)
from chaton_ops.ops.restore import (
    PreparedRestore,
    RestoreReport,
    RestoreRunJournal,
    apply_restore,
    check_service_and_host,
    current_host,
    prepare_restore,
)

if TYPE_CHECKING:
    from chaton_ops.ops.restore_steps import RestoreProgress


@dataclass(frozen=True)
class RestoreRequest:
    """What the person asked for: a service's snapshot, where, in place or under a folder."""

    service: str
    snapshot: str = "latest"
    to: str | None = None  # None: where the service runs
    target: str | None = None  # a folder for inspection: nothing swapped, stopped or loaded
    repository: str | None = None  # None: the service's first
    dry_run: bool = False

    def journal_args(self) -> list[str]:
        return [self.service, "--snapshot", self.snapshot, *(["--to", self.to] if self.to else []),
                *(["--target", self.target] if self.target else [])]


@dataclass(frozen=True)
class PlannedRestore:
    """What is shown before anything changes: the runbook and the restore's plan (what, where, space)."""

    runbook: Plan
    plan: RestorePlan

    @property
    def live(self) -> bool:
        """It replaces the service's live data: it asks first."""
        return self.plan.live


@dataclass(frozen=True)
class Restoration:
    """What a restore did (or, dry run, would do): its plans, its report, the engine's run."""

    planned: PlannedRestore
    report: RestoreReport | None = None  # None: dry run
    run: RunResult | None = None


Confirm = Callable[[PlannedRestore], bool]


def step_key(plan: RestorePlan) -> str:
    return f"restore:{plan.service}@{plan.host}"


def restore_runbook(plan: RestorePlan) -> Plan:
    """One step: the whole restore of the service on its host (stage, verify, load, stop, swap, start,
    after_restore: one thing that ends with every path restored or as it was)."""
    where = {"in-place": "in place", "target": f"under {plan.root}", "drill": "into scratch"}[plan.mode]
    snapshot = plan.snapshot
    step = PlannedStep(
        key=step_key(plan), action="restore", title=f"restore {plan.service} {where}", host=plan.host,
        target=plan.service, lane=f"host:{plan.host}",
        inputs={"service": plan.service, "mode": plan.mode, "snapshot": snapshot.id if snapshot else None,
                "repository": plan.repository, "paths": [p.destination for p in plan.paths],
                "databases": [f"{d.engine}:{d.name}" for d in plan.databases], "bytes": plan.total_bytes,
                "live": plan.live, "in_place": plan.mode == "in-place" and plan.host == plan.home})
    return Plan("restore", (step,))


def describe_step(step: PlannedStep) -> str:
    """A runbook step's `what`, in a few words (the restore plan below it says the rest)."""
    inputs = step.inputs
    parts = [f"snapshot {inputs['snapshot'][:8]}" if inputs.get("snapshot") else "databases only"]
    if inputs.get("paths"):
        parts.append(f"{len(inputs['paths'])} path{'s' if len(inputs['paths']) > 1 else ''}")
    if inputs.get("databases"):
        parts.append(f"{len(inputs['databases'])} database{'s' if len(inputs['databases']) > 1 else ''}")
    return ", ".join(parts)


class RestoreAction:
    """The runbook step: `apply_restore` of the prepared plan; its rows are the restore's own."""

    journals_parts = True

    def __init__(self, loaded: LoadedInventory, prepared: PreparedRestore, transports: Callable[[str], Transport],
                 journal: RestoreRunJournal | None, *, templates: TemplatesFor, probe: Probe) -> None:
        self.loaded = loaded
        self.templates = templates
        self.probe = probe
        self.prepared = prepared
        self.transports = transports
        self.journal = journal
        self.report: RestoreReport | None = None
        self.error: ChatonError | None = None

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO  # refusals were read before the question; the free space is read again just before

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        def progress(stage: str, status: RestoreProgress | None) -> None:
            if status is None:
                run.progress(step, stage)
            else:
                run.progress(step, stage, done=status.bytes_restored, total=status.total_bytes)

        try:
            self.report = apply_restore(self.loaded, self.prepared, self.transports(self.prepared.plan.host),
                                        templates=self.templates, probe=self.probe, journal=self.journal,
                                        run_id=run.run_id if self.journal else None, progress=progress)
        except ChatonError as error:
            self.error = error
            raise
        report = self.report
        return StepOutput("changed", {"bytes": report.bytes, "restore_seconds": round(report.restore_seconds, 3),
                                      "verified": report.verified, "swaps": len(report.swaps),
                                      "databases": len(report.databases)},
                          f"{report.bytes} bytes restored{', verified' if report.verified else ''}")

    def summarize(self, results: list[StepResult]) -> tuple[RunStatus, ExitCode]:
        """The engine's summary, except that an error keeps its exit code (4: a host or the repository
        could not be reached)."""
        status, code = default_summary(results)
        if self.error is not None:
            return "failed", self.error.exit_code
        return status, code


def plan_restore_run(loaded: LoadedInventory, request: RestoreRequest, transports: Callable[[str], Transport], *,
                     secrets: Secrets | None = None,
                     templates: TemplatesFor | None = None) -> tuple[PreparedRestore, PlannedRestore]:
    """Facts, restore plan and runbook (read-only: what --dry-run shows); the repository's password from
    `secrets` (the inventory's references by default), the playbook rendered with `templates` (the
    playbooks' Jinja2 templates by default)."""
    prepared = prepare_restore(loaded, request.service, transports,
                               secrets=secrets if secrets is not None else inventory_secrets(loaded),
                               templates=templates if templates is not None else playbook_templates(),
                               snapshot=request.snapshot, to=request.to, target=request.target,
                               repository=request.repository)
    return prepared, PlannedRestore(restore_runbook(prepared.plan), prepared.plan)


def run_restore_plan(loaded: LoadedInventory, request: RestoreRequest, transports: Callable[[str], Transport], *,
                     journal: RestoreRunJournal | None = None, confirm: Confirm | None = None,
                     on_event: EventSink | None = None, locks: Locks | None = None,
                     announce: Callable[[RunSummary], None] | None = None) -> Restoration:
    """Plan; refuse, or ask when live data is replaced (`confirm`; without it a live restore is refused);
    then, holding the run's locks (core/locks.py: the service, for a restore in place on its host), the
    runbook on the engine, journaled as one run, then `announce`d (the admins told). Raises the error
    that stopped the restore after its run is journaled and announced (the message says what is where)."""
    templates = playbook_templates()
    prepared, planned = plan_restore_run(loaded, request, transports, templates=templates)
    plan = prepared.plan
    if request.dry_run:
        return Restoration(planned)
    if plan.refusals:
        raise RestoreRefused("; ".join(plan.refusals) + " (nothing was written)")
    if plan.live and (confirm is None or not confirm(planned)):
        raise ChatonError("not confirmed: nothing was changed")
    action = RestoreAction(loaded, prepared, transports, journal, templates=templates,
                           probe=probing_with(network_probes()))
    run_journal = journal if journal is not None else NoJournal()
    with locks.hold(run_locks(planned.runbook), wait_option=False) if locks is not None else nullcontext():
        run_id = start_run(run_journal, planned.runbook, request.journal_args())
        result = apply_plan(planned.runbook, {"restore": action}, run_journal, run_id, on_event=on_event,
                            summarize=action.summarize)
    if announce is not None:
        announce(result.summary())
    if action.error is not None:
        raise action.error
    if action.report is None:  # a bug in the step: the engine journaled it as failed
        failed = result.steps[0]
        raise ChatonError(f"restore of {plan.service} on {plan.host} failed: {failed.message}")
    return Restoration(planned, action.report, result)


def run_restore(loaded: LoadedInventory, service: str, transports: Callable[[str], Transport], *,
                snapshot: str = "latest", to: str | None = None, target: str | None = None,
                repository: str | None = None, confirm: Confirm | None = None,
                journal: RestoreRunJournal | None = None, on_event: EventSink | None = None) -> RestoreReport:
    """The whole restore for a library caller that holds its transports (tests, local use)."""
    request = RestoreRequest(service, snapshot, to, target, repository)
    done = run_restore_plan(loaded, request, transports, journal=journal, confirm=confirm, on_event=on_event)
    assert done.report is not None
    return done.report


def restore_service(loaded: LoadedInventory, request: RestoreRequest, *, warn: Callable[[str], None],
                    confirm: Confirm | None = None, on_event: EventSink | None = None) -> Restoration:
    """`chaton restore`: connections (started early), then `run_restore_plan` with the journal (none
    for a dry run), the admins told how the run went (ops/compose.py `announce_run`; delivery problems
    to `warn`). Raises UsageError for an unknown service or host before any host is touched."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.ops.compose import announce_run

    check_service_and_host(loaded, request.service, request.to)
    with HostPool(loaded) as pool:
        pool.connect_in_background([request.to or current_host(loaded, request.service)])
        if request.dry_run:
            return run_restore_plan(loaded, request, pool.transport)
        with Journal(default_journal_path()) as journal:
            return run_restore_plan(loaded, request, pool.transport, journal=journal, confirm=confirm,
                                    on_event=on_event, locks=FileLocks(),
                                    announce=lambda summary: announce_run(loaded, summary, warn))
