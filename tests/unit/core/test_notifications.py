from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import load_inventory
from chaton_ops.core.notifications import (
    Ping,
    ping_url,
    plan_notifications,
    plan_start_pings,
    service_events,
)
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.errors import InventoryError

STARTED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def make_inventory(notify: dict[str, Any] | None = None, **service_notify: dict[str, Any]) -> Inventory:
    services: dict[str, Any] = {name: {"host": "web"} for name in ("www", "mail", "cloud")}
    for name, settings in service_notify.items():
        services[name]["notify"] = settings
    return Inventory.model_validate({
        "version": 1,
        "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
        "secrets": {name: {"env": name.upper().replace("-", "_")} for name in ("hc-run", "hc-www", "admins", "cigales")},
        "hosts": {"web": {"address": "192.0.2.23"}},
        "notify": notify if notify is not None else {"healthchecks": ["hc-run"], "apprise": ["admins"]},
        "services": services,
    })


def make_run(**statuses: str) -> RunReport:
    results = tuple(TargetResult(service=s, host="web", repository="main", status=status,  # type: ignore[arg-type]
                                 message="disk full\nsecond line" if status == "failed" else "")
                    for s, status in statuses.items())
    return RunReport("backup", STARTED, STARTED + timedelta(seconds=61), results)


@pytest.mark.parametrize(
    ("status", "previous", "events"),
    [
        ("failed", None, ("failure",)),
        ("failed", "failed", ("failure",)),
        ("ok", "failed", ("recovery", "success")),
        ("warning", "failed", ("recovery", "warning")),
        ("ok", "ok", ("success",)),
        ("ok", None, ("success",)),
        ("warning", "ok", ("warning",)),
    ],
)
def test_service_events_compare_with_the_previous_status(status: str, previous: str | None,
                                                         events: tuple[str, ...]) -> None:
    assert service_events(status, previous) == events


def test_ping_urls_follow_the_healthchecks_convention() -> None:
    assert ping_url("https://hc.example/ping/abc/", "start") == "https://hc.example/ping/abc/start"
    assert ping_url("https://hc.example/ping/abc", "fail") == "https://hc.example/ping/abc/fail"
    assert ping_url("https://hc.example/ping/abc", "success") == "https://hc.example/ping/abc"


def test_start_pings_cover_the_run_and_the_named_services_only() -> None:
    inventory = make_inventory(www={"healthchecks": ["hc-www"]})

    assert plan_start_pings(inventory, ["mail"]) == (Ping("hc-run", "start", "run"),)
    assert plan_start_pings(inventory, ["www"]) == (Ping("hc-run", "start", "run"), Ping("hc-www", "start", "www"))


def test_a_partial_run_pings_fail_for_the_run_and_success_for_a_good_service() -> None:
    inventory = make_inventory(mail={"healthchecks": ["hc-www"]})

    plan = plan_notifications(inventory, make_run(www="failed", mail="ok"), {})

    assert [(p.secret, p.signal, p.scope) for p in plan.pings] == [("hc-run", "fail", "run"),
                                                                   ("hc-www", "success", "mail")]
    assert "www on web → main: failed: disk full" in plan.pings[0].body


def test_a_failure_sends_one_message_naming_the_collective_and_the_service() -> None:
    plan = plan_notifications(make_inventory(), make_run(www="failed", mail="ok", cloud="failed"), {})

    [message] = plan.messages
    assert message.secret == "admins"
    assert message.notify_type == "failure"
    assert message.title == "[Ti Nuage] backup failed: www, cloud"
    assert "Failed:\n- www on web → main: failed: disk full\n- cloud on web → main: failed: disk full" in message.body
    assert "61 s" in message.body and "partial" in message.body
    assert "mail" not in message.body.split("\n", 1)[1]


def test_steady_success_sends_no_message() -> None:
    plan = plan_notifications(make_inventory(), make_run(www="ok"), {"www": "ok"})

    assert plan.messages == ()
    assert plan.statuses == {"www": "ok"}


def test_success_messages_are_sent_when_asked_for() -> None:
    inventory = make_inventory({"apprise": ["admins"], "events": ["failure", "success"]})

    [message] = plan_notifications(inventory, make_run(www="ok", mail="ok"), {"www": "ok"}).messages

    assert message.title == "[Ti Nuage] backup ok (2 services)"
    assert message.notify_type == "success"


def test_recovery_and_failure_in_one_run_share_a_message() -> None:
    plan = plan_notifications(make_inventory(), make_run(www="ok", mail="failed"), {"www": "failed"})

    [message] = plan.messages
    assert message.title == "[Ti Nuage] backup failed: mail; recovered: www"
    assert message.notify_type == "failure"


def test_a_service_apprise_list_replaces_the_collective_one() -> None:
    inventory = make_inventory(www={"apprise": ["cigales", "admins"]}, mail={"apprise": []})

    plan = plan_notifications(inventory, make_run(www="failed", mail="failed", cloud="failed"), {})

    routed = {message.secret: message.title for message in plan.messages}
    assert routed == {"admins": "[Ti Nuage] backup failed: www, cloud", "cigales": "[Ti Nuage] backup failed: www"}


def test_unknown_notification_secrets_are_reported_with_their_path(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text("""
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
secrets: {known: {env: KNOWN}}
hosts: {web: {address: 192.0.2.23}}
notify: {healthchecks: [known], apprise: [missing-chat]}
services:
  www: {host: web, notify: {healthchecks: [missing-ping], apprise: [known]}}
""")

    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path / "inventory.yml")

    found = {(problem.path, problem.message) for problem in raised.value.problems}
    assert ("notify.apprise[0]", "unknown secret 'missing-chat' (known: known)") in found
    assert ("services.www.notify.healthchecks[0]", "unknown secret 'missing-ping' (known: known)") in found
    assert len(found) == 2
    assert all(problem.line for problem in raised.value.problems)


def test_notify_rejects_unknown_events_and_keys() -> None:
    with pytest.raises(ValueError, match="events"):
        make_inventory({"events": ["sometimes"]})
    with pytest.raises(ValueError, match="webhook"):
        make_inventory({"webhook": ["admins"]})
