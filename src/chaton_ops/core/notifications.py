"""What to tell whom at the start and end of a run: pure planning, no network.

Destinations are secret NAMES (their URLs carry tokens); the ops layer resolves them only to send.
Events, per subject (a service, else what a step is about: a repository, a guest…), compare this
run's status with the last one recorded for the same command: failure (failed now), recovery (failed
last time, succeeds now), warning, success.

Two plans, one way to write messages:
- `plan_run_messages`: any command's run from its RunSummary (core/run_report.py): apprise messages
  only. Healthchecks pings stay the nightly backup's dead-man's switch: a deploy that pinged them
  would hide a backup that did not run. Failover and failback tell every admin whatever
  `notify.events` says: the collective moved (or did not).
- `plan_notifications`: the backup's run from its own RunReport, whose statuses merge the retention
  of each repository into its services (a failed `forget` fails the services it concerned), with the
  snapshot ids and the per-service pings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.core.run_report import RunSummary, StepSummary

Signal = Literal["start", "success", "fail"]
Event = Literal["failure", "recovery", "warning", "success"]
NotifyType = Literal["info", "success", "warning", "failure"]

# Healthchecks.io accepts up to 100 kB; a short body is all a ping needs.
PING_BODY_LIMIT = 10_000
# Moving the collective to another host, or back, is news for every admin, a success too.
ALWAYS_TOLD_COMMANDS = frozenset({"failover", "failback"})
_EVENT_HEADINGS: dict[Event, str] = {
    "failure": "Failed",
    "recovery": "Recovered",
    "warning": "Warnings",
    "success": "Succeeded",
}


@dataclass(frozen=True)
class Ping:
    """A healthchecks-style ping: `<url>/start`, `<url>` (success) or `<url>/fail`."""

    secret: str
    signal: Signal
    scope: str  # "run" or the service's name, to say in a problem which ping did not arrive
    body: str = ""


@dataclass(frozen=True)
class Message:
    """One apprise notification to the URL held by `secret`."""

    secret: str
    title: str
    body: str
    notify_type: NotifyType


@dataclass(frozen=True)
class NotificationPlan:
    events: dict[str, tuple[Event, ...]]
    pings: tuple[Ping, ...]
    messages: tuple[Message, ...]
    statuses: dict[str, str] = field(default_factory=dict)  # this run's status per service, to remember


def ping_url(base_url: str, signal: Signal) -> str:
    """The URL to request for `signal` (healthchecks convention)."""
    base = base_url.rstrip("/")
    return base if signal == "success" else f"{base}/{signal}"


def plan_start_pings(inventory: Inventory, services: list[str] | tuple[str, ...]) -> tuple[Ping, ...]:
    """`/start` for the run's URLs and for those of each service about to run."""
    pings = [Ping(secret, "start", "run") for secret in inventory.notify.healthchecks]
    for service in services:
        pings.extend(Ping(secret, "start", service) for secret in _service_healthchecks(inventory, service))
    return tuple(pings)


def service_events(status: str, previous: str | None) -> tuple[Event, ...]:
    """The events one service's status gives, knowing its previous status (None: unknown)."""
    if status == "failed":
        return ("failure",)
    events: list[Event] = []
    if previous == "failed":
        events.append("recovery")
    events.append("warning" if status == "warning" else "success")
    return tuple(events)


def plan_notifications(inventory: Inventory, run: RunReport, previous: dict[str, str]) -> NotificationPlan:
    """Pings and messages for the end of `run`; `previous` is the last status per service."""
    statuses = run.service_statuses()
    events = {service: service_events(status, previous.get(service)) for service, status in statuses.items()}
    return NotificationPlan(
        events=events,
        pings=_end_pings(inventory, run),
        messages=_messages(inventory, run, events),
        statuses=dict(statuses),
    )


def _service_healthchecks(inventory: Inventory, service: str) -> list[str]:
    settings = inventory.services[service].notify if service in inventory.services else None
    return list(settings.healthchecks) if settings is not None else []


def _end_pings(inventory: Inventory, run: RunReport) -> tuple[Ping, ...]:
    run_signal: Signal = "fail" if run.failed() else "success"
    pings = [Ping(secret, run_signal, "run", _truncate(describe_run(inventory, run)))
             for secret in inventory.notify.healthchecks]
    for service, results in run.by_service().items():
        signal: Signal = "fail" if any(result.status == "failed" for result in results) else "success"
        body = _truncate("\n".join(describe_result(result) for result in results))
        pings.extend(Ping(secret, signal, service, body) for secret in _service_healthchecks(inventory, service))
    return tuple(pings)


def _apprise_destinations(inventory: Inventory, service: str) -> list[str]:
    settings = inventory.services[service].notify if service in inventory.services else None
    if settings is not None and settings.apprise is not None:
        return list(settings.apprise)
    return list(inventory.notify.apprise)


def _messages(inventory: Inventory, run: RunReport, events: dict[str, tuple[Event, ...]]) -> tuple[Message, ...]:
    by_service = run.by_service()
    lines = {service: [describe_result(result) for result in results] for service, results in by_service.items()}
    return _route(inventory, run.command, events, lines, head=describe_run(inventory, run, summary_only=True),
                  wanted=set(inventory.notify.events), ok_part=lambda names: f"ok ({len(names)} services)")


def _route(inventory: Inventory, command: str, events: dict[str, tuple[Event, ...]], lines: dict[str, list[str]],
           *, head: str, wanted: set[str], ok_part: Callable[[list[str]], str]) -> tuple[Message, ...]:
    """One message per destination: the subjects routed to it (a service's own `notify.apprise`, else
    the collective's), grouped by event, in run order."""
    routed: dict[str, dict[Event, list[str]]] = {}
    for subject, subject_events in events.items():
        for destination in _apprise_destinations(inventory, subject):
            for event in subject_events:
                if event in wanted:
                    routed.setdefault(destination, {}).setdefault(event, []).append(subject)
    return tuple(Message(secret=destination, title=_title(inventory, command, grouped, ok_part),
                         body=_body(head, grouped, lines), notify_type=_notify_type(grouped))
                 for destination, grouped in routed.items())


def _title(inventory: Inventory, command: str, grouped: dict[Event, list[str]],
           ok_part: Callable[[list[str]], str]) -> str:
    parts = [f"{_EVENT_HEADINGS[event].lower()}: {', '.join(grouped[event])}"
             for event in ("failure", "recovery", "warning") if event in grouped]
    if not parts:
        parts = [ok_part(grouped.get("success", []))]
    return f"[{inventory.collective.name}] {command} " + "; ".join(parts)


def _body(head: str, grouped: dict[Event, list[str]], lines: dict[str, list[str]]) -> str:
    body = [head]
    for event in ("failure", "recovery", "warning", "success"):
        if event not in grouped:
            continue
        body.append("")
        body.append(f"{_EVENT_HEADINGS[event]}:")
        for subject in grouped[event]:
            body.extend(f"- {line}" for line in lines[subject])
    return "\n".join(body)


def _notify_type(grouped: dict[Event, list[str]]) -> NotifyType:
    if "failure" in grouped:
        return "failure"
    if "warning" in grouped:
        return "warning"
    return "success"


def describe_run(inventory: Inventory, run: RunReport, *, summary_only: bool = False) -> str:
    """One line about the run, then (unless summary_only) one line per target."""
    started = run.started.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    counts = {status: sum(1 for r in run.results if r.status == status) for status in ("ok", "warning", "failed")}
    head = (f"{inventory.collective.name}: {run.command} started {started}, took {run.duration:.0f} s, "
            f"{run.status} ({counts['ok']} ok, {counts['warning']} warning, {counts['failed']} failed)")
    if summary_only:
        return head
    return "\n".join([head, *(describe_result(result) for result in run.results)])


def describe_result(result: TargetResult) -> str:
    where = f"{result.service} on {result.host}"
    if result.repository:
        where += f" → {result.repository}"
    detail = result.message.strip().splitlines()[0] if result.message.strip() else ""
    if not detail and result.snapshot_id:
        detail = f"snapshot {result.snapshot_id}"
    return f"{where}: {result.status}" + (f": {detail}" if detail else "")


def _truncate(text: str) -> str:
    return text if len(text) <= PING_BODY_LIMIT else text[: PING_BODY_LIMIT - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Any command's run, from its RunSummary
# ---------------------------------------------------------------------------------------------

_FAILED_STEP_STATUSES = frozenset({"failed", "skipped", "interrupted", "running", "pending"})


def step_subject(step: StepSummary) -> str:
    """What a step is about: its service when it is about one, else its target (a repository for
    check, prune and repo, a guest for vm, a file for schedule…), else its key.

    Every runbook names its service as the step's target (deploy, restore, drill, failover, failback,
    tenant remove's undeploy/remove-data/forget) except backup, whose target is `SERVICE@REPOSITORY`
    (key `backup:SERVICE@REPOSITORY`)."""
    if step.key is not None and step.key.startswith("backup:"):
        return step.key.removeprefix("backup:").rsplit("@", 1)[0]
    return step.target or step.key or step.action


def subject_status(steps: list[StepSummary] | tuple[StepSummary, ...]) -> str:
    """failed when one of its steps failed, was skipped (a step it needed failed) or did not end;
    warning when one warned; else ok (a no-op, whatever its reason, is ok)."""
    statuses = {step.status for step in steps}
    if statuses & _FAILED_STEP_STATUSES:
        return "failed"
    return "warning" if "warning" in statuses else "ok"


def by_subject(summary: RunSummary) -> dict[str, tuple[StepSummary, ...]]:
    """The run's steps grouped by subject, subjects in the order they first appear."""
    grouped: dict[str, list[StepSummary]] = {}
    for step in summary.steps:
        grouped.setdefault(step_subject(step), []).append(step)
    return {subject: tuple(steps) for subject, steps in grouped.items()}


def apprise_configured(inventory: Inventory) -> bool:
    """Whether any run could send a message: the collective's `notify.apprise` or a service's own."""
    return bool(inventory.notify.apprise) or any(
        service.notify is not None and service.notify.apprise for service in inventory.services.values())


def plan_run_messages(inventory: Inventory, summary: RunSummary | None, previous: dict[str, str]) -> NotificationPlan:
    """The apprise messages for the end of a run of any command (`summary` None: a dry run or a plan
    refused before it started: nothing ran, nothing to tell); `previous` is the last status per
    subject for the same command. No pings: healthchecks are backup's (see the module's doc)."""
    if summary is None or not summary.steps:
        return NotificationPlan(events={}, pings=(), messages=())
    grouped = by_subject(summary)
    statuses = {subject: subject_status(steps) for subject, steps in grouped.items()}
    events = {subject: service_events(status, previous.get(subject)) for subject, status in statuses.items()}
    wanted: set[str] = set(_EVENT_HEADINGS) if summary.command in ALWAYS_TOLD_COMMANDS else set(inventory.notify.events)
    lines = {subject: [describe_step(subject, step) for step in steps] for subject, steps in grouped.items()}
    messages = _route(inventory, summary.command, events, lines, head=describe_summary(inventory, summary, statuses),
                      wanted=wanted, ok_part=lambda names: f"ok: {', '.join(names)}")
    return NotificationPlan(events=events, pings=(), messages=messages, statuses=statuses)


def describe_summary(inventory: Inventory, summary: RunSummary, statuses: dict[str, str]) -> str:
    """One line about the run: when, how long, how it ended, how many subjects ended how."""
    started = summary.started_at.replace("T", " ")[:19]
    took = ""
    try:
        took = f", took {(_parse(summary.ended_at) - _parse(summary.started_at)).total_seconds():.0f} s"
    except (TypeError, ValueError):
        pass
    counts = {status: sum(1 for s in statuses.values() if s == status) for status in ("ok", "warning", "failed")}
    return (f"{inventory.collective.name}: {summary.command} (run {summary.run}) started {started} UTC{took}, "
            f"{summary.status} ({counts['ok']} ok, {counts['warning']} warning, {counts['failed']} failed)")


def describe_step(subject: str, step: StepSummary) -> str:
    """`subject on host: action status: message` (its first line)."""
    where = f"{subject} on {step.host}" if step.host else subject
    detail = step.message.strip().splitlines()[0] if step.message.strip() else ""
    detail = detail.removeprefix(f"{step.status}: ")  # the engine's "skipped: needs …" says it once
    return f"{where}: {step.action} {step.status}" + (f": {detail}" if detail else "")


def _parse(text: str | None) -> datetime:
    if text is None:
        raise ValueError("no time")
    return datetime.fromisoformat(text)
