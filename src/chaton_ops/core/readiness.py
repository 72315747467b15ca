"""Backups and failover readiness as findings: age of each service's newest snapshot, restore drills,
whether each fallback can hold the services it would take. Pure: the journal's steps and the
repository's snapshot times come in as data.

Journal steps are read tolerantly (keys in the step's detail, or in its `outputs`/`inputs` as the
runbook engine writes them), so that drills and restores journaled by other commands fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaton_ops.core.health import Finding, Level, Limits
from chaton_ops.core.inventory import Inventory

PASSED = ("ok", "warning", "changed")
FAILED = ("failed", "interrupted", "partial")
# Backups older than this many times their limit are critical (two missed nights for a daily backup).
CRITICAL_AGE_FACTOR = 2


@dataclass(frozen=True)
class RecordedStep:
    """A journal step as status reads it."""

    action: str
    target: str
    status: str
    detail: Mapping[str, Any]
    ended_at: dt.datetime | None
    run_id: int | None = None
    id: int = 0  # the journal's step id: newer steps have larger ids

    def value(self, key: str) -> Any:
        """`key` from the detail, else from its outputs, else from its inputs."""
        for place in (self.detail, self.detail.get("outputs"), self.detail.get("inputs")):
            if isinstance(place, Mapping) and place.get(key) is not None:
                return place[key]
        return None

    @property
    def service(self) -> str:
        named = self.value("service")
        return str(named) if named else self.target.split("@", 1)[0]

    @property
    def repository(self) -> str | None:
        named = self.value("repository")
        if named:
            return str(named)
        return self.target.split("@", 1)[1] if "@" in self.target else None


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def describe_age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(0, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def backed_up(inventory: Inventory, service: str) -> bool:
    """Whether chaton backs the service up at all (data or databases)."""
    declared = inventory.services[service]
    return bool(declared.data or declared.databases)


# ---------------------------------------------------------------------------------------------
# Backups
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackupState:
    """What is known of one service's backups to one repository."""

    newest: dt.datetime | None = None  # newest snapshot (or successful backup)
    source: str = "journal"  # journal | repository
    last_failure: RecordedStep | None = None  # a failed backup newer than the newest good one
    size_bytes: int | None = None  # data size at the newest backup, when recorded
    error: str | None = None  # the repository could not be asked


def backup_states_from_journal(steps: Iterable[RecordedStep]) -> dict[tuple[str, str], BackupState]:
    """Per (service, repository), from `backup` steps newest first."""
    states: dict[tuple[str, str], BackupState] = {}
    failures: dict[tuple[str, str], RecordedStep] = {}
    for step in steps:
        repository = step.repository
        if step.action != "backup" or repository is None or step.ended_at is None:
            continue
        key = (step.service, repository)
        if key in states:
            continue
        if step.status in PASSED:
            size = step.value("total_bytes")
            states[key] = BackupState(step.ended_at, "journal", failures.get(key),
                                      int(size) if isinstance(size, int | float) else None)
        elif step.status in FAILED and key not in failures:
            failures[key] = step
    for key, failure in failures.items():
        states.setdefault(key, BackupState(None, "journal", failure))
    return states


def evaluate_backup(service: str, host: str, repository: str, state: BackupState, max_age_hours: float,
                    now: dt.datetime) -> Finding:
    limit = dt.timedelta(hours=max_age_hours)

    def finding(level: Level, summary: str, age: float | None = None, check: str = "backup") -> Finding:
        return Finding("backups", service, check, level, summary, item=repository, host=host, service=service,
                       value=age, unit="h", warning=max_age_hours, critical=max_age_hours * CRITICAL_AGE_FACTOR)

    if state.error is not None:
        return finding("unknown", f"newest snapshot unknown: {state.error}", check="backup-repository")
    failure = ""
    if state.last_failure is not None:
        when = state.last_failure.ended_at
        message = str(state.last_failure.value("message") or "").splitlines()
        failure = (f"; the last backup failed{' on ' + when.astimezone().strftime('%Y-%m-%d %H:%M') if when else ''}"
                   f"{': ' + message[0][:120] if message and message[0] else ''}")
    if state.newest is None:
        return finding("critical", "no snapshot yet" + failure)
    age = now - state.newest
    hours = round(age.total_seconds() / 3600, 2)
    source = "" if state.source == "journal" else " (from the repository)"
    summary = (f"newest {state.newest.astimezone().strftime('%Y-%m-%d %H:%M')}{source}, "
               f"{describe_age(age)} ago")
    if age > limit * CRITICAL_AGE_FACTOR:
        level: Level = "critical"
        summary += f", older than {CRITICAL_AGE_FACTOR} × {max_age_hours:g} h"
    elif age > limit:
        level = "warning"
        summary += f", older than {max_age_hours:g} h"
    else:
        level = "warning" if failure else "ok"
    return finding(level, summary + failure, hours)


# ---------------------------------------------------------------------------------------------
# Drills
# ---------------------------------------------------------------------------------------------

DRILL_ACTIONS = ("drill result", "drill")  # the drill's verdict, and each restore it made


def latest_drills(steps: Iterable[RecordedStep]) -> dict[str, RecordedStep]:
    """Each service's newest finished drill (steps newest first; a drill still running is skipped).
    A drill journals each restore as `drill` and its verdict (databases included) as `drill result`,
    which comes last: the newest of either is the drill's outcome."""
    latest: dict[str, RecordedStep] = {}
    for step in steps:
        if step.action in DRILL_ACTIONS and step.status in (*PASSED, *FAILED) and step.service not in latest:
            latest[step.service] = step
    return latest


def evaluate_drill(service: str, host: str, drill: RecordedStep | None, limits: Limits, now: dt.datetime) -> Finding:
    def finding(level: Level, summary: str, age: float | None = None) -> Finding:
        return Finding("readiness", service, "drill", level, summary, host=host, service=service, value=age,
                       unit="d", warning=limits.drill_age_days)

    if drill is None:
        return finding("warning", "never drilled: nobody knows whether its backups restore, nor how long it takes "
                                  f"(chaton drill {service})")
    when = drill.ended_at
    stamp = when.astimezone().strftime("%Y-%m-%d") if when else "at an unknown date"
    if drill.status in FAILED:
        error = str(drill.value("error") or drill.value("message") or "").splitlines()
        return finding("warning", f"the last drill failed ({stamp}){': ' + error[0][:120] if error and error[0] else ''}")
    if drill.value("verified") is False:
        return finding("warning", f"the last drill ({stamp}) restored files that differ from the snapshot")
    age = (now - when).total_seconds() / 86400 if when else None
    speed = drill.value("mb_per_s")
    measured = f", restored at {float(speed):.0f} MB/s" if isinstance(speed, int | float) else ""
    if age is None or age > limits.drill_age_days:
        older = f"{age:.0f} days ago" if age is not None else "at an unknown date"
        return finding("warning", f"last drill {older}, older than {limits.drill_age_days:g} days{measured}",
                       None if age is None else round(age, 1))
    return finding("ok", f"last drill {stamp} passed{measured}", round(age, 1))


# ---------------------------------------------------------------------------------------------
# Capacity of the fallbacks
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FallbackSpace:
    """Free space measured on a fallback, per mount point (kB), when its facts were gathered."""

    free_kb_by_mount: Mapping[str, int] = field(default_factory=dict)

    def mount_of(self, path: str) -> str | None:
        candidates = [mount for mount in self.free_kb_by_mount
                      if path == mount or path.startswith(mount.rstrip("/") + "/")]
        return max(candidates, key=len) if candidates else None


def service_sizes(states: Mapping[tuple[str, str], BackupState], drills: Mapping[str, RecordedStep]) -> dict[str, int]:
    """Bytes each service needs when restored: its newest backup's size, else its last drill's."""
    sizes: dict[str, int] = {}
    for (service, _repository), state in states.items():
        if state.size_bytes is not None:
            sizes[service] = max(sizes.get(service, 0), state.size_bytes)
    for service, drill in drills.items():
        restored = drill.value("bytes")
        if service not in sizes and isinstance(restored, int | float):
            sizes[service] = int(restored)
    return sizes


def _gb(size: float) -> str:
    if size >= 1e8:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} kB" if size >= 1e3 else f"{size:.0f} B"


def evaluate_capacity(inventory: Inventory, fallback: str, services: Sequence[str], sizes: Mapping[str, int],
                      space: FallbackSpace | None) -> Finding:
    """Whether `fallback` can hold the services that would move onto it (those not on it already):
    their sizes against its declared `capacity.disk_gb` and the space free on it now."""
    known = {service: sizes[service] for service in services if service in sizes}
    unknown = [service for service in services if service not in sizes]
    needed = sum(known.values())
    limits: list[tuple[float, str]] = []
    declared = inventory.hosts[fallback].capacity
    if declared is not None:
        limits.append((declared.disk_gb * 1e9, "declared capacity"))
    if space is not None and space.free_kb_by_mount:
        free_by_mount: dict[str, int] = {}
        for service in known:
            paths = inventory.services[service].data or ["/var"]
            mount = space.mount_of(paths[0])
            if mount is not None:
                free_by_mount[mount] = space.free_kb_by_mount[mount] * 1024
        if free_by_mount:
            smallest = min(free_by_mount, key=lambda mount: free_by_mount[mount])
            limits.append((free_by_mount[smallest], f"free on {smallest}"))
    names = ", ".join(services)
    missing = f"; size unknown for {', '.join(unknown)} (no backup by chaton recorded it yet)" if unknown else ""

    def finding(level: Level, summary: str) -> Finding:
        return Finding("readiness", fallback, "capacity", level, summary, host=fallback, value=round(needed / 1e9, 3),
                       unit="GB")

    if not limits:
        return finding("unknown", f"would take {names} ({_gb(needed)}) but its space is unknown{missing}")
    available, what = min(limits)
    if needed > available:
        return finding("warning", f"too small for {names}: {_gb(needed)} needed, {_gb(available)} {what}{missing}")
    if unknown and not known:
        return finding("unknown", f"would take {names}; {_gb(available)} {what}{missing}")
    return finding("ok", f"can take {names}: {_gb(needed)} needed, {_gb(available)} {what}{missing}")
