"""The runbook engine: applies a Plan step by step, journaling each step before it starts and with
its outputs after, re-checking each step's precondition just before it runs, and resuming a run
where it stopped.

An action (one per `PlannedStep.action`) has two methods:
- `check(step, run)`: the precondition, read just before the step runs: `GO`, `Done(reason)` (its
  effect is already there: recorded as a no-op) or `Refuse(reason)` (it must not run: failed);
- `apply(step, run)`: does the work and returns a `StepOutput` (status and outputs, JSON data the
  journal keeps and later steps read with `run.outputs(key)`), or raises a ChatonError.

An action whose class sets `journals_parts = True` writes its own rows in the run's journal (a
deploy: one row per playbook step, through `StepNotes`); the engine then adds no row for its steps
that run (a planned no-op or a skip is still journaled), and such a step is done again on resume.

Phases run one after another; the lanes of a phase run in plan order, up to `jobs` at once; a failed
step skips the rest of its lane and every step that needs it. Nothing here knows about restic, SSH
or DNS: the actions do.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import JournaledStep, RunJournal
from chaton_ops.core.run_report import RunSummary, StepSummary
from chaton_ops.core.runbook import SUCCESS_STATUSES, Plan, PlannedStep, RunStatus, run_status
from chaton_ops.errors import ChatonError, ExitCode, UsageError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# What actions return
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Go:
    pass


@dataclass(frozen=True)
class Done:
    reason: str


@dataclass(frozen=True)
class Refuse:
    reason: str


GO = Go()
Verdict = Go | Done | Refuse


@dataclass(frozen=True)
class StepOutput:
    status: str = "changed"  # ok (nothing needed changing), changed, warning
    outputs: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""


class Action(Protocol):
    # optional class attribute: journals_parts = True (the action journals its own rows, see above)

    def check(self, step: PlannedStep, run: RunState) -> Verdict: ...

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput: ...


# ---------------------------------------------------------------------------------------------
# What the caller sees
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    step: PlannedStep
    status: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    duration: float = 0.0
    earlier: bool = False  # finished by an earlier attempt of this run (resume): not done again

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS_STATUSES


@dataclass(frozen=True)
class RunResult:
    run_id: int
    command: str
    steps: tuple[StepResult, ...]
    started: dt.datetime
    ended: dt.datetime
    status: RunStatus
    exit_code: ExitCode

    @property
    def duration(self) -> float:
        return max(0.0, (self.ended - self.started).total_seconds())

    def result(self, key: str) -> StepResult | None:
        return next((r for r in self.steps if r.step.key == key), None)

    def summary(self) -> RunSummary:
        """The run in the one report shape every command shares (core/run_report.py)."""
        return RunSummary(self.run_id, self.command, self.status, int(self.exit_code), self.started.isoformat(),
                          self.ended.isoformat(), tuple(
                              StepSummary(r.step.key, r.step.action, r.step.target, r.step.host, r.status, r.message,
                                          r.outputs, None if r.step.noop is not None else r.duration)
                              for r in self.steps))


@dataclass(frozen=True)
class StepEvent:
    """Progress for the CLI: a step started, said something, or ended (with its result)."""

    kind: str  # "start", "progress", "end"
    step: PlannedStep
    text: str = ""
    result: StepResult | None = None
    done: int | None = None  # progress: how much of `total` is done (bytes restored, say), when known
    total: int | None = None


EventSink = Callable[[StepEvent], None]
Summarize = Callable[[list[StepResult]], tuple[RunStatus, ExitCode]]


def default_summary(results: list[StepResult]) -> tuple[RunStatus, ExitCode]:
    status = run_status([r.status for r in results])
    code = {"ok": ExitCode.OK, "warning": ExitCode.OK, "partial": ExitCode.PARTIAL,
            "failed": ExitCode.FAILED, "interrupted": ExitCode.FAILED}[status]
    return status, code


class RunState:
    """What a step sees of its run: its id, the outputs of the steps that ended well, progress."""

    def __init__(self, run_id: int, on_event: EventSink) -> None:
        self.run_id = run_id
        self._on_event = on_event
        self._results: dict[str, StepResult] = {}
        self._lock = threading.Lock()

    def outputs(self, key: str) -> Mapping[str, Any] | None:
        with self._lock:
            result = self._results.get(key)
        return result.outputs if result is not None and result.succeeded else None

    def status(self, key: str) -> str | None:
        with self._lock:
            result = self._results.get(key)
        return result.status if result is not None else None

    def progress(self, step: PlannedStep, text: str, *, done: int | None = None, total: int | None = None) -> None:
        self._on_event(StepEvent("progress", step, text, done=done, total=total))

    def _record(self, result: StepResult) -> None:
        with self._lock:
            self._results[result.step.key] = result


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class NoJournal:
    """A RunJournal that keeps nothing: a use case run without a journal (unit tests, a library caller)."""

    def start_run(self, command: str, args: list[str], *, plan: dict[str, Any] | None = None) -> int:
        return 0

    def resume_run(self, run_id: int) -> None:
        return None

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None:
        return None

    def plan(self, run_id: int) -> dict[str, Any] | None:
        return None

    def begin_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                         inputs: dict[str, Any]) -> int:
        return 0

    def end_keyed_step(self, step_id: int, status: str, *, outputs: dict[str, Any] | None = None,
                       error: str | None = None, reason: str | None = None) -> None:
        return None

    def record_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                          status: str, inputs: dict[str, Any], reason: str) -> int:
        return 0

    def keyed_steps(self, run_id: int) -> Mapping[str, JournaledStep]:
        return {}

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int:
        return 0


class NoLocks:
    """A Locks port that holds nothing: a use case run without chaton's locks (unit tests, a library caller)."""

    def hold(self, names: Sequence[str], *, wait: float = 0.0,
             wait_option: bool = True) -> AbstractContextManager[None]:
        return nullcontext()


def start_run(journal: RunJournal, plan: Plan, args: list[str]) -> int:
    """Journal a new run with its plan (before any step runs)."""
    return journal.start_run(plan.command, args, plan=plan.as_dict())


def load_plan(journal: RunJournal, run_id: int) -> Plan:
    stored = journal.plan(run_id)
    if stored is None:
        raise UsageError(f"run {run_id} has no stored plan: it cannot be resumed")
    return Plan.from_dict(stored)


def apply_plan(
    plan: Plan,
    actions: Mapping[str, Action],
    journal: RunJournal,
    run_id: int,
    *,
    jobs: int = 1,
    on_event: EventSink | None = None,
    summarize: Summarize = default_summary,
    resume: bool = False,
) -> RunResult:
    """Apply `plan` as run `run_id` (journaled by `start_run`, or an unfinished run when resuming).

    On resume, steps that ended well in an earlier attempt are not run again: their outputs are read
    from the journal. KeyboardInterrupt (Ctrl-C, SIGTERM turned into it by the CLI) marks the run and
    its running steps interrupted, then propagates."""
    missing = sorted({s.action for s in plan.steps if s.noop is None} - set(actions))
    if missing:
        raise ValueError(f"no action for: {', '.join(missing)}")
    sink = on_event or (lambda event: None)
    state = RunState(run_id, sink)
    started = dt.datetime.now(dt.UTC)
    earlier = journal.keyed_steps(run_id) if resume else {}
    if resume:
        journal.resume_run(run_id)
    results: dict[str, StepResult] = {}
    try:
        for phase in plan.phases():
            _run_phase(phase, actions, journal, run_id, state, results, earlier, sink, jobs)
    except KeyboardInterrupt:
        journal.finish_run(run_id, "interrupted", 130)
        raise
    ordered = [results[s.key] for s in plan.steps]
    status, code = summarize(ordered)
    journal.finish_run(run_id, status, int(code))
    return RunResult(run_id, plan.command, tuple(ordered), started, dt.datetime.now(dt.UTC), status, code)


def _run_phase(lanes: list[list[PlannedStep]], actions: Mapping[str, Action], journal: RunJournal, run_id: int,
               state: RunState, results: dict[str, StepResult], earlier: Mapping[str, JournaledStep], sink: EventSink,
               jobs: int) -> None:
    def run_lane(lane: list[PlannedStep]) -> None:
        blocked: str | None = None
        for step in lane:
            result = _run_step(step, actions, journal, run_id, state, earlier, sink, blocked)
            results[step.key] = result
            state._record(result)
            if not result.succeeded and blocked is None and not step.independent:
                blocked = f"{step.title} did not succeed"

    if jobs <= 1 or len(lanes) == 1:
        for lane in lanes:  # in this thread: Ctrl-C stops the run between two steps, or in one
            run_lane(lane)
        return
    with ThreadPoolExecutor(max_workers=min(jobs, len(lanes)), thread_name_prefix="lane") as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()


def _run_step(step: PlannedStep, actions: Mapping[str, Action], journal: RunJournal, run_id: int, state: RunState,
              earlier: Mapping[str, JournaledStep], sink: EventSink, blocked: str | None) -> StepResult:
    previous = earlier.get(step.key)
    if previous is not None and previous.done:
        detail = previous.detail
        return StepResult(step, previous.status, detail.get("outputs", {}),
                          detail.get("reason") or "done by an earlier attempt of this run", earlier=True)

    def record(status: str, reason: str) -> StepResult:
        journal.record_keyed_step(run_id, step.key, action=step.action, target=step.target, host=step.host,
                                  status=status, inputs=dict(step.inputs), reason=reason)
        result = StepResult(step, status, message=reason)
        sink(StepEvent("end", step, reason, result))
        return result

    if step.noop is not None:
        return record("noop", step.noop)
    if blocked is not None:
        return record("skipped", f"skipped: {blocked}")
    unmet = [need for need in step.needs if state.status(need) not in SUCCESS_STATUSES]
    if unmet:
        return record("skipped", f"skipped: needs {', '.join(unmet)}, which did not succeed")

    action = actions[step.action]
    sink(StepEvent("start", step, step.title))
    own_rows = bool(getattr(action, "journals_parts", False))
    step_id = None if own_rows else journal.begin_keyed_step(run_id, step.key, action=step.action,
                                                             target=step.target, host=step.host,
                                                             inputs=dict(step.inputs))
    began = time.monotonic()
    try:
        verdict = action.check(step, state)
        if isinstance(verdict, Done):
            status, output = "noop", StepOutput("noop", message=verdict.reason)
        elif isinstance(verdict, Refuse):
            status, output = "failed", StepOutput("failed", message=verdict.reason)
        else:
            output = action.apply(step, state)
            status = output.status
    except KeyboardInterrupt:
        if step_id is not None:
            journal.end_keyed_step(step_id, "interrupted", error="interrupted")
        raise
    except ChatonError as failure:
        status, output = "failed", StepOutput("failed", message=mask_text(failure.message))
    except Exception as failure:  # noqa: BLE001 - a bug in one step must not hide the others' results
        log.debug("step %s failed unexpectedly", step.key, exc_info=True)
        status = "failed"
        output = StepOutput("failed", message=mask_text(f"unexpected error: {type(failure).__name__}: {failure}"))
    duration = time.monotonic() - began
    outputs = {**output.outputs, "duration": round(duration, 3)}
    if step_id is not None:
        journal.end_keyed_step(step_id, status, outputs=outputs,
                               error=output.message if status == "failed" else None,
                               reason=output.message if status != "failed" and output.message else None)
    result = StepResult(step, status, outputs, output.message, duration)
    sink(StepEvent("end", step, output.message, result))
    return result
