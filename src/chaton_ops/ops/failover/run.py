"""Failover, rehearsal and failback use cases: gather → plan → apply on the runbook engine → report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from chaton_ops.core.failover import (
    FailbackService,
    FailoverPlan,
    plan_failback,
    plan_failover,
    select_failback_services,
)
from chaton_ops.core.locks import run_locks
from chaton_ops.core.runbook import Plan, RunStatus
from chaton_ops.errors import ChatonError, ExitCode, UsageError
from chaton_ops.ops.engine import EventSink, RunResult, StepResult, apply_plan, load_plan, start_run
from chaton_ops.ops.failover.actions import failover_actions
from chaton_ops.ops.failover.context import FailoverContext
from chaton_ops.ops.failover.gather import gather_failover_facts, host_answers
from chaton_ops.ops.failover.playbooks import playbook_features

RUNBOOK_COMMANDS = ("failover", "rehearsal", "failback")


class FailoverRefused(ChatonError):
    """The preflight says no: nothing was changed."""

    def __init__(self, reasons: Sequence[str], *, unreachable: bool = False) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = tuple(reasons)
        self.exit_code = ExitCode.UNREACHABLE if unreachable else ExitCode.FAILED


@dataclass(frozen=True)
class ServiceOutcome:
    service: str
    snapshot: str | None
    data_age_seconds: float | None
    duration: float
    local_check: str
    dns: str
    outside_check: str
    undo: str
    result: str
    message: str = ""


@dataclass(frozen=True)
class RunbookReport:
    run: RunResult
    services: tuple[ServiceOutcome, ...]
    rto_seconds: float | None  # failover: start → verified; rehearsal: start → last local check


# ---------------------------------------------------------------------------------------------
# Unfinished runs: resume, or refuse a second one
# ---------------------------------------------------------------------------------------------


def unfinished_run(ctx: FailoverContext, command: str) -> int | None:
    """The newest unfinished run of `command` (interrupted, failed or partial: resumable), None if none.
    A run still going in another process is refused: two runbooks never act at once."""
    runs = ctx.journal.unfinished_runs(command)
    if not runs:
        return None
    newest = runs[0]
    if newest.status == "running":  # the journal marks runs whose process died as interrupted
        raise UsageError(f"{command} run {newest.id} is running now (process {newest.pid} on {newest.machine}): "
                         "wait for it to end")
    return int(newest.id)


def refuse_if_unfinished(ctx: FailoverContext, command: str) -> None:
    for other in RUNBOOK_COMMANDS if command != "rehearsal" else ("rehearsal",):
        run_id = unfinished_run(ctx, other)
        if run_id is not None:
            raise UsageError(f"{other} run {run_id} did not finish: continue it with `chaton {_resume_hint(other)}` "
                             f"(it redoes nothing that finished), or set it aside with `chaton {other if other != 'rehearsal' else 'failover'} "
                             f"--abandon`")


def _resume_hint(command: str) -> str:
    return {"failover": "failover --resume", "failback": "failback --resume",
            "rehearsal": "failover --rehearse --resume"}[command]


def abandon_unfinished(ctx: FailoverContext, command: str) -> int | None:
    run_id = unfinished_run(ctx, command)
    if run_id is not None:
        ctx.journal.finish_run(run_id, "abandoned", int(ExitCode.FAILED))
    return run_id


# ---------------------------------------------------------------------------------------------
# Failover and rehearsal
# ---------------------------------------------------------------------------------------------


def prepare_failover(ctx: FailoverContext, services: Sequence[str], to: str, *, final_backup: bool = True,
                     rehearse: bool = False) -> FailoverPlan:
    """Gather the facts (changing nothing) and plan; refusals are in the plan, not raised."""
    facts = gather_failover_facts(ctx, services, to)
    return plan_failover(facts, final_backup=final_backup, rehearse=rehearse)


def apply_failover(ctx: FailoverContext, prepared: FailoverPlan | None, *, args: list[str],
                   on_event: EventSink | None = None, resume_run: int | None = None,
                   started: dt.datetime | None = None) -> RunbookReport:
    """Apply a prepared failover (refused when the preflight said no), or resume an unfinished one."""
    started = started or ctx.clock()
    if resume_run is not None:
        plan = load_plan(ctx.journal, resume_run)
    else:
        assert prepared is not None
        if prepared.refusals:
            fallback_down = any(r.startswith("the fallback ") for r in prepared.refusals)
            raise FailoverRefused(prepared.refusals, unreachable=fallback_down)
        plan = prepared.plan
    with ctx.locks.hold(run_locks(plan), wait_option=False):  # before the run is journaled: refused, no run
        run_id = resume_run if resume_run is not None else start_run(ctx.journal, plan, args)
        result = apply_plan(plan, failover_actions(ctx), ctx.journal, run_id, on_event=on_event, jobs=ctx.jobs,
                            summarize=lambda results: summarize(plan, results), resume=resume_run is not None)
    report = report_of(plan, result, started)
    _record_rto(ctx, report)
    return report


def summarize(plan: Plan, results: list[StepResult]) -> tuple[RunStatus, ExitCode]:
    """A runbook's status from its services: each moved (or brought home, or rehearsed) or not."""
    outcomes = [o.result for o in service_outcomes(plan, results)]
    if any(r.status == "interrupted" for r in results):
        return "interrupted", ExitCode.FAILED
    if all(o == "ok" for o in outcomes):
        return "ok", ExitCode.OK
    if any(o == "ok" for o in outcomes):
        return "partial", ExitCode.PARTIAL
    return "failed", ExitCode.FAILED


def service_outcomes(plan: Plan, results: Sequence[StepResult]) -> list[ServiceOutcome]:
    by_key = {r.step.key: r for r in results}
    outcomes = []
    for name in plan.inputs.get("services", []):
        mine = [r for r in results if r.step.target == name]
        restore = next((r for r in mine if r.step.action == "restore"), None)
        local = next((r for r in mine if r.step.key.startswith("check-local:")), None)
        dns = by_key.get(f"dns:{name}")
        verify = by_key.get(f"verify:{name}")
        undo = next((r for r in mine if r.step.action == "undo"), None)
        failed = [r for r in mine if not r.succeeded]
        snapshot = restore.outputs.get("snapshot") if restore is not None else None
        data_age = restore.outputs.get("snapshot_age_seconds") if restore is not None else None
        ok = not failed
        message = failed[0].message if failed else ""
        if plan.command != "rehearsal" and local is not None and local.succeeded and dns is not None \
                and not dns.succeeded:
            message = f"runs on {dns.step.inputs.get('host')} but DNS was not switched: {dns.message}"
        outcomes.append(ServiceOutcome(
            service=name, snapshot=snapshot, data_age_seconds=data_age,
            duration=sum(r.duration for r in mine if r.step.action != "undo"),
            local_check=_status(local), dns=_status(dns), outside_check=_status(verify), undo=_status(undo),
            result="ok" if ok else "failed", message=message))
    return outcomes


def _status(result: StepResult | None) -> str:
    if result is None:
        return "-"
    return {"changed": "ok", "noop": "-" if result.step.noop else "ok"}.get(result.status, result.status)


def report_of(plan: Plan, result: RunResult, started: dt.datetime) -> RunbookReport:
    outcomes = service_outcomes(plan, result.steps)
    rto = None
    if result.status in ("ok", "partial"):
        rto = (result.ended - started).total_seconds()
        if plan.command == "rehearsal":  # undoing is not part of the time to recover
            rto -= sum(r.duration for r in result.steps if r.step.action == "undo")
    return RunbookReport(result, tuple(outcomes), rto)


def _record_rto(ctx: FailoverContext, report: RunbookReport) -> None:
    if report.rto_seconds is None:
        return
    step_id = ctx.journal.begin_keyed_step(report.run.run_id, "rto", action="measure", target="run", host=None,
                                           inputs={})
    ctx.journal.end_keyed_step(step_id, "ok", outputs={"rto_seconds": round(report.rto_seconds, 1)},
                               reason=f"{report.run.command}: back in {report.rto_seconds:.0f} s")


# ---------------------------------------------------------------------------------------------
# Failback
# ---------------------------------------------------------------------------------------------


def prepare_failback(ctx: FailoverContext, names: Sequence[str], *, stop_first: bool = False,
                     clean: bool = False) -> Plan:
    """The services away from home (named, else all), refused unless every home host answers."""
    loaded = ctx.loaded
    away = {name: (p.host, p.home) for name, p in loaded.placements.items()
            if p.away and name in loaded.inventory.services}
    unknown = [n for n in names if n not in loaded.inventory.services]
    if unknown:
        raise UsageError(f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    chosen = loaded.inventory.services_by_priority(select_failback_services(away, names))
    homes = sorted({away[n][1] for n in chosen})
    down = [facts for facts in (host_answers(ctx, home) for home in homes) if not facts.answers]
    if down:
        raise FailoverRefused([f"home host {f.name} does not answer ({f.problem}): fail back once it is repaired"
                               for f in down], unreachable=True)
    services = []
    for name in chosen:
        fallback, home = away[name]
        service = loaded.inventory.services[name]
        features = playbook_features(loaded, name, home)
        services.append(FailbackService(
            name=name, fallback=fallback, home=home, failover_run=loaded.placements[name].run_id,
            has_playbook=service.playbook is not None, has_after_restore=features.after_restore,
            has_stop=features.stop, has_check=service.check is not None,
            dns_zones=tuple(dict.fromkeys(r.zone for r in service.dns))))
    addresses = {home: loaded.inventory.hosts[home].address for home in homes}
    return plan_failback(services, home_addresses=addresses, stop_first=stop_first, clean=clean)


def apply_failback(ctx: FailoverContext, plan: Plan | None, *, args: list[str], on_event: EventSink | None = None,
                   resume_run: int | None = None) -> RunbookReport:
    started = ctx.clock()
    if resume_run is not None:
        plan = load_plan(ctx.journal, resume_run)
    else:
        assert plan is not None
    with ctx.locks.hold(run_locks(plan), wait_option=False):  # before the run is journaled: refused, no run
        run_id = resume_run if resume_run is not None else start_run(ctx.journal, plan, args)
        result = apply_plan(plan, failover_actions(ctx), ctx.journal, run_id, on_event=on_event, jobs=ctx.jobs,
                            summarize=lambda results: summarize(plan, results), resume=resume_run is not None)
    return report_of(plan, result, started)
