from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import load_inventory
from chaton_ops.core.notifications import (
    Ping,
    describe_step,
    ping_url,
    plan_notifications,
    plan_run_messages,
    plan_start_pings,
    service_events,
    step_subject,
    subject_status,
)
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.core.run_report import RunSummary, StepSummary
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


# ---------------------------------------------------------------------------------------------
# Any command's run, planned from its RunSummary
# ---------------------------------------------------------------------------------------------


def step(key: str, action: str, target: str, host: str | None, status: str, message: str = "") -> StepSummary:
    return StepSummary(key, action, target, host, status, message)


def summary(command: str, *steps: StepSummary, status: str = "ok") -> RunSummary:
    return RunSummary(7, command, status, 0 if status == "ok" else 1, "2026-11-22T03:00:00+00:00",
                      "2026-11-22T03:01:01+00:00", steps)


@pytest.mark.parametrize(
    ("given", "subject"),
    [
        (step("backup:www@main", "backup", "www@main", "web", "ok"), "www"),
        (step("backup:www@me@offsite", "backup", "www@me@offsite", "web", "ok"), "www@me"),
        (step("forget:main", "forget", "main", "web", "ok"), "main"),
        (step("deploy:www@web", "playbook", "www", "web", "changed"), "www"),
        (step("restore:www@web", "restore", "www", "web", "changed"), "www"),
        (step("drill:www@backup", "drill", "www", "backup", "ok"), "www"),
        (step("check:main", "check", "main", "web", "failed"), "main"),
        (step("prune:offsite", "prune", "offsite", "web", "changed"), "offsite"),
        (step("init:main@web", "init", "main", "web", "changed"), "main"),
        (step("unlock:main@web", "unlock", "main", "web", "changed"), "main"),
        (step("export", "export", "cigales", None, "changed"), "cigales"),
        (step("remove-data:cloud@web", "remove-data", "cloud", "web", "changed"), "cloud"),
        (step("forget:cloud@main", "forget", "cloud", "web", "changed"), "cloud"),
        (step("final-backup:www@web", "backup", "www", "web", "changed"), "www"),
        (step("dns:www", "dns", "www", None, "changed"), "www"),
        (step("verify:www", "check", "www", None, "ok"), "www"),
        (step("clean:www@vps", "undo", "www", "vps", "changed"), "www"),
        (step("snapshot:pve/101", "vm-snapshot", "web", "pve1", "changed"), "web"),
        (step("write:chaton-backup.timer", "write", "chaton-backup.timer", None, "changed"), "chaton-backup.timer"),
        (step("enable", "enable", "", None, "changed"), "enable"),
    ],
)
def test_a_step_is_about_its_service_else_its_target(given: StepSummary, subject: str) -> None:
    assert step_subject(given) == subject


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["changed", "ok"], "ok"),
        (["noop"], "ok"),
        (["changed", "warning"], "warning"),
        (["changed", "failed", "skipped"], "failed"),
        (["changed", "skipped"], "failed"),
        (["changed", "interrupted"], "failed"),
        (["warning", "failed"], "failed"),
    ],
)
def test_a_subject_fails_with_any_of_its_steps(statuses: list[str], expected: str) -> None:
    assert subject_status([step(f"s{i}", "a", "x", None, s) for i, s in enumerate(statuses)]) == expected


def test_a_failed_deploy_sends_one_failure_message_naming_the_service_and_the_step() -> None:
    run = summary("deploy", step("deploy:www@web", "playbook", "www", "web", "failed",
                                 "step 2 (reload nginx): exit 1\nnginx: [emerg] …"), status="failed")

    plan = plan_run_messages(make_inventory(), run, {})

    assert plan.pings == ()
    assert plan.statuses == {"www": "failed"}
    assert [(m.secret, m.title, m.notify_type) for m in plan.messages] == [
        ("admins", "[Ti Nuage] deploy failed: www", "failure")]
    assert plan.messages[0].body == (
        "Ti Nuage: deploy (run 7) started 2026-11-22 03:00:00 UTC, took 61 s, failed (0 ok, 0 warning, 1 failed)\n"
        "\n"
        "Failed:\n"
        "- www on web: playbook failed: step 2 (reload nginx): exit 1")


def test_a_failover_that_succeeded_is_told_even_when_only_failures_are_asked_for() -> None:
    inventory = make_inventory({"apprise": ["admins"], "events": ["failure"]})
    run = summary("failover",
                  step("stop:www@web", "stop", "www", "web", "noop", "web does not answer"),
                  step("restore:www@vps", "restore", "www", "vps", "changed"),
                  step("dns:www", "dns", "www", None, "changed", "www.ti-nuage.example → 198.51.100.7"),
                  step("restore:cloud@vps", "restore", "cloud", "vps", "changed"),
                  step("dns:cloud", "dns", "cloud", None, "changed"))

    plan = plan_run_messages(inventory, run, {})

    assert [(m.title, m.notify_type) for m in plan.messages] == [("[Ti Nuage] failover ok: www, cloud", "success")]
    assert plan.messages[0].body.splitlines()[2:] == [
        "Succeeded:",
        "- www on web: stop noop: web does not answer",
        "- www on vps: restore changed",
        "- www: dns changed: www.ti-nuage.example → 198.51.100.7",
        "- cloud on vps: restore changed",
        "- cloud: dns changed",
    ]
    # the same success from any other command is not news with events [failure]
    assert plan_run_messages(inventory, replace(run, command="deploy"), {}).messages == ()
    # a rehearsal follows notify.events too: nothing moved
    assert plan_run_messages(inventory, replace(run, command="rehearsal"), {}).messages == ()


def test_a_check_with_a_failed_repository_names_the_repository() -> None:
    run = summary("check", step("check:main", "check", "main", "web", "ok"),
                  step("check:offsite", "check", "offsite", "web", "failed", "pack abc: checksum mismatch"),
                  status="partial")

    plan = plan_run_messages(make_inventory(), run, {})

    assert plan.statuses == {"main": "ok", "offsite": "failed"}
    assert [m.title for m in plan.messages] == ["[Ti Nuage] check failed: offsite"]
    assert "- offsite on web: check failed: pack abc: checksum mismatch" in plan.messages[0].body
    assert "main" not in plan.messages[0].body.split("\n", 1)[1]  # a steady success is not listed


def test_a_drill_with_one_failed_service_among_others_tells_that_one() -> None:
    run = summary("drill", *(step(f"drill:{s}@backup", "drill", s, "backup", "failed" if s == "mail" else "ok",
                                  "restic exit 1: wrong password" if s == "mail" else "")
                             for s in ("www", "mail", "cloud")), status="partial")

    plan = plan_run_messages(make_inventory(), run, {})

    assert plan.events == {"www": ("success",), "mail": ("failure",), "cloud": ("success",)}
    assert [m.title for m in plan.messages] == ["[Ti Nuage] drill failed: mail"]
    assert plan.messages[0].body.endswith("Failed:\n- mail on backup: drill failed: restic exit 1: wrong password")


def test_the_second_run_that_works_tells_a_recovery() -> None:
    first = summary("deploy", step("deploy:www@web", "playbook", "www", "web", "failed", "exit 1"), status="failed")
    second = summary("deploy", step("deploy:www@web", "playbook", "www", "web", "changed", "2 of 5 steps changed"))
    inventory = make_inventory()

    remembered = plan_run_messages(inventory, first, {}).statuses
    plan = plan_run_messages(inventory, second, remembered)

    assert remembered == {"www": "failed"}
    assert plan.events == {"www": ("recovery", "success")}
    assert [(m.title, m.notify_type) for m in plan.messages] == [("[Ti Nuage] deploy recovered: www", "success")]
    assert plan.messages[0].body.endswith("Recovered:\n- www on web: playbook changed: 2 of 5 steps changed")


def test_a_dry_run_tells_nothing() -> None:
    plan = plan_run_messages(make_inventory({"apprise": ["admins"], "events": ["failure", "success"]}), None, {})
    assert (plan.messages, plan.pings, plan.statuses) == ((), (), {})


def test_a_service_apprise_list_routes_its_own_subject_and_a_repository_goes_to_the_collective() -> None:
    inventory = make_inventory(www={"apprise": ["cigales"]})
    run = summary("tenant", step("undeploy:www@web", "undeploy", "www", "web", "failed", "gone"),
                  step("check:main", "check", "main", "web", "failed", "locked"), status="failed")

    plan = plan_run_messages(inventory, run, {})

    assert {m.secret: m.title for m in plan.messages} == {"cigales": "[Ti Nuage] tenant failed: www",
                                                         "admins": "[Ti Nuage] tenant failed: main"}


@pytest.mark.parametrize(("status", "message", "line"), [
    ("skipped", "skipped: needs final-backup:mail@primary, which did not succeed",
     "mail on vps: restore skipped: needs final-backup:mail@primary, which did not succeed"),
    ("failed", "exit 1\nmore detail", "mail on vps: restore failed: exit 1"),
    ("ok", "", "mail on vps: restore ok"),
    ("failed", "skipped: not a prefix of this status", "mail on vps: restore failed: skipped: not a prefix of this status"),
])
def test_a_step_line_says_its_status_once(status: str, message: str, line: str) -> None:
    assert describe_step("mail", step("restore:mail@vps", "restore", "mail", "vps", status, message)) == line
