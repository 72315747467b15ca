"""No crying wolf: which findings to tell the admins about, and when. Pure: the state between runs comes
in as data and goes out as data (adapters/status_state.py keeps it in a file).

- A finding must hold its level for `confirm` consecutive runs before anyone is told (one slow answer
  or one lost packet does not page anybody).
- Each finding remembers the level the admins were last told about: a message goes out when the
  confirmed level differs from it (a problem, a change of level, a recovery) and only then, so a
  cron job every five minutes sends one message per change, not one per run.
- A maintenance window or `--silence` holds messages back, not the checks: a problem still there
  after the window is told then; one that came and went within it never is.
- Members' view (the status page): each public service's state, since when, and its incidents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from chaton_ops.core.health import Finding, Level, worst
from chaton_ops.core.inventory import Inventory

Event = Literal["failure", "warning", "recovery"]
INCIDENTS_KEPT = 100
INCIDENT_DAYS_KEPT = 180
FORGET_AFTER = dt.timedelta(days=30)  # a finding not evaluated for that long is forgotten


@dataclass(frozen=True)
class Tracked:
    """What is remembered of one finding between runs."""

    level: str
    since: str  # ISO time it entered this level
    runs: int  # consecutive runs at this level
    notified: str = "ok"  # the level the admins were last told about
    summary: str = ""
    subject: str = ""
    seen: str = ""  # ISO time of the last run that evaluated it


@dataclass(frozen=True)
class Incident:
    """A public service not working, from when to when (end None: still going)."""

    service: str
    level: str
    start: str
    end: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class AlertState:
    findings: Mapping[str, Tracked] = field(default_factory=dict)
    incidents: tuple[Incident, ...] = ()
    silences: Mapping[str, str] = field(default_factory=dict)  # name → ISO time the silence ends


@dataclass(frozen=True)
class Change:
    """A confirmed change of level to tell (or held back by a maintenance window)."""

    finding: Finding
    previous: str  # the level last told
    event: Event
    held: str | None = None  # why it is not sent now

    @property
    def key(self) -> str:
        return self.finding.key


def event_for(level: str) -> Event:
    if level == "ok":
        return "recovery"
    return "warning" if level == "warning" else "failure"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def track(state: AlertState, findings: Sequence[Finding], now: dt.datetime, *,
          confirm: Callable[[Finding], int], wanted: Iterable[str]) -> tuple[AlertState, list[Change]]:
    """The state after this run's findings, and the confirmed changes the admins were not told about.

    A change whose event is not wanted (see `notify.events`) is not told, and the level last told stays
    as it was. Changes are not marked as told here: `mark_told` does it once they were delivered, so a
    message that could not be sent is tried again on the next run."""
    wanted_events = set(wanted)
    tracked = dict(state.findings)
    changes: list[Change] = []
    stamp = _iso(now)
    for finding in findings:
        previous = tracked.get(finding.key)
        if previous is not None and previous.level == finding.level:
            current = replace(previous, runs=previous.runs + 1, summary=finding.summary, seen=stamp)
        else:
            told = previous.notified if previous is not None else "ok"
            current = Tracked(finding.level, stamp, 1, told, finding.summary, finding.subject, stamp)
        tracked[finding.key] = current
        if current.runs < confirm(finding) or current.level == current.notified:
            continue
        event = event_for(current.level)
        if event not in wanted_events:
            continue
        changes.append(Change(finding, current.notified, event, finding.silenced))
    return replace(state, findings=tracked), changes


def mark_told(state: AlertState, changes: Iterable[Change]) -> AlertState:
    """Remember that these changes reached the admins."""
    tracked = dict(state.findings)
    for change in changes:
        if change.key in tracked:
            tracked[change.key] = replace(tracked[change.key], notified=change.finding.level)
    return replace(state, findings=tracked)


def forget_stale(state: AlertState, inventory: Inventory, now: dt.datetime) -> AlertState:
    """Drop findings of hosts, services and clusters the inventory no longer has, or not evaluated for a month;
    silences that ended; incidents past what the status page shows."""
    known = set(inventory.hosts) | set(inventory.services) | set(inventory.proxmox)
    cutoff = _iso(now - FORGET_AFTER)
    findings = {key: item for key, item in state.findings.items()
                if item.subject in known and (item.seen or item.since) >= cutoff}
    silences = {name: until for name, until in state.silences.items() if until > _iso(now)}
    oldest = _iso(now - dt.timedelta(days=INCIDENT_DAYS_KEPT))
    incidents = tuple(incident for incident in state.incidents
                      if incident.end is None or incident.end >= oldest)[-INCIDENTS_KEPT:]
    return AlertState(findings, incidents, silences)


def silence(state: AlertState, name: str, until: dt.datetime | None) -> AlertState:
    """Hold back messages about host or service `name` until `until` (None: lift the silence)."""
    silences = dict(state.silences)
    if until is None:
        silences.pop(name, None)
    else:
        silences[name] = _iso(until)
    return replace(state, silences=silences)


def active_silences(state: AlertState, now: dt.datetime) -> dict[str, dt.datetime]:
    active = {}
    for name, until in state.silences.items():
        try:
            moment = dt.datetime.fromisoformat(until)
        except ValueError:
            continue
        if moment > now:
            active[name] = moment
    return active


# ---------------------------------------------------------------------------------------------
# Members' view: the state of each public service
# ---------------------------------------------------------------------------------------------

# Checks that tell whether members can use a service.
PUBLIC_CHECKS = frozenset({"http", "smtp", "tcp", "dns"})


def public_services(inventory: Inventory) -> list[str]:
    """Services members reach: those with a probe or DNS records."""
    return [name for name, service in inventory.services.items()
            if service.dns or (service.check is not None and (service.check.http or service.check.smtp
                                                              or service.check.tcp))]


def public_levels(inventory: Inventory, findings: Sequence[Finding]) -> dict[str, tuple[Level, str]]:
    """Each public service's level and why: the worst of its probes; down with its host when the host
    cannot be reached. Services this run did not check are left out."""
    levels: dict[str, tuple[Level, str]] = {}
    down = {finding.subject: finding for finding in findings if finding.unreachable}
    for service in public_services(inventory):
        own = [finding for finding in findings
               if finding.service == service and finding.section == "services" and finding.check in PUBLIC_CHECKS]
        host = inventory.services[service].host
        if host in down:
            levels[service] = ("critical", f"its server {host} cannot be reached")
        elif own:
            level = worst(finding.level for finding in own)
            why = "; ".join(f"{f.check}: {f.summary}" for f in own if f.level == level)
            levels[service] = (level, why)
    return levels


def public_key(service: str) -> str:
    return f"public/{service}"


def track_public(state: AlertState, inventory: Inventory, findings: Sequence[Finding], now: dt.datetime,
                 confirm: int) -> AlertState:
    """Follow each public service's state (for "since when") and keep its incidents: one opens when a
    not-ok state is confirmed, and closes when ok is confirmed again."""
    tracked = dict(state.findings)
    incidents = list(state.incidents)
    stamp = _iso(now)
    for service, (level, why) in public_levels(inventory, findings).items():
        key = public_key(service)
        previous = tracked.get(key)
        if previous is not None and previous.level == level:
            current = replace(previous, runs=previous.runs + 1, summary=why, seen=stamp)
        else:
            current = Tracked(level, stamp, 1, previous.notified if previous else "ok", why, service, stamp)
        if current.runs >= confirm and current.level != current.notified:
            incidents = _record_incident(incidents, service, current)
            current = replace(current, notified=current.level)
        tracked[key] = current
    return replace(state, findings=tracked, incidents=tuple(incidents))


def _record_incident(incidents: list[Incident], service: str, current: Tracked) -> list[Incident]:
    open_index = next((index for index in range(len(incidents) - 1, -1, -1)
                       if incidents[index].service == service and incidents[index].end is None), None)
    if open_index is not None:
        incidents[open_index] = replace(incidents[open_index], end=current.since)
    if current.level != "ok":
        incidents.append(Incident(service, current.level, current.since, None, current.summary))
    return incidents


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------

_HEADINGS: dict[Event, str] = {"failure": "Problems", "warning": "Warnings", "recovery": "Recovered"}


def _destinations(inventory: Inventory, finding: Finding) -> list[str]:
    if finding.service in inventory.services:
        own = inventory.services[finding.service].notify
        if own is not None and own.apprise is not None:
            return list(own.apprise)
    return list(inventory.notify.apprise)


def describe_change(change: Change) -> str:
    finding = change.finding
    if change.event == "recovery":
        return f"- {finding.title()}: ok again (was {change.previous}): {finding.summary}"
    was = f", was {change.previous}" if change.previous != "ok" else ""
    return f"- {finding.title()}: {finding.level}{was}: {finding.summary}"


def plan_messages(inventory: Inventory, changes: Sequence[Change]) -> list[tuple[str, str, str, str, list[Change]]]:
    """One message per destination for the changes that are not held back:
    (secret name, title, body, apprise notify type, the changes it tells)."""
    routed: dict[str, list[Change]] = {}
    for change in changes:
        if change.held is None:
            for destination in _destinations(inventory, change.finding):
                routed.setdefault(destination, []).append(change)
    messages = []
    for destination, told in routed.items():
        by_event: dict[Event, list[Change]] = {}
        for change in told:
            by_event.setdefault(change.event, []).append(change)
        parts = [f"{_HEADINGS[event].lower()}: {', '.join(c.finding.title() for c in by_event[event])}"
                 for event in ("failure", "warning", "recovery") if event in by_event]
        title = f"[{inventory.collective.name}] status " + "; ".join(parts)
        lines: list[str] = []
        for event in ("failure", "warning", "recovery"):
            if event in by_event:
                lines += [f"{_HEADINGS[event]}:", *(describe_change(change) for change in by_event[event]), ""]
        notify_type = "failure" if "failure" in by_event else "warning" if "warning" in by_event else "success"
        messages.append((destination, title, "\n".join(lines).rstrip(), notify_type, told))
    return messages
