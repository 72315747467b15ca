"""`chaton status`: health of hosts, services, backups and failover readiness."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chaton_ops.cli.context import global_options, require_writable
from chaton_ops.cli.output import escape, print_json, print_line, print_table, stderr, warn

if TYPE_CHECKING:
    from chaton_ops.core.alerting import AlertState
    from chaton_ops.core.health import Finding, StatusReport
    from chaton_ops.ops.status_run import StatusOutcome


class Format(StrEnum):
    table = "table"
    json = "json"
    nagios = "nagios"


def status(
    ctx: typer.Context,
    host: Annotated[list[str] | None, typer.Option("--host", metavar="HOST", show_default=False,
                                                   help="Check this host and its services (repeatable).")] = None,
    service: Annotated[list[str] | None, typer.Option("--service", metavar="SERVICE", show_default=False,
                                                      help="Check this service and its host (repeatable).")] = None,
    notify: Annotated[bool, typer.Option("--notify", help="Tell the admins (notify.apprise) about confirmed changes "
                                                          "of level and recoveries.")] = False,
    silence: Annotated[tuple[str, str] | None, typer.Option(
        "--silence", metavar="NAME DURATION", show_default=False,
        help="Send no notification about host or service NAME for DURATION (2h, 90m, 1d; 0 lifts it).")] = None,
    html: Annotated[Path | None, typer.Option("--html", metavar="PATH",
                                              help="Write the status page for members there.")] = None,
    metrics_file: Annotated[Path | None, typer.Option("--metrics-file", metavar="PATH",
                                                      help="Write a Prometheus textfile there.")] = None,
    output_format: Annotated[Format, typer.Option("--format", case_sensitive=False,
                                                  help="table, json, or nagios: one line and plugin exit codes "
                                                       "(0 ok, 1 warning, 2 critical, 3 unknown).")] = Format.table,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, max=256,
                                             help="Checks run at once (default 32).")] = None,
) -> None:
    """Health of hosts, services, backups and failover readiness, worst first.

    Exit 0 all ok, 1 a warning or worse, 4 a host could not be reached (--format nagios: 0 ok,
    1 warning, 2 critical, 3 unknown).
    """
    from chaton_ops.ops.status import DEFAULT_JOBS
    from chaton_ops.ops.status_run import StatusRequest, run_status

    opts = global_options(ctx)
    loaded = opts.load()
    require_writable("--html", html)
    require_writable("--metrics-file", metrics_file)
    request = StatusRequest(hosts=tuple(host or ()), services=tuple(service or ()), notify=notify,
                            silence=silence if silence and silence[0] else None, html=html,
                            metrics_file=metrics_file, jobs=jobs or DEFAULT_JOBS)
    outcome = run_status(loaded, request)
    report = outcome.report
    for problem in outcome.problems:
        warn(problem)
    if output_format is Format.nagios:
        from chaton_ops.core.health import nagios_code, nagios_line

        print_line(nagios_line(report))
        raise typer.Exit(nagios_code(report))
    if opts.json or output_format is Format.json:
        print_json(report_as_json(outcome))
    else:
        render_tables(report, outcome.follow_up.state, quiet=opts.quiet)
        if not opts.quiet:
            _tell_what_happened(outcome)
    code = report.exit_code
    if code:
        raise typer.Exit(int(code))


def _tell_what_happened(outcome: StatusOutcome) -> None:
    console = stderr()
    if outcome.silenced_until is not None:
        console.print(f"silenced until {outcome.silenced_until.astimezone():%Y-%m-%d %H:%M}", highlight=False)
    followed = outcome.follow_up
    for change in followed.sent:
        console.print(f"notified: {escape(change.finding.title())} {change.event}", highlight=False)
    for change in followed.held:
        console.print(f"not notified ({escape(change.held or '')}): {escape(change.finding.title())}",
                      highlight=False)
    for note in outcome.report.notes:
        console.print(f"note: {escape(note)}", highlight=False)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def render_tables(report: StatusReport, state: AlertState, *, quiet: bool) -> None:
    """One table per section, worst first; with `quiet`, only warnings and worse (nothing when all is ok)."""
    from chaton_ops.core.readiness import parse_time

    # since when a problem holds, when that is before this run
    since = {key: started for key, tracked in state.findings.items()
             if (started := parse_time(tracked.since)) is not None and started < report.checked_at.replace(microsecond=0)}
    host_rows = _host_rows(report, quiet)
    if host_rows:
        print_table("Hosts", ["host", "state", "up", "load", "mem", "swap", "disk", "problems"], host_rows)
    titles = {"services": ("Services", ["service", "check", "state", "detail"]),
              "backups": ("Backups", ["service", "repository", "state", "detail"]),
              "readiness": ("Failover readiness", ["subject", "check", "state", "detail"]),
              "vms": ("Proxmox guests", ["host", "guest", "state", "detail"])}
    for section, (title, columns) in titles.items():
        rows = [[finding.subject, finding.item if section in ("backups", "vms") else finding.check, finding.level,
                 _detail(finding, since)]
                for finding in report.section(section) if finding.problem or not quiet]  # type: ignore[arg-type]
        if rows:
            print_table(title, columns, rows)
    if not quiet or report.level != "ok":
        counts = report.counts()
        parts = [f"{counts[level]} {level}" for level in ("critical", "unknown", "warning", "ok") if counts[level]]
        print_line(f"{report.level}: {', '.join(parts) or 'nothing checked'}")


def _detail(finding: Finding, since: dict[str, datetime]) -> str:
    text = escape(finding.summary)
    if finding.problem and finding.key in since:
        text += f" (since {since[finding.key].astimezone():%m-%d %H:%M})"
    if finding.silenced:
        text += f"; no notification: {escape(finding.silenced)}"
    return text


def _host_rows(report: StatusReport, quiet: bool) -> list[list[str]]:
    from chaton_ops.core.health import worst

    by_host: dict[str, list[Finding]] = {}
    for finding in report.section("hosts"):
        by_host.setdefault(finding.subject, []).append(finding)
    rows = []
    ordered = sorted(by_host.items(), key=lambda item: -max(f.severity for f in item[1]))
    for host, findings in ordered:
        level = worst(f.level for f in findings)
        if quiet and level == "ok":
            continue
        values = {f.check: f for f in findings}
        disks = [f for f in findings if f.check == "disk" and f.value is not None]
        fullest = max(disks, key=lambda f: f.value or 0, default=None)
        problems = [f.summary if f.check == "reachable" else
                    f"{f.check}{' ' + f.item if f.item and f.check != 'resolver' else ''}: {f.summary}"
                    for f in findings if f.problem]
        state = "unreachable" if any(f.unreachable for f in findings) else level
        rows.append([
            host, state,
            _uptime(values.get("uptime")), _value(values.get("load"), "{:g}"),
            _value(values.get("memory"), "{:.0f} %"), _value(values.get("swap"), "{:.0f} %"),
            f"{fullest.value:.0f} % {fullest.item}" if fullest else "-",
            escape("\n".join(problems)) if problems else "-",
        ])
    return rows


def _uptime(finding: Finding | None) -> str:
    if finding is None or finding.value is None:
        return "-"
    return f"{finding.value * 24:.0f} h" if finding.value < 1 else f"{finding.value:.0f} d"


def _value(finding: Finding | None, pattern: str) -> str:
    return pattern.format(finding.value) if finding is not None and finding.value is not None else "-"


def report_as_json(outcome: StatusOutcome) -> dict[str, object]:
    from chaton_ops.core.health import SECTIONS

    report = outcome.report
    return {
        "checked_at": report.checked_at.isoformat(),
        "level": report.level,
        "exit_code": int(report.exit_code),
        "counts": report.counts(),
        "unreachable_hosts": report.unreachable_hosts,
        "findings": [finding.as_dict() for section in SECTIONS for finding in report.section(section)],
        "notifications": {
            "sent": [change.key for change in outcome.follow_up.sent],
            "held": [{"key": change.key, "why": change.held} for change in outcome.follow_up.held],
        },
        "notes": list(report.notes),
        "problems": list(outcome.problems),
    }
