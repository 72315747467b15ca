"""What to tell whom at the start and end of a run: pure planning, no network.

Destinations are secret NAMES (their URLs carry tokens); the ops layer resolves them only to send.
Events, per service, compare this run's status with the last one recorded for the same command:
failure (failed now), recovery (failed last time, succeeds now), warning, success.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.report import RunReport, TargetResult

Signal = Literal["start", "success", "fail"]
Event = Literal["failure", "recovery", "warning", "success"]
NotifyType = Literal["info", "success", "warning", "failure"]

# Healthchecks.io accepts up to 100 kB; a short body is all a ping needs.
PING_BODY_LIMIT = 10_000
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
    wanted = set(inventory.notify.events)
    # destination → event → services, in run order; one message per destination.
    routed: dict[str, dict[Event, list[str]]] = {}
    for service, service_events_ in events.items():
        for destination in _apprise_destinations(inventory, service):
            for event in service_events_:
                if event in wanted:
                    routed.setdefault(destination, {}).setdefault(event, []).append(service)
    by_service = run.by_service()
    messages = []
    for destination, grouped in routed.items():
        messages.append(Message(
            secret=destination,
            title=_title(inventory, run, grouped),
            body=_body(inventory, run, grouped, by_service),
            notify_type=_notify_type(grouped),
        ))
    return tuple(messages)


def _title(inventory: Inventory, run: RunReport, grouped: dict[Event, list[str]]) -> str:
    parts = [f"{_EVENT_HEADINGS[event].lower()}: {', '.join(grouped[event])}"
             for event in ("failure", "recovery", "warning") if event in grouped]
    if not parts:
        parts = [f"ok ({len(grouped.get('success', []))} services)"]
    return f"[{inventory.collective.name}] {run.command} " + "; ".join(parts)


def _body(inventory: Inventory, run: RunReport, grouped: dict[Event, list[str]],
          by_service: dict[str, tuple[TargetResult, ...]]) -> str:
    lines = [describe_run(inventory, run, summary_only=True)]
    for event in ("failure", "recovery", "warning", "success"):
        if event not in grouped:
            continue
        lines.append("")
        lines.append(f"{_EVENT_HEADINGS[event]}:")
        for service in grouped[event]:
            lines.extend(f"- {describe_result(result)}" for result in by_service[service])
    return "\n".join(lines)


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
