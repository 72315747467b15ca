"""The status page for members: one static, self-contained HTML file (no JavaScript, no external asset,
readable on a phone) that a collective publishes with its own web server.

It says, in plain words, whether each public service works, since when, and lists the recent
incidents and moves to the standby server. It shows no host name, address or error text: members
need to know whether they can work, not the collective's internals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from chaton_ops.core.alerting import AlertState, Incident, public_key, public_levels, public_services
from chaton_ops.core.health import SEVERITY, Finding, StatusReport
from chaton_ops.core.inventory import Inventory

REFRESH_SECONDS = 300
INCIDENTS_SHOWN = 20

STATE_WORDS = {
    "ok": ("Working normally", "ok"),
    "warning": ("Working, with a minor problem being looked at", "degraded"),
    "critical": ("Down", "down"),
    "unknown": ("Not checked right now", "unknown"),
}
INCIDENT_WORDS = {"critical": "down", "warning": "degraded", "unknown": "not checked"}
MAINTENANCE_WORDS = ("Under maintenance", "maintenance")


@dataclass(frozen=True)
class Move:
    """A service moved onto its fallback (away) or back home, from the journal's placements."""

    service: str
    away: bool
    when: dt.datetime


def _local(moment: dt.datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def _parse(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _duration(start: dt.datetime, end: dt.datetime) -> str:
    minutes = max(0, round((end - start).total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def _address(inventory: Inventory, service: str) -> str:
    for record in inventory.services[service].dns:
        return record.zone if record.name == "@" else f"{record.name}.{record.zone}"
    return ""


def _under_maintenance(findings: Sequence[Finding], service: str) -> bool:
    return any(finding.service == service and finding.silenced and "maintenance" in finding.silenced
               and finding.problem for finding in findings)


def render_status_page(inventory: Inventory, report: StatusReport, state: AlertState, moves: Sequence[Move],
                       *, now: dt.datetime | None = None) -> str:
    now = now or report.checked_at
    levels = public_levels(inventory, report.findings)
    services = sorted(public_services(inventory),
                      key=lambda name: (-SEVERITY[levels.get(name, ("unknown", ""))[0]], name))
    rows = [_service_row(inventory, name, levels.get(name), state.findings, report.findings, now)
            for name in services]
    worst_level = max((levels.get(name, ("unknown", ""))[0] for name in services), key=lambda lv: SEVERITY[lv],
                      default="ok")
    overall = {
        "ok": "All services are working normally.",
        "warning": "All services are working; some have a minor problem the admins are looking at.",
        "unknown": "Some services could not be checked right now.",
        "critical": "Some services are down. The admins have been told.",
    }[worst_level]
    title = f"{inventory.collective.name}: service status"
    incidents = _incident_items(state.incidents, now)
    move_items = [f"<li><time>{escape(_local(move.when))}</time> {escape(move.service)} "
                  f"{'moved to our standby server' if move.away else 'moved back to its usual server'}</li>"
                  for move in sorted(moves, key=lambda move: move.when, reverse=True)[:INCIDENTS_SHOWN]]
    return PAGE.format(
        title=escape(title),
        refresh=REFRESH_SECONDS,
        overall_class=STATE_WORDS[worst_level][1],
        overall=escape(overall),
        checked=escape(_local(report.checked_at)),
        services="\n".join(rows) or "<li>No public service is listed.</li>",
        incidents="\n".join(incidents) if incidents else "<p>No incident recorded recently.</p>",
        moves=("<ul class=\"events\">\n" + "\n".join(move_items) + "\n</ul>") if move_items
        else "<p>No service was moved recently.</p>",
        contact=escape(inventory.collective.contact),
    )


def _service_row(inventory: Inventory, name: str, level: tuple[str, str] | None,
                 tracked: Mapping[str, object], findings: Sequence[Finding], now: dt.datetime) -> str:
    words, css = STATE_WORDS[level[0] if level else "unknown"]
    if level and level[0] != "ok" and _under_maintenance(findings, name):
        words, css = MAINTENANCE_WORDS
    since = ""
    entry = tracked.get(public_key(name))
    started = _parse(getattr(entry, "since", None)) if entry is not None else None
    if level and started is not None and getattr(entry, "level", None) == level[0]:
        since = f"since {_local(started)} ({_duration(started, now)})"
    description = inventory.services[name].description or ""
    address = _address(inventory, name)
    details = " · ".join(escape(part) for part in (address, description) if part)
    return (f'<li class="service {css}"><div class="head"><span class="name">{escape(name)}</span>'
            f'<span class="state">{escape(words)}</span></div>'
            + (f'<div class="about">{details}</div>' if details else "")
            + (f'<div class="since">{escape(since)}</div>' if since else "")
            + "</li>")


def _incident_items(incidents: Sequence[Incident], now: dt.datetime) -> list[str]:
    items = []
    for incident in sorted(incidents, key=lambda incident: incident.start, reverse=True)[:INCIDENTS_SHOWN]:
        start = _parse(incident.start)
        if start is None:
            continue
        end = _parse(incident.end)
        what = INCIDENT_WORDS.get(incident.level, "not working")
        if end is None:
            text = f"{incident.service} {what} since {_local(start)} ({_duration(start, now)}, ongoing)"
        else:
            text = f"{incident.service} {what} from {_local(start)} to {_local(end)} ({_duration(start, end)})"
        items.append(f'<li class="{"ongoing" if end is None else "over"}">{escape(text)}</li>')
    return ["<ul class=\"events\">", *items, "</ul>"] if items else []


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 42rem;
       padding: 1rem; color: #1d1d1f; background: #fff; line-height: 1.45; }}
h1 {{ font-size: 1.5rem; margin: 0.5rem 0; }}
h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
.overall {{ padding: 0.8rem 1rem; border-radius: 0.5rem; font-weight: 600; }}
.overall.ok {{ background: #e3f6e8; }} .overall.degraded {{ background: #fff4d6; }}
.overall.down {{ background: #fde2e1; }} .overall.unknown {{ background: #ececec; }}
.checked, .about, .since, footer {{ color: #555; font-size: 0.9rem; }}
ul {{ padding: 0; list-style: none; }}
.service {{ border: 1px solid #ddd; border-left: 0.5rem solid #999; border-radius: 0.4rem; padding: 0.6rem 0.8rem;
            margin: 0.5rem 0; }}
.service.ok {{ border-left-color: #2e9e4f; }} .service.degraded {{ border-left-color: #d9a400; }}
.service.down {{ border-left-color: #d33b2c; }} .service.maintenance {{ border-left-color: #3a6fd8; }}
.head {{ display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0.5rem; }}
.name {{ font-weight: 600; }}
.service.down .state {{ color: #b22d20; font-weight: 600; }}
.events li {{ margin: 0.4rem 0; }} .events .ongoing {{ font-weight: 600; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #161618; color: #eee; }} .checked, .about, .since, footer {{ color: #aaa; }}
  .service {{ border-color: #444; }} .overall.ok {{ background: #1d3b25; }} .overall.degraded {{ background: #4a3d12; }}
  .overall.down {{ background: #4d1f1b; }} .overall.unknown {{ background: #333; }}
  .service.down .state {{ color: #ff8a7d; }}
}}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="overall {overall_class}">{overall}</p>
<p class="checked">Checked {checked}.</p>
</header>
<main>
<section>
<h2>Services</h2>
<ul class="services">
{services}
</ul>
</section>
<section>
<h2>Recent incidents</h2>
{incidents}
</section>
<section>
<h2>Moves to the standby server</h2>
{moves}
</section>
</main>
<footer><p>A problem not shown here? Write to <a href="mailto:{contact}">{contact}</a>.</p></footer>
</body>
</html>
"""
