"""The changing commands of `chaton vm` as use cases: onboot --fix, snapshot, snapshot --prune, rollback,
vzdump. The composition root of `chaton vm`: `connect` builds the API clients and opens the journal.

Each use case gathers facts and plans a runbook (ops/vm/changes.py, ops/vm/vzdump.py), stops there for
--dry-run (the same runbook is what runs), refuses when a cluster it changes has lost quorum, asks
`confirm` for destructive plans, then journals the run with its plan and applies it on the engine:
each step re-checked just before it runs (ops/vm/actions.py), its task awaited within a bound, read
back after. The report keeps one result per guest change; the exit code is `exit_code_for` of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.ports import Locks, RunJournal
from chaton_ops.core.run_report import RunSummary
from chaton_ops.core.runbook import Plan, RunStatus
from chaton_ops.core.vm_plan import Change, GuestResult, OnbootCheck, PrunePlan, exit_code_for
from chaton_ops.errors import ChatonError, ExitCode
from chaton_ops.ops.engine import EventSink, RunResult, StepResult, apply_plan, start_run
from chaton_ops.ops.vm.actions import GuestChanges, vm_actions
from chaton_ops.ops.vm.changes import (
    PreparedRun,
    prepare_onboot,
    prepare_prune,
    prepare_rollback,
    prepare_snapshot,
)
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    JournalPort,
    JournalRun,
    failed_result,
    read_running,
    require_quorum,
)
from chaton_ops.ops.vm.vzdump import VzdumpChoices, plan_vzdump

Notify = Callable[[str], None]
Confirm = Callable[[Plan], bool]


class VmJournal(RunJournal, JournalPort, Protocol):
    """The journal of a vm run: the engine's run with its plan, the actions' rows (adapters/journal.Journal)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class VmSession:
    """What the use cases of `chaton vm` reach the world with: the inventory, an API client per cluster, the
    journal (opened only for a run that changes something), and the person (notes, confirmation, progress)."""

    inventory: Inventory
    api_for: ApiFactory
    journal: Callable[[], AbstractContextManager[VmJournal]]
    confirm: Confirm
    notify: Notify = lambda note: None
    on_event: EventSink | None = None
    now: Callable[[], dt.datetime] = _utc_now
    locks: Locks | None = None  # chaton's locks (core/locks.py; none for the vm actions today)
    announce: Callable[[RunSummary], None] = lambda summary: None  # the admins told how a run went


def connect(loaded: LoadedInventory, *, confirm: Confirm, notify: Notify = lambda note: None,
            on_event: EventSink | None = None) -> VmSession:
    """The real clusters (proxmoxer, imported on first use) and the journal."""
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.proxmox import ProxmoxClients
    from chaton_ops.adapters.run_locks import FileLocks

    def insecure(cluster: str) -> None:
        notify(f"proxmox.{cluster}: verify_tls is false: the API's certificate is not checked, so anyone on the "
               "way can pose as the cluster and read the token; set ca_file instead")

    from chaton_ops.ops.compose import announce_run

    return VmSession(loaded.inventory, ProxmoxClients(loaded, on_insecure=insecure),
                     lambda: Journal(default_journal_path()), confirm, notify, on_event, locks=FileLocks(),
                     announce=lambda summary: announce_run(loaded, summary, notify))


# ------------------------------------------------------------------------------------------ reports
@dataclass(frozen=True)
class VmRun:
    """What a changing command planned (its runbook; `changes`: the calls it sends), and (unless dry run or
    declined) what happened: one result per guest change, and the engine's run."""

    command: str
    changes: tuple[Change, ...]
    results: tuple[GuestResult, ...] = ()
    dry_run: bool = False
    declined: bool = False
    notes: tuple[str, ...] = ()
    run_id: int | None = None
    plan: Plan | None = None
    run: RunResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.declined else exit_code_for(self.results)


@dataclass(frozen=True)
class OnbootReport:
    checks: tuple[OnbootCheck, ...]
    run: VmRun
    errors: dict[str, ChatonError] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every inventory guest starts with its node (after --fix); 1 when one would not or cannot be
        checked; 3/4 when some fixes failed; a cluster that could not be read gives its own code."""
        if self.run.declined:
            return ExitCode.FAILED
        if self.run.results and exit_code_for(self.run.results):
            return exit_code_for(self.run.results)
        fixed = {(r.cluster, r.vmid) for r in self.run.results if r.status == "ok"}
        if any(c.problem and (c.cluster, c.vmid) not in fixed for c in self.checks):
            return ExitCode.FAILED
        for error in self.errors.values():
            return error.exit_code
        return ExitCode.OK


@dataclass(frozen=True)
class RollbackReport:
    run: VmRun
    was_running: bool
    running_after: bool | None = None


@dataclass(frozen=True)
class PruneReport:
    run: VmRun
    plan: PrunePlan


@dataclass(frozen=True)
class VzdumpReport:
    run: VmRun
    errors: dict[str, ChatonError]

    @property
    def exit_code(self) -> ExitCode:
        return vzdump_exit_code(self.run.exit_code, self.run.results, self.errors)


def vzdump_exit_code(code: ExitCode, results: Sequence[GuestResult], errors: dict[str, ChatonError]) -> ExitCode:
    if code or not errors:
        return code
    # nothing failed among the guests reached, but a cluster could not be read at all
    return ExitCode.PARTIAL if results else next(iter(errors.values())).exit_code


# ------------------------------------------------------------------------------------------ requests
@dataclass(frozen=True)
class OnbootRequest:
    fix: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class SnapshotRequest:
    host: str
    name: str | None = None  # default chaton-YYYY-MM-DD-HHMM (UTC)
    vmstate: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class PruneRequest:
    host: str
    keep: int | None = None
    older_than_days: float | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class RollbackRequest:
    host: str
    name: str
    dry_run: bool = False


@dataclass(frozen=True)
class VzdumpRequest:
    hosts: tuple[str, ...] = ()
    all_guests: bool = False
    storage: str | None = None
    mode: str | None = None
    jobs: int | None = None  # default: the inventory's defaults.jobs
    dry_run: bool = False


# ------------------------------------------------------------------------------------------ the run
def _status_of(code: ExitCode) -> RunStatus:
    return {0: "ok", 3: "partial"}.get(int(code), "failed")  # type: ignore[return-value]


def _apply(session: VmSession, prepared: PreparedRun, *, jobs: int = 1, tolerate_unreachable: bool = False,
           exit_code: Callable[[list[GuestResult]], ExitCode] = exit_code_for) -> VmRun:
    """Journal the run with its plan, apply it on the engine; an error that stopped the calls to a cluster
    (a refused token; an unreachable API, unless tolerated) is raised once the run is journaled."""
    plan = prepared.plan
    locks = run_locks(plan)  # the one lock policy: a command without an entry there is refused
    holding = session.locks.hold(locks, wait_option=False) if session.locks is not None and locks else nullcontext()
    with holding, session.journal() as journal:
        run_id = start_run(journal, plan, list(prepared.args))
        shared = GuestChanges(prepared.changes, session.api_for, JournalRun.of(journal, run_id),
                              notify=session.notify, tolerate_unreachable=tolerate_unreachable)

        def summarize(steps: list[StepResult]) -> tuple[RunStatus, ExitCode]:
            if shared.errors:
                return "failed", next(iter(shared.errors.values())).exit_code
            # a step that failed without a guest result (skipped, or a bug) counts as failed too
            results = [shared.results.get(r.step.key) or failed_result(prepared.changes[r.step.key], r.message)
                       for r in steps if r.step.key in shared.results or not r.succeeded]
            code = exit_code(results)
            return _status_of(code), code

        result = apply_plan(plan, vm_actions(shared), journal, run_id, jobs=jobs, on_event=session.on_event,
                            summarize=summarize)
    session.announce(result.summary())
    for error in shared.errors.values():
        raise error
    return VmRun(plan.command, prepared.sent, tuple(shared.results_in([s.key for s in plan.steps])),
                 notes=prepared.notes + tuple(shared.notes), run_id=run_id, plan=plan, run=result)


def _planned(prepared: PreparedRun, *, dry_run: bool = False, declined: bool = False,
             notes: Sequence[str] = ()) -> VmRun:
    return VmRun(prepared.plan.command, prepared.sent, dry_run=dry_run, declined=declined,
                 notes=prepared.notes + tuple(notes), plan=prepared.plan)


def _require_quorum(session: VmSession, prepared: PreparedRun) -> None:
    for cluster in prepared.clusters:
        require_quorum(session.api_for(cluster))


# ------------------------------------------------------------------------------------------ use cases
def fix_onboot(session: VmSession, request: OnbootRequest) -> OnbootReport:
    """`chaton vm onboot [--fix]`: the inventory's guests that would not start with their node, and with
    --fix `onboot=1` on exactly those (each config re-read just before and after its change)."""
    facts, prepared = prepare_onboot(session.inventory, session.api_for)
    if not request.fix or request.dry_run or not prepared.sent:
        return OnbootReport(facts.checks, _planned(prepared, dry_run=request.dry_run), facts.errors)
    _require_quorum(session, prepared)
    if not session.confirm(prepared.plan):
        return OnbootReport(facts.checks, _planned(prepared, declined=True), facts.errors)
    return OnbootReport(facts.checks, _apply(session, prepared), facts.errors)


def take_snapshot(session: VmSession, request: SnapshotRequest) -> VmRun:
    """`chaton vm snapshot HOST`: a snapshot before risky work, named chaton-YYYY-MM-DD-HHMM by default."""
    prepared = prepare_snapshot(session.inventory, session.api_for, request.host, name=request.name,
                                vmstate=request.vmstate, now=session.now(), notify=session.notify)
    if request.dry_run:
        return _planned(prepared, dry_run=True)
    _require_quorum(session, prepared)
    return _apply(session, prepared)


def roll_back(session: VmSession, request: RollbackRequest) -> RollbackReport:
    """`chaton vm rollback HOST --name N`: back to the snapshot (confirmed); a guest that was running runs
    again afterwards."""
    facts, prepared = prepare_rollback(session.inventory, session.api_for, request.host, name=request.name,
                                       notify=session.notify)
    if request.dry_run:
        return RollbackReport(_planned(prepared, dry_run=True), facts.was_running)
    _require_quorum(session, prepared)
    if not session.confirm(prepared.plan):
        return RollbackReport(_planned(prepared, declined=True), facts.was_running)
    run = _apply(session, prepared)
    return RollbackReport(run, facts.was_running, read_running(session.api_for(facts.cluster), facts.guest.ref))


def prune_snapshots(session: VmSession, request: PruneRequest) -> PruneReport:
    """`chaton vm snapshot --prune HOST --keep N|--older-than DAYS`: remove chaton's own dated snapshots
    beyond the policy (confirmed); snapshots with other names are never touched."""
    pruning, prepared = prepare_prune(session.inventory, session.api_for, request.host, keep=request.keep,
                                      older_than_days=request.older_than_days, now=session.now(),
                                      notify=session.notify)
    if request.dry_run or not prepared.sent:
        return PruneReport(_planned(prepared, dry_run=request.dry_run), pruning)
    _require_quorum(session, prepared)
    if not session.confirm(prepared.plan):
        return PruneReport(_planned(prepared, declined=True), pruning)
    return PruneReport(_apply(session, prepared), pruning)


def run_vzdump(session: VmSession, request: VzdumpRequest) -> VzdumpReport:
    """`chaton vm vzdump HOST…|--all`: one vzdump task per guest, the guests of a node one after another,
    nodes side by side up to `jobs`; an unreachable cluster does not stop the others."""
    choices = VzdumpChoices(storage=request.storage, mode=request.mode,
                            jobs=request.jobs or session.inventory.defaults.jobs)
    prepared, errors = plan_vzdump(session.inventory, session.api_for, request.hosts, all_guests=request.all_guests,
                                   choices=choices)
    if request.dry_run:
        notes = [f"{change.target}: {step.inputs['problem']}, would not be sent"
                 for step in prepared.plan.steps if step.inputs.get("problem")
                 for change in (prepared.changes[step.key],)]
        for note in notes:
            session.notify(note)
        return VzdumpReport(_planned(prepared, dry_run=True, notes=notes), errors)
    run = _apply(session, prepared, jobs=choices.jobs, tolerate_unreachable=True,
                 exit_code=lambda results: vzdump_exit_code(exit_code_for(results), results, errors))
    return VzdumpReport(run, errors)
