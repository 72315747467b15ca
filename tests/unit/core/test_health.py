"""Findings: thresholds in layers, one finding for a host that is down, exit codes, Nagios, maintenance."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.health import (
    Finding,
    StatusReport,
    fold_unreachable,
    limits_for,
    nagios_code,
    nagios_line,
    parse_duration,
    silence_reason,
    sort_worst_first,
)
from chaton_ops.core.inventory import Inventory
from chaton_ops.errors import ExitCode

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def inventory(**extra: object) -> Inventory:
    data: dict[str, object] = {
        "version": 1,
        "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
        "hosts": {"web": {"address": "192.0.2.23"}, "mail": {"address": "192.0.2.21"}},
        "services": {"www": {"host": "web"}, "wiki": {"host": "web"}, "mx": {"host": "mail"}},
    }
    for key, value in extra.items():
        section = data.setdefault(key, {})
        assert isinstance(section, dict) and isinstance(value, dict)
        for name, fields in value.items():
            section[name] = {**section.get(name, {}), **fields}
    return Inventory.model_validate(data)


def test_thresholds_come_from_the_service_over_its_host_over_defaults_over_built_in() -> None:
    inv = inventory(defaults={"thresholds": {"disk_percent": 80, "certificate_days": 21}},
                    hosts={"web": {"thresholds": {"disk_percent": 70, "response_seconds": 5}}},
                    services={"www": {"thresholds": {"response_seconds": 0.5}}})

    assert limits_for(inv, host="mail").disk_percent == 80
    assert limits_for(inv, host="web").disk_percent == 70
    www = limits_for(inv, service="www")
    assert (www.response_seconds, www.disk_percent, www.certificate_days, www.swap_percent) == (0.5, 70, 21, 80)
    assert limits_for(inv, service="wiki").response_seconds == 5
    assert limits_for(inv).confirm == 2


def probe(service: str, host: str, level: str, check: str = "http") -> Finding:
    return Finding("services", service, check, level, f"{check} says {level}", host=host, service=service)  # type: ignore[arg-type]


def test_a_host_that_is_down_is_one_finding_not_one_per_service() -> None:
    down = Finding("hosts", "web", "reachable", "critical", "unreachable: timed out", host="web", unreachable=True)
    findings = [down, probe("www", "web", "critical"), probe("wiki", "web", "critical", "tcp"),
                probe("mx", "mail", "critical", "smtp"), probe("wiki", "web", "critical", "dns"),
                Finding("backups", "www", "backup", "ok", "fresh", item="main", host="web", service="www")]

    folded = fold_unreachable(findings)

    criticals = [f for f in folded if f.level == "critical"]
    assert [f.title() for f in criticals] == ["web reachable", "mx smtp", "wiki dns"]  # DNS answers do not go through web
    [host] = [f for f in folded if f.unreachable]
    assert host.affects == ("www", "wiki") and "www, wiki" in host.summary
    assert any(f.section == "backups" for f in folded)  # the journal's word on backups still stands


def test_exit_codes() -> None:
    ok = Finding("hosts", "web", "disk", "ok", "10 %", item="/")
    warning = Finding("hosts", "web", "swap", "warning", "85 %")
    down = Finding("hosts", "mail", "reachable", "critical", "timed out", unreachable=True)

    assert StatusReport(NOW, (ok,)).exit_code == ExitCode.OK
    assert StatusReport(NOW, (ok, warning)).exit_code == ExitCode.FAILED
    assert StatusReport(NOW, (ok, warning, down)).exit_code == ExitCode.UNREACHABLE


def test_worst_first_puts_critical_then_unknown_then_warning() -> None:
    findings = [Finding("hosts", "a", "x", level, level) for level in ("ok", "warning", "unknown", "critical")]  # type: ignore[arg-type]

    assert [f.level for f in sort_worst_first(findings)] == ["critical", "unknown", "warning", "ok"]


def test_the_nagios_line_has_the_state_the_problems_and_perfdata() -> None:
    report = StatusReport(NOW, (
        Finding("hosts", "web", "disk", "warning", "92 % used", item="/srv", value=92.0, unit="%", warning=90,
                critical=95),
        Finding("services", "www", "http", "ok", "HTTP 200 in 0.1 s", item="https://www.example/", value=0.1,
                unit="s", warning=2),
    ))

    line = nagios_line(report)

    assert nagios_code(report) == 1
    head, perf = line.split(" | ")
    assert head.startswith("CHATON WARNING - 0 critical, 0 unknown, 1 warning: web disk /srv: 92 % used")
    assert "'web_disk_/srv'=92%;90;95" in perf and "'www_http_https://www.example/'=0.1s;2;" in perf
    assert "\n" not in line


def test_nagios_ok_and_unknown_codes() -> None:
    assert nagios_code(StatusReport(NOW, (Finding("hosts", "a", "x", "ok", "fine"),))) == 0
    assert nagios_code(StatusReport(NOW, (Finding("hosts", "a", "x", "unknown", "?"),))) == 3
    assert nagios_line(StatusReport(NOW, (Finding("hosts", "a", "x", "ok", "fine"),))) == "CHATON OK - 1 checks ok"


@pytest.mark.parametrize(("text", "minutes"), [("2h", 120), ("90m", 90), ("1d", 1440), ("1h30m", 90), ("0", 0)])
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-1h", "1h 30m", "two hours", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_maintenance_windows_and_silences_hold_back_notifications_only_while_they_last() -> None:
    inv = inventory(hosts={"web": {"maintenance": [{"start": "2026-11-22T11:00:00+00:00", "duration": "2h",
                                                    "reason": "disk swap"}]}})
    on_web = probe("www", "web", "critical")
    on_mail = probe("mx", "mail", "critical", "smtp")

    assert "web in maintenance until" in (silence_reason(inv, on_web, NOW, {}) or "")
    assert "disk swap" in (silence_reason(inv, on_web, NOW, {}) or "")
    assert silence_reason(inv, on_web, NOW + dt.timedelta(hours=1), {}) is None  # 13:00: over
    assert silence_reason(inv, on_mail, NOW, {}) is None
    assert "mx silenced until" in (silence_reason(inv, on_mail, NOW, {"mx": NOW + dt.timedelta(hours=2)}) or "")
    assert silence_reason(inv, on_mail, NOW, {"mx": NOW - dt.timedelta(seconds=1)}) is None


def test_a_bad_maintenance_window_is_an_inventory_error() -> None:
    with pytest.raises(ValueError, match="duration"):
        inventory(hosts={"web": {"maintenance": [{"start": "2026-11-22 22:00", "duration": "two hours"}]}})
