"""`chaton deploy`: run a service's playbook on a host — validate and render → gather facts → plan → apply.

Everything is validated and rendered before the host is touched (problems: InventoryError, exit 2).
Each step gathers its facts just before it runs, so it sees what earlier steps did; a failing step
stops the run and later steps' files stay as they were. Failover calls `prepare_deploy(...,
phase="after_restore")` then `run_playbook` for the steps a playbook runs after a data restore.

The templates (`templates`: a playbook folder → the Templates port) and the probes of `wait` steps
(`probe`, built with `probing_with(probes)`) come from the callers' composition roots.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.playbook import (
    LoadedPlaybook,
    PlaybookError,
    Step,
    find_playbook,
    load_playbook,
    validation_problems,
)
from chaton_ops.core.playbook_plan import (
    Action,
    ServiceManager,
    StepFacts,
    StepPlan,
    dpkg_query_argv,
    parse_missing_packages,
    parse_stat,
    plan_step,
    service_commands,
    stat_argv,
    template_context,
)
from chaton_ops.core.playbook_variables import variable_defaults
from chaton_ops.core.ports import Probes, StepNotes, Templates, TemplatesFor, Transport
from chaton_ops.errors import ChatonError, InventoryError, Problem, UsageError
from chaton_ops.ops.inventory_check import service_variable_problems

Phase = Literal["steps", "after_restore", "stop", "start", "undeploy"]
StepStatus = Literal["ok", "changed", "failed"]
# (target, timeout, expected HTTP status) -> None when it answered, else why not
Probe = Callable[[str, float, int], str | None]
OUTPUT_TAIL_LINES = 15
PROBE_TIMEOUT = 5.0  # one attempt of a `wait` step; the step polls until its own timeout


@dataclass(frozen=True)
class PreparedStep:
    """A step with its strings rendered, and for a template the rendered file."""

    index: int
    step: Step
    content: bytes | None = None


@dataclass(frozen=True)
class PreparedDeploy:
    service: str
    host: str
    manager: ServiceManager
    playbook: LoadedPlaybook
    steps: tuple[PreparedStep, ...]
    phase: Phase = "steps"


@dataclass(frozen=True)
class StepFailure:
    """Why a step failed: the command, its exit code and the tail of its output (or a message)."""

    index: int
    label: str
    message: str
    argv: tuple[str, ...] = ()
    returncode: int | None = None
    output_tail: str = ""


@dataclass(frozen=True)
class StepOutcome:
    index: int
    label: str
    kind: str
    status: StepStatus
    reason: str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployReport:
    service: str
    host: str
    playbook: str
    phase: Phase
    dry_run: bool
    plans: tuple[StepPlan, ...] = ()
    outcomes: tuple[StepOutcome, ...] = ()
    failure: StepFailure | None = None
    run_id: int | None = None

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "changed")


class DeployJournal(Protocol):
    """What ops/deploy needs of adapters/journal.Journal."""

    def start_run(self, command: str, args: list[str]) -> int: ...

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int: ...

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None: ...


# ------------------------------------------------------------------------------ prepare (no host)
def prepare_deploy(loaded: LoadedInventory, service_name: str, host_name: str | None = None, *,
                   templates: TemplatesFor, phase: Phase = "steps",
                   environ: dict[str, str] | None = None) -> PreparedDeploy:
    """Find, validate and render (with `templates` of the playbook's folder) the service's playbook for a
    host; every problem at once (InventoryError)."""
    inventory = loaded.inventory
    if service_name not in inventory.services:
        raise UsageError(f"unknown service '{service_name}' (known: {', '.join(sorted(inventory.services)) or 'none'})")
    service = inventory.services[service_name]
    host = host_name or service.host
    if host not in inventory.hosts:
        raise UsageError(f"unknown host '{host}' (known: {', '.join(sorted(inventory.hosts))})")
    if service.playbook is None:
        raise InventoryError(Problem(f"service '{service_name}' has no playbook",
                                     path=f"services.{service_name}.playbook",
                                     file=loaded.where(("services", service_name)).split(":")[0]))
    loaded_playbook = load_playbook(find_playbook(service.playbook, loaded.playbook_search_path(environ)))
    problems = service_variable_problems(loaded, loaded_playbook, service_name)
    if problems:
        raise InventoryError(problems)
    defaults = variable_defaults(loaded_playbook.playbook.variables)
    context = template_context(inventory, service_name, host, defaults)
    manager = inventory.hosts[host].service_manager
    steps = render_steps(loaded_playbook, context, phase, manager, templates(loaded_playbook.folder))
    return PreparedDeploy(service_name, host, manager, loaded_playbook, steps, phase)


def render_steps(loaded: LoadedPlaybook, context: dict[str, Any], phase: Phase,
                 manager: ServiceManager, renderer: Templates) -> tuple[PreparedStep, ...]:
    problems: list[Problem] = []
    prepared: list[PreparedStep] = []
    for index, step in enumerate(getattr(loaded.playbook, phase)):
        base = (phase, index)
        data = _render_value(step.model_dump(exclude_none=True), base, renderer, context, loaded, problems)
        try:
            rendered = Step.model_validate(data)
        except Exception as error:  # pydantic.ValidationError: the rendered value is not valid
            from pydantic import ValidationError

            if not isinstance(error, ValidationError):
                raise
            problems += validation_problems(error, loaded.positions, str(loaded.file), prefix=base)
            continue
        content = None
        if rendered.template is not None:
            result = renderer.render_file(rendered.template.src, context)
            if result.problem is not None:
                problems.append(result.problem)
                continue
            content = (result.text or "").encode("utf-8")
        if rendered.reload is not None and manager == "direct" and rendered.reload.direct is None:
            file, line = loaded.where((*base, "reload"))
            problems.append(Problem(f"reload {rendered.reload.service}: hosts with service_manager direct need "
                                    "`direct:` commands (status, start, reload)", f"{phase}[{index}].reload",
                                    file, line))
        if rendered.stop is not None and manager == "direct" and rendered.stop.direct is None:
            file, line = loaded.where((*base, "stop"))
            problems.append(Problem(f"stop {rendered.stop.service}: hosts with service_manager direct need "
                                    "`direct:` commands (status, stop)", f"{phase}[{index}].stop", file, line))
        prepared.append(PreparedStep(index, rendered, content))
    if problems:
        raise PlaybookError(problems)
    return tuple(prepared)


def _render_value(value: Any, path: tuple[str | int, ...], renderer: Templates, context: dict[str, Any],
                  loaded: LoadedPlaybook, problems: list[Problem]) -> Any:
    if isinstance(value, str):
        file, line = loaded.where(path)
        result = renderer.render_string(value, context, file=file, line=line)
        if result.problem is not None:
            problems.append(result.problem)
            return value
        return result.text
    if isinstance(value, dict):
        return {k: _render_value(v, (*path, k), renderer, context, loaded, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, (*path, i), renderer, context, loaded, problems) for i, v in enumerate(value)]
    return value


# ------------------------------------------------------------------------------ facts (read-only)
def gather_facts(transport: Transport, step: Step, manager: ServiceManager) -> StepFacts:
    """Read what the step needs to know from the host; changes nothing."""
    if step.packages is not None:
        result = transport.run(dpkg_query_argv(step.packages), check=False)
        return StepFacts(missing_packages=parse_missing_packages(result.stdout, step.packages))
    if step.directory is not None:
        return StepFacts(path=_stat(transport, step.directory.path))
    if step.template is not None:
        state = _stat(transport, step.template.dest)
        content = transport.get(step.template.dest) if state.kind == "regular file" else None
        return StepFacts(path=state, content=content)
    if step.command is not None:
        return StepFacts(guard=_guard(transport, step))
    if step.reload is not None or step.stop is not None:
        status = service_commands(step, manager).status
        if status is None:
            return StepFacts(running=None)
        return StepFacts(running=transport.run(status, check=False).ok)
    return StepFacts()


def _stat(transport: Transport, path: str) -> Any:
    result = transport.run(stat_argv(path), check=False)
    return parse_stat(result.returncode, result.stdout)


def _guard(transport: Transport, step: Step) -> str | None:
    assert step.command is not None
    if step.command.creates is not None and _stat(transport, step.command.creates).exists:
        return f"{step.command.creates} exists"
    if step.command.unless is not None:
        if transport.run(step.command.unless, check=False, timeout=step.command.timeout).ok:
            return "`unless` command exited 0"
    return None


# ------------------------------------------------------------------------------ plan and apply
def plan_deploy(prepared: PreparedDeploy, transport: Transport) -> tuple[StepPlan, ...]:
    """The plan for --dry-run: facts of every step gathered up front, read-only."""
    plans: list[StepPlan] = []
    changed_before = False
    for item in prepared.steps:
        facts = gather_facts(transport, item.step, prepared.manager)
        plan = plan_step(item.index, item.step, facts, manager=prepared.manager,
                         changed_before=changed_before, content=item.content)
        changed_before = changed_before or plan.changes
        plans.append(plan)
    return tuple(plans)


def run_playbook(prepared: PreparedDeploy, transport: Transport, *, probe: Probe, dry_run: bool = False,
                 journal: DeployJournal | None = None) -> DeployReport:
    """Apply the prepared steps one by one (or only plan them with dry_run), as a run of its own in
    `journal` when one is given; `wait` steps ask `probe`. `chaton deploy` runs `apply_playbook` as a
    runbook step instead (ops/deploy_run.py)."""
    if dry_run:
        return DeployReport(prepared.service, prepared.host, prepared.playbook.name, prepared.phase, dry_run=True,
                            plans=plan_deploy(prepared, transport))
    run_id = journal.start_run("deploy", journal_args(prepared)) if journal else None
    try:
        report = apply_playbook(prepared, transport, notes=journal, run_id=run_id, probe=probe)
    except ChatonError as error:  # unreachable host and the like: journal it, then let the CLI report it
        if journal and run_id is not None:
            journal.finish_run(run_id, "failed", int(error.exit_code))
        raise
    if journal and run_id is not None:
        journal.finish_run(run_id, "failed" if report.failure else "ok", 1 if report.failure else 0)
    return report


def journal_args(prepared: PreparedDeploy) -> list[str]:
    """How a deploy's run is named in the journal (`history`)."""
    return [prepared.service, "--to", prepared.host, f"--phase={prepared.phase}"]


def apply_playbook(prepared: PreparedDeploy, transport: Transport, *, probe: Probe, notes: StepNotes | None = None,
                   run_id: int | None = None) -> DeployReport:
    """Apply the prepared steps one by one, each step's outcome a row of run `run_id` in `notes` (the
    run itself is the caller's); the first failing step stops the playbook; `wait` steps ask `probe`."""
    outcomes: list[StepOutcome] = []
    failure: StepFailure | None = None
    for item in prepared.steps:
        outcome, failure = _apply_step(item, prepared, transport, probe,
                                       changed_before=any(o.status == "changed" for o in outcomes))
        outcomes.append(outcome)
        if notes is not None and run_id is not None:
            notes.record_step(run_id, prepared.host, f"{prepared.service}: {outcome.label}", outcome.status,
                              {"reason": outcome.reason, "commands": list(outcome.commands),
                               **({"error": failure.message} if failure else {})})
        if failure is not None:
            break
    return DeployReport(prepared.service, prepared.host, prepared.playbook.name, prepared.phase, dry_run=False,
                        outcomes=tuple(outcomes), failure=failure, run_id=run_id)


def _apply_step(item: PreparedStep, prepared: PreparedDeploy, transport: Transport, probe: Probe, *,
                changed_before: bool) -> tuple[StepOutcome, StepFailure | None]:
    step = item.step
    facts = gather_facts(transport, step, prepared.manager)
    plan = plan_step(item.index, step, facts, manager=prepared.manager, changed_before=changed_before,
                     content=item.content)
    if plan.error is not None:
        return (StepOutcome(item.index, plan.label, plan.kind, "failed", plan.error),
                StepFailure(item.index, plan.label, plan.error))
    done: list[str] = []
    for action in plan.actions:
        done.append(action.describe())
        failure = _apply_action(action, transport, probe, item.index, plan.label)
        if failure is not None:
            return StepOutcome(item.index, plan.label, plan.kind, "failed", failure.message, tuple(done)), failure
    status: StepStatus = "changed" if plan.changes else "ok"
    return StepOutcome(item.index, plan.label, plan.kind, status, plan.reason, tuple(done)), None


def _apply_action(action: Action, transport: Transport, probe: Probe, index: int, label: str) -> StepFailure | None:
    if action.kind == "wait":
        problem = probe(action.path, action.timeout or 30.0, action.status)
        return None if problem is None else StepFailure(index, label, problem)
    if action.kind == "put":
        assert action.data is not None
        try:
            transport.put(action.data, action.path, mode=action.mode)
        except ChatonError as error:
            if error.exit_code == 4:
                raise
            return StepFailure(index, label, f"cannot write {action.path}: {error}")
        return None
    result = transport.run(action.argv, env=dict(action.env) or None, timeout=action.timeout, check=False)
    if result.ok:
        return None
    output = "\n".join(part for part in (result.stdout.strip(), result.stderr.strip()) if part)
    tail = "\n".join(output.splitlines()[-OUTPUT_TAIL_LINES:])
    return StepFailure(index, label, f"`{shlex.join(result.argv)}` exited with {result.returncode}",
                       tuple(result.argv), result.returncode, tail)


def probing_with(probes: Probes) -> Probe:
    """The probe of `wait` steps: `probe_until_answering` through `probes` (the real ones are built by
    the composition roots: adapters/probes.py NetworkProbes)."""
    return partial(probe_until_answering, probes=probes)


def probe_until_answering(target: str, timeout: float, status: int = 200, *, probes: Probes) -> str | None:
    """Poll an http(s) URL (until it answers `status`) or a host:port (until it accepts a TCP
    connection) through the probes port, or time out."""
    deadline = time.monotonic() + timeout
    while True:
        last = _probe_once(probes, target, status)
        if last is None:
            return None
        if time.monotonic() >= deadline:
            return f"{target} did not answer within {timeout:g} s ({last})"
        time.sleep(0.2)


def _probe_once(probes: Probes, target: str, status: int) -> str | None:
    from pydantic import ValidationError

    from chaton_ops.core.inventory import HttpCheck, TcpCheck

    if target.startswith(("http://", "https://")):
        try:
            check = HttpCheck(url=target, status=status, timeout=PROBE_TIMEOUT)  # type: ignore[arg-type]
        except ValidationError:
            return f"{target!r} is not a valid URL"
        answer = probes.http(check)
        if answer.error is not None:
            return answer.error
        return None if answer.status == status else f"HTTP {answer.status}, expected {status}"
    address, _, port = target.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{target!r} is neither an http(s) URL nor HOST:PORT"
    try:
        check_tcp = TcpCheck(host=address.strip("[]"), port=int(port), timeout=PROBE_TIMEOUT)
    except ValidationError:
        return f"{address!r} is not a host name or address"
    return probes.tcp(check_tcp).error
