"""Findings of `chaton status`: levels, effective thresholds, ordering, exit codes, the Nagios line.

A finding is one thing checked about one subject (a host's /srv filesystem, a service's HTTP probe,
a service's newest snapshot in one repository) with a level: ok, warning, critical or unknown (the
check could not tell). Pure data: the use case fills findings from facts and probes, the CLI and
the notifications read them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from chaton_ops.core.inventory import Inventory, MaintenanceWindow, Thresholds
from chaton_ops.errors import ExitCode, Verdict, exit_code_for

Level = Literal["ok", "warning", "critical", "unknown"]
Section = Literal["hosts", "services", "backups", "readiness", "vms"]
SECTIONS: tuple[Section, ...] = ("hosts", "services", "backups", "readiness", "vms")

# Worst first: critical, then unknown (the check could not tell), then warning.
SEVERITY: dict[str, int] = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}
# Nagios/Icinga plugin exit codes (and the Prometheus gauge values): 0 ok, 1 warning, 2 critical, 3 unknown.
NAGIOS_CODE: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}

BUILT_IN_THRESHOLDS = Thresholds(
    disk_percent=90, disk_critical_percent=95, memory_percent=90, swap_percent=80, load_per_cpu=2.0,
    uptime_days=90, clock_offset_seconds=5, certificate_days=14, certificate_critical_days=3,
    response_seconds=2.0, drill_age_days=31, confirm=2,
)


@dataclass(frozen=True)
class Limits:
    """Thresholds with every value known (see core.inventory.Thresholds for their meaning)."""

    disk_percent: float
    disk_critical_percent: float
    memory_percent: float
    swap_percent: float
    load_per_cpu: float
    uptime_days: float
    clock_offset_seconds: float
    certificate_days: float
    certificate_critical_days: float
    response_seconds: float
    drill_age_days: float
    confirm: int


def limits_for(inventory: Inventory, *, host: str | None = None, service: str | None = None) -> Limits:
    """The thresholds that apply: the service's over its host's over `defaults.thresholds` over the built-in.
    A service's host is where it runs now."""
    layers: list[Thresholds | None] = [BUILT_IN_THRESHOLDS, inventory.defaults.thresholds]
    if service is not None and host is None:
        host = inventory.services[service].host
    if host is not None and host in inventory.hosts:
        layers.append(inventory.hosts[host].thresholds)
    if service is not None:
        layers.append(inventory.services[service].thresholds)
    values: dict[str, object] = {}
    for layer in layers:
        if layer is not None:
            values.update({name: value for name, value in layer.model_dump().items() if value is not None})
    return Limits(**values)  # type: ignore[arg-type]


def level_at_least(value: float, warning: float | None, critical: float | None = None) -> Level:
    """ok below `warning`, warning from it, critical from `critical` (higher is worse)."""
    if critical is not None and value >= critical:
        return "critical"
    if warning is not None and value >= warning:
        return "warning"
    return "ok"


def level_at_most(value: float, warning: float | None, critical: float | None = None) -> Level:
    """ok above `warning`, warning from it down, critical from `critical` down (lower is worse)."""
    if critical is not None and value <= critical:
        return "critical"
    if warning is not None and value <= warning:
        return "warning"
    return "ok"


def worst(levels: Iterable[str]) -> Level:
    result: Level = "ok"
    for level in levels:
        if SEVERITY[level] > SEVERITY[result]:
            result = level  # type: ignore[assignment]
    return result


@dataclass(frozen=True)
class Finding:
    """One thing checked about one subject, with its level and a short text saying why."""

    section: Section
    subject: str  # the host (hosts) or the service (other sections)
    check: str  # disk, inodes, memory, http, smtp, dns, backup, dns-ttl, capacity, drill, …
    level: Level
    summary: str
    item: str = ""  # what within the subject: a mount point, a repository, a record
    host: str | None = None  # the host concerned (a service's host: where it runs now)
    service: str | None = None
    value: float | None = None
    unit: str = ""
    warning: float | None = None
    critical: float | None = None
    unreachable: bool = False  # the host could not be reached: this finding stands for all of it
    affects: tuple[str, ...] = ()  # services whose own findings are folded into this one
    silenced: str | None = None  # why notifications about it are held back now (maintenance, --silence)

    @property
    def key(self) -> str:
        """Identifies the finding across runs (state for notifications, metrics labels)."""
        return "/".join((self.section, self.subject, self.check, self.item))

    @property
    def severity(self) -> int:
        return SEVERITY[self.level]

    @property
    def problem(self) -> bool:
        return self.level != "ok"

    def title(self) -> str:
        """`primary disk /srv`, `www http`, `www backup main`."""
        return " ".join(part for part in (self.subject, self.check, self.item) if part)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["key"] = self.key
        data["affects"] = list(self.affects)
        return data


def sort_worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then in the order the checks were listed (stable)."""
    return sorted(findings, key=lambda finding: -finding.severity)


def fold_unreachable(findings: Sequence[Finding]) -> list[Finding]:
    """A host that cannot be reached is reported once: its services' failing probes (which fail
    because the host is gone) are folded into the host's finding instead of N separate criticals."""
    down = {finding.subject: finding for finding in findings if finding.section == "hosts" and finding.unreachable}
    if not down:
        return list(findings)
    folded: dict[str, list[str]] = {host: [] for host in down}
    kept: list[Finding] = []
    for finding in findings:
        if (finding.section != "hosts" and finding.host in down and finding.problem
                and finding.check in FOLDED_CHECKS):
            if finding.service and finding.service not in folded[finding.host]:
                folded[finding.host].append(finding.service)
            continue
        kept.append(finding)
    result = []
    for finding in kept:
        if finding.section == "hosts" and finding.subject in down and finding.unreachable:
            affected = tuple(dict.fromkeys((*finding.affects, *folded[finding.subject])))
            summary = finding.summary
            if affected:
                summary += f"; its services: {', '.join(affected)}"
            finding = replace(finding, affects=affected, summary=summary)
        result.append(finding)
    return result


# Checks that go through the host itself (so fail with it); DNS answers, backup ages in the journal
# and readiness do not, and stay findings of their own.
FOLDED_CHECKS = frozenset({"http", "smtp", "tcp", "backup-repository"})


@dataclass(frozen=True)
class StatusReport:
    """Everything one `chaton status` run found, worst first within each section."""

    checked_at: dt.datetime
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # things not checked and why

    def section(self, name: Section) -> list[Finding]:
        return sort_worst_first(finding for finding in self.findings if finding.section == name)

    @property
    def level(self) -> Level:
        return worst(finding.level for finding in self.findings)

    @property
    def unreachable_hosts(self) -> list[str]:
        return [finding.subject for finding in self.findings if finding.unreachable]

    @property
    def exit_code(self) -> ExitCode:
        """0 all ok · 4 a host could not be reached · 1 any other warning, critical or unknown. A health
        report is findings, not work done on targets: no "partial" (errors.EXIT_CODES gives the codes)."""
        if self.unreachable_hosts:
            return exit_code_for(Verdict.UNREACHABLE)
        return exit_code_for(Verdict.OK if self.level == "ok" else Verdict.FAILED)

    def counts(self) -> dict[str, int]:
        counted = {level: 0 for level in SEVERITY}
        for finding in self.findings:
            counted[finding.level] += 1
        return counted


# ---------------------------------------------------------------------------------------------
# Maintenance windows
# ---------------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> dt.timedelta:
    """`2h`, `90m`, `1d`, `1h30m` (and `0` for none) as a timedelta; ValueError otherwise."""
    text = text.strip().lower()
    if text == "0":
        return dt.timedelta(0)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 2h, 90m, 1d or 1h30m")
    return dt.timedelta(seconds=sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def window_bounds(window: MaintenanceWindow) -> tuple[dt.datetime, dt.datetime]:
    start = window.start if window.start.tzinfo else window.start.astimezone()  # naive: local time
    return start, start + parse_duration(window.duration)


def active_window(windows: Iterable[MaintenanceWindow], now: dt.datetime) -> MaintenanceWindow | None:
    for window in windows:
        start, end = window_bounds(window)
        if start <= now < end:
            return window
    return None


def silence_reason(inventory: Inventory, finding: Finding, now: dt.datetime,
                   silences: dict[str, dt.datetime]) -> str | None:
    """Why notifications about `finding` are held back now: a maintenance window of its host or
    service in the inventory, or `chaton status --silence NAME DURATION`; None when they are not."""
    names = [name for name in (finding.host, finding.service) if name]
    for name in names:
        until = silences.get(name)
        if until is not None and now < until:
            return f"{name} silenced until {until.astimezone().strftime('%Y-%m-%d %H:%M')}"
    candidates = []
    if finding.host in inventory.hosts:
        candidates.append((finding.host, inventory.hosts[finding.host].maintenance))
    if finding.service in inventory.services:
        candidates.append((finding.service, inventory.services[finding.service].maintenance))
    for name, windows in candidates:
        window = active_window(windows, now)
        if window is not None:
            _, end = window_bounds(window)
            why = f": {window.reason}" if window.reason else ""
            return f"{name} in maintenance until {end.astimezone().strftime('%Y-%m-%d %H:%M')}{why}"
    return None


# ---------------------------------------------------------------------------------------------
# Nagios / Icinga
# ---------------------------------------------------------------------------------------------

NAGIOS_WORDS = {"ok": "OK", "warning": "WARNING", "critical": "CRITICAL", "unknown": "UNKNOWN"}
_PERF_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_./:-]+")


def nagios_code(report: StatusReport) -> int:
    return NAGIOS_CODE[report.level]


def nagios_line(report: StatusReport, name: str = "CHATON") -> str:
    """One line as a Nagios/Icinga plugin prints it: state, the problems worst first, then perfdata."""
    level = report.level
    problems = sort_worst_first(finding for finding in report.findings if finding.problem)
    counts = report.counts()
    if problems:
        listed = "; ".join(f"{finding.title()}: {finding.summary}" for finding in problems[:10])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        head = (f"{name} {NAGIOS_WORDS[level]} - {counts['critical']} critical, {counts['unknown']} unknown, "
                f"{counts['warning']} warning: {listed}{more}")
    else:
        head = f"{name} OK - {len(report.findings)} checks ok"
    perf = " ".join(perfdata(finding) for finding in report.findings if finding.value is not None)
    head = head.replace("|", "/").replace("\n", " ")
    return f"{head} | {perf}" if perf else head


def perfdata(finding: Finding) -> str:
    """`'label'=value[unit];warn;crit` (unit `%` or `s`, else none: Nagios knows only a few units)."""
    label = _PERF_LABEL_UNSAFE.sub("_", finding.title().replace(" ", "_"))
    unit = finding.unit if finding.unit in ("%", "s", "B", "KB", "MB", "GB", "TB") else ""
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:g}"
    return f"'{label}'={number(finding.value)}{unit};{number(finding.warning)};{number(finding.critical)}"
