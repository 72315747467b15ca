"""`chaton deploy` as one use case: the playbook validated and rendered (no host touched), the runbook
(one step per service × host: its whole playbook run), connections, the journal's run with its plan,
then the engine. `--dry-run` builds the same runbook and reads each step's playbook plan from its host.

The engine step is the whole playbook run on one host; the playbook's own steps are the journal's
rows of the run (one per playbook step, as `history` shows them), written by the action: the engine
adds none of its own for it (`journals_parts`). A failing playbook step stops its playbook, and the
playbook steps after it are neither run nor journaled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.ports import StepNotes, Transport
from chaton_ops.core.runbook import Plan, PlannedStep, RunStatus
from chaton_ops.errors import ChatonError, ExitCode
from chaton_ops.ops.deploy import (
    DeployReport,
    Phase,
    PreparedDeploy,
    Probe,
    apply_playbook,
    journal_args,
    plan_deploy,
    prepare_deploy,
    probing_with,
)
from chaton_ops.ops.engine import (
    GO,
    EventSink,
    RunResult,
    RunState,
    StepOutput,
    StepResult,
    Verdict,
    apply_plan,
    default_summary,
    start_run,
)


@dataclass(frozen=True)
class DeployRequest:
    """What the person asked for: a service's playbook (or one of its phases) on a host."""

    service: str
    host: str | None = None  # None: the service's own host
    phase: Phase = "steps"
    dry_run: bool = False


@dataclass(frozen=True)
class Deployment:
    """What a deploy did (or, dry run, would do): the runbook, one report per step, the engine's run."""

    plan: Plan
    reports: tuple[DeployReport, ...]
    run: RunResult | None = None


def step_key(prepared: PreparedDeploy) -> str:
    return f"deploy:{prepared.service}@{prepared.host}"


def deploy_runbook(prepared: Sequence[PreparedDeploy]) -> Plan:
    """One step per service × host: its playbook run (lane: the host, so that the playbooks of a host
    run one after another)."""
    steps = tuple(
        PlannedStep(key=step_key(p), action="playbook", title=f"deploy {p.service} on {p.host}", host=p.host,
                    target=p.service, lane=f"host:{p.host}",
                    inputs={"service": p.service, "playbook": p.playbook.name, "phase": p.phase,
                            "steps": len(p.steps)})
        for p in prepared)
    return Plan("deploy", steps)


class PlaybookAction:
    """A runbook step: the whole playbook of a service on a host; its rows are the playbook's steps."""

    journals_parts = True

    def __init__(self, prepared: Mapping[str, PreparedDeploy], transports: Callable[[str], Transport],
                 notes: StepNotes | None, *, probe: Probe) -> None:
        self.prepared = prepared
        self.transports = transports
        self.notes = notes
        self.probe = probe
        self.reports: dict[str, DeployReport] = {}
        self.errors: dict[str, ChatonError] = {}  # a host that could not be reached and the like

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO  # each playbook step gathers its own facts just before it runs

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        prepared = self.prepared[step.key]
        try:
            report = apply_playbook(prepared, self.transports(prepared.host), notes=self.notes,
                                    run_id=run.run_id, probe=self.probe)
        except ChatonError as error:
            self.errors[step.key] = error
            raise
        self.reports[step.key] = report
        outputs = {"changed": report.changed, "steps": len(report.outcomes)}
        if report.failure is not None:
            failure = report.failure
            return StepOutput("failed", outputs, f"step {failure.index + 1} ({failure.label}): {failure.message}")
        return StepOutput("changed" if report.changed else "ok", outputs,
                          f"{report.changed} of {len(report.outcomes)} steps changed")

    def summarize(self, results: list[StepResult]) -> tuple[RunStatus, ExitCode]:
        """The engine's summary, except that an error (an unreachable host: 4) keeps its exit code."""
        status, code = default_summary(results)
        if self.errors and status == "failed":
            return status, max((error.exit_code for error in self.errors.values()), default=code)
        return status, code


def deploy_service(loaded: LoadedInventory, request: DeployRequest, *, warn: Callable[[str], None],
                   on_event: EventSink | None = None) -> Deployment:
    """Validate and render, then run the playbook as a runbook (or, dry run, plan it on the host), then
    tell the admins how the run went (ops/compose.py `announce_run`; delivery problems to `warn`).

    Raises what `prepare_deploy` raises before any host is touched, and an error that stopped a step
    (an unreachable host) after the run is journaled and told."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.probes import NetworkProbes
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.adapters.templates import TemplateRenderer
    from chaton_ops.ops.compose import announce_run

    prepared = [prepare_deploy(loaded, request.service, request.host, templates=TemplateRenderer,
                               phase=request.phase)]
    plan = deploy_runbook(prepared)
    by_key = {step_key(p): p for p in prepared}
    with HostPool(loaded) as pool:
        if request.dry_run:
            return Deployment(plan, tuple(
                DeployReport(p.service, p.host, p.playbook.name, p.phase, dry_run=True,
                             plans=plan_deploy(p, pool.transport(p.host))) for p in prepared))
        with FileLocks().hold(run_locks(plan), wait_option=False), Journal(default_journal_path()) as journal:
            action = PlaybookAction(by_key, pool.transport, journal, probe=probing_with(NetworkProbes()))
            run_id = start_run(journal, plan, journal_args(prepared[0]))
            result = apply_plan(plan, {"playbook": action}, journal, run_id, on_event=on_event,
                                summarize=action.summarize)
    announce_run(loaded, result.summary(), warn)
    for error in action.errors.values():
        raise error
    return Deployment(plan, tuple(action.reports[s.key] for s in plan.steps if s.key in action.reports), result)
