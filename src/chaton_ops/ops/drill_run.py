"""`chaton drill` as one use case: the services chosen, the runbook (one step per service: its drill on
the host where a failover would restore it), connections, the journal's run with its plan, then the
engine. `--dry-run` builds the same runbook and touches no host.

Each step is a whole drill (ops/drill.py: restore into scratch, verify, load and query the databases,
measure, remove the scratch); its rows in the journal are the drill's own (`drill`, `drill database`,
`drill result`: what `status`, the break-glass runbook and failover's speed estimate read), written by
the action (`journals_parts`). A lane per service: a failed drill does not stop the next one; with one
job (the default) the drills run one after another, so that their speeds stay comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.ports import Secrets, Transport
from chaton_ops.core.runbook import Plan, PlannedStep, RunStatus
from chaton_ops.core.selection import select_services
from chaton_ops.errors import ExitCode
from chaton_ops.ops.compose import inventory_secrets
from chaton_ops.ops.drill import DrillResult, drill_exit_code, drill_host, drill_on
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
    start_run,
)
from chaton_ops.ops.restore import RestoreRunJournal
from chaton_ops.ops.restore_facts import choose_repository


@dataclass(frozen=True)
class DrillRequest:
    """What the person asked for: services (or all of them), optionally all on one host."""

    services: tuple[str, ...] = ()
    all_services: bool = False
    on: str | None = None  # None: each service's fallback, else its host
    dry_run: bool = False


@dataclass(frozen=True)
class Drills:
    """What a drill run did (or, dry run, would do): the runbook, one result per drill, the engine's run."""

    plan: Plan
    results: tuple[DrillResult, ...] = ()
    run: RunResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        return self.run.exit_code if self.run is not None else ExitCode.OK


def drill_runbook(loaded: LoadedInventory, services: Sequence[str], on: str | None = None) -> Plan:
    """One step per service, on its drill host (`on`, else its fallback, else its host), in a lane of its
    own; the repository it reads is its first. Raises UsageError for an unknown host or a service
    without a repository (before anything runs)."""
    steps = []
    for service in services:
        host = drill_host(loaded, service, on)
        repository = choose_repository(loaded, service, None)
        steps.append(PlannedStep(key=f"drill:{service}@{host}", action="drill", title=f"drill {service} on {host}",
                                 host=host, target=service, lane=f"service:{service}",
                                 inputs={"service": service, "repository": repository}))
    return Plan("drill", tuple(steps), inputs={"on": on} if on else {})


class DrillAction:
    """A runbook step: one service's drill; its rows are the drill's own (see the module's docstring)."""

    journals_parts = True

    def __init__(self, loaded: LoadedInventory, transports: Callable[[str], Transport],
                 journal: RestoreRunJournal | None, secrets: Secrets) -> None:
        self.loaded = loaded
        self.transports = transports
        self.journal = journal
        self.secrets = secrets
        self.results: dict[str, DrillResult] = {}

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO  # the drill gathers its facts (snapshot, space) itself, just before it restores

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        assert step.host is not None
        result = drill_on(self.loaded, step.target, step.host, self.transports, repository=step.inputs["repository"],
                          secrets=self.secrets, journal=self.journal, run_id=run.run_id if self.journal is not None else None,
                          progress=lambda text: run.progress(step, text))
        self.results[step.key] = result
        outputs = {**result.detail(), "age_seconds": result.age_seconds}
        if result.error:
            return StepOutput("failed", outputs, result.error)
        return StepOutput("ok", outputs, f"{result.files} entries, {result.bytes} bytes at "
                                         f"{result.mb_per_second:.1f} MB/s, verified")

    def summarize(self, results: list[StepResult]) -> tuple[RunStatus, ExitCode]:
        """As `chaton drill` always ended: ok, or failed with 1 (4 when every drill failed for an
        unreachable host)."""
        code = drill_exit_code([self.results[r.step.key] for r in results if r.step.key in self.results])
        if code == ExitCode.OK and not all(r.succeeded for r in results):
            code = ExitCode.FAILED  # a step that failed before its drill could say why
        return ("ok" if code == ExitCode.OK else "failed"), code


def run_drills(loaded: LoadedInventory, plan: Plan, transports: Callable[[str], Transport], *,
               journal: RestoreRunJournal | None, run_id: int | None, on_event: EventSink | None = None,
               jobs: int = 1, secrets: Secrets | None = None) -> Drills:
    """Apply a drill runbook (journaled as `run_id` by `start_run`, or not at all without a journal);
    the repositories' passwords from `secrets`, the inventory's references by default."""
    action = DrillAction(loaded, transports, journal, secrets if secrets is not None else inventory_secrets(loaded))
    result = apply_plan(plan, {"drill": action}, journal if journal is not None else NoJournal(),
                        run_id if run_id is not None else 0, jobs=jobs, on_event=on_event, summarize=action.summarize)
    # a step that failed before its drill could say why (a bug): a failed drill with the engine's message
    results = tuple(action.results.get(r.step.key) or DrillResult(r.step.target, r.step.host or "-", error=r.message)
                    for r in result.steps)
    return Drills(plan, results, result)


def drill_services(loaded: LoadedInventory, request: DrillRequest, *, warn: Callable[[str], None],
                   on_event: EventSink | None = None) -> Drills:
    """Choose, plan, then drill as a runbook (or, dry run, return the runbook), then tell the admins how
    it went (ops/compose.py `announce_run`; delivery problems to `warn`). Raises UsageError (unknown
    service or host, nothing chosen) before any host is touched."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.ops.compose import announce_run

    names = select_services(loaded.inventory, list(request.services), all_services=request.all_services)
    plan = drill_runbook(loaded, names, request.on)
    if request.dry_run:
        return Drills(plan)
    with HostPool(loaded) as pool, FileLocks().hold(run_locks(plan), wait_option=False), \
            Journal(default_journal_path()) as journal:  # a drill locks nothing today (core/locks.py)
        run_id = start_run(journal, plan, [*names, *(["--on", request.on] if request.on else [])])
        drills = run_drills(loaded, plan, pool.transport, journal=journal, run_id=run_id, on_event=on_event)
    announce_run(loaded, drills.run.summary() if drills.run is not None else None, warn)
    return drills
