"""No crying wolf: confirm, one message per change, recoveries, maintenance, incidents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from chaton_ops.core.alerting import (
    AlertState,
    Change,
    forget_stale,
    mark_told,
    plan_messages,
    public_levels,
    silence,
    track,
    track_public,
)
from chaton_ops.core.health import Finding
from chaton_ops.core.inventory import Inventory

START = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
EVERYTHING = ("failure", "warning", "recovery")

INVENTORY = Inventory.model_validate({
    "version": 1,
    "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
    "secrets": {"chat": {"env": "CHAT_URL"}, "cigales": {"env": "CIGALES_URL"}},
    "hosts": {"web": {"address": "192.0.2.23"}},
    "notify": {"apprise": ["chat"]},
    "services": {
        "www": {"host": "web", "check": {"http": {"url": "https://www.ti-nuage.example/"}}},
        "cigales": {"host": "web", "dns": [{"zone": "ti-nuage.example", "name": "cigales"}],
                    "notify": {"apprise": ["cigales", "chat"]}},
        "internal": {"host": "web"},
    },
})


def http(level: str, service: str = "www", silenced: str | None = None) -> Finding:
    return Finding("services", service, "http", level, f"says {level}", item="u", host="web", service=service,  # type: ignore[arg-type]
                   silenced=silenced)


def run(state: AlertState, findings: Sequence[Finding], minute: int, *, confirm: int = 2,
        wanted: Sequence[str] = EVERYTHING, deliver: bool = True) -> tuple[AlertState, list[Change]]:
    state, changes = track(state, findings, START + dt.timedelta(minutes=minute), confirm=lambda f: confirm,
                           wanted=wanted)
    told = [change for change in changes if change.held is None]
    if deliver:
        state = mark_told(state, told)
    return state, told


def test_a_problem_is_told_once_after_confirm_runs_and_its_recovery_once() -> None:
    state = AlertState()
    levels = ["ok", "critical", "critical", "critical", "critical", "ok", "ok", "ok"]
    told: list[tuple[int, str]] = []
    for minute, level in enumerate(levels):
        state, changes = run(state, [http(level)], minute * 5)
        told += [(minute, change.event) for change in changes]

    assert told == [(2, "failure"), (6, "recovery")]


def test_a_blip_shorter_than_confirm_is_never_told() -> None:
    state = AlertState()
    told = []
    for minute, level in enumerate(["ok", "critical", "ok", "critical", "ok", "ok"]):
        state, changes = run(state, [http(level)], minute)
        told += changes

    assert told == []


def test_a_change_of_level_is_told_and_the_previous_level_named() -> None:
    state = AlertState()
    events = []
    for minute, level in enumerate(["warning", "warning", "critical", "critical", "critical"]):
        state, changes = run(state, [http(level)], minute)
        events += [(change.event, change.previous) for change in changes]

    assert events == [("warning", "ok"), ("failure", "warning")]


def test_confirm_one_tells_at_once() -> None:
    _, changes = run(AlertState(), [http("critical")], 0, confirm=1)

    assert [change.event for change in changes] == ["failure"]


def test_an_undelivered_message_is_tried_again_next_run() -> None:
    state = AlertState()
    state, _ = run(state, [http("critical")], 0)
    state, first = run(state, [http("critical")], 5, deliver=False)
    state, second = run(state, [http("critical")], 10)
    state, third = run(state, [http("critical")], 15)

    assert len(first) == 1 and len(second) == 1 and third == []


def test_events_not_wanted_are_not_told_and_a_recovery_follows_only_what_was_told() -> None:
    state = AlertState()
    events = []
    sequence = ["warning", "warning", "warning", "ok", "ok", "critical", "critical", "warning", "warning", "ok", "ok"]
    for minute, level in enumerate(sequence):
        state, changes = run(state, [http(level)], minute, wanted=("failure", "recovery"))
        events += [change.event for change in changes]

    # warnings are not wanted (the default `notify.events`): the first warning and its end pass silently;
    # after the critical was told, its end (through a warning) is a recovery
    assert events == ["failure", "recovery"]


def test_a_maintenance_window_holds_messages_back_and_a_problem_outlasting_it_is_told_after() -> None:
    state = AlertState()
    held: list[Change] = []
    told: list[str] = []
    for minute, (level, silenced) in enumerate([("critical", "in maintenance"), ("critical", "in maintenance"),
                                                ("ok", "in maintenance"), ("critical", "in maintenance"),
                                                ("critical", "in maintenance"), ("critical", None)]):
        state, changes = track(state, [http(level, silenced=silenced)], START + dt.timedelta(minutes=minute),
                               confirm=lambda f: 2, wanted=EVERYTHING)
        held += [change for change in changes if change.held]
        sent = [change for change in changes if not change.held]
        state = mark_told(state, sent)
        told += [change.event for change in sent]

    assert told == ["failure"]  # once the window is over, not during it
    assert held and all(change.held == "in maintenance" for change in held)


def test_one_message_per_destination_groups_problems_and_recoveries() -> None:
    changes = [Change(http("critical"), "ok", "failure"),
               Change(replace(http("ok", "cigales"), check="dns"), "critical", "recovery")]

    messages = {destination: (title, body, kind) for destination, title, body, kind, _ in plan_messages(INVENTORY, changes)}

    assert set(messages) == {"chat", "cigales"}
    title, body, kind = messages["chat"]
    assert title == "[Ti Nuage] status problems: www http u; recovered: cigales dns u"
    assert "- www http u: critical: says critical" in body
    assert "- cigales dns u: ok again (was critical)" in body
    assert kind == "failure"
    assert "www" not in messages["cigales"][0]  # a service's own destination hears about it alone


def test_held_changes_make_no_message() -> None:
    assert plan_messages(INVENTORY, [Change(http("critical"), "ok", "failure", held="maintenance")]) == []


def test_silences_and_stale_findings_are_forgotten() -> None:
    state, _ = run(AlertState(), [http("ok"), http("ok", "gone")], 0)
    state = silence(state, "www", START + dt.timedelta(hours=1))
    state = silence(state, "web", START - dt.timedelta(hours=1))

    later = forget_stale(state, INVENTORY, START + dt.timedelta(minutes=10))
    assert set(later.silences) == {"www"}
    assert [key.split("/")[1] for key in later.findings] == ["www"]  # `gone` is not in the inventory
    much_later = forget_stale(state, INVENTORY, START + dt.timedelta(days=40))
    assert much_later.findings == {} and much_later.silences == {}
    assert silence(state, "www", None).silences.get("www") is None


def test_public_services_are_those_with_a_probe_or_records_and_go_down_with_their_host() -> None:
    down = Finding("hosts", "web", "reachable", "critical", "timed out", host="web", unreachable=True)

    assert set(public_levels(INVENTORY, [http("ok"), replace(http("warning", "cigales"), check="dns")])) == {
        "www", "cigales"}
    assert public_levels(INVENTORY, [down])["www"] == ("critical", "its server web cannot be reached")


def test_incidents_open_and_close_with_confirmed_states() -> None:
    state = AlertState()
    for minute, level in enumerate(["ok", "critical", "critical", "critical", "ok", "ok", "critical"]):
        state = track_public(state, INVENTORY, [http(level)], START + dt.timedelta(minutes=minute * 5), confirm=2)

    [incident] = state.incidents
    assert (incident.service, incident.level) == ("www", "critical")
    assert incident.start == "2026-11-22T12:05:00+00:00" and incident.end == "2026-11-22T12:20:00+00:00"
    assert state.findings["public/www"].since == "2026-11-22T12:30:00+00:00"  # critical again, not confirmed yet


def test_a_cluster_finding_is_remembered_between_runs_so_it_can_be_confirmed() -> None:
    with_cluster = INVENTORY.model_copy(update={"proxmox": Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"tok": {"env": "TOK"}},
        "proxmox": {"hutte": {"api": "https://pve.example:8006", "token_id": "chaton@pve!ops", "token": "tok"}},
    }).proxmox})
    cluster = Finding("vms", "hutte", "api", "unknown", "cluster not read: timed out")
    state = AlertState()
    told = []
    for minute in range(3):
        state, changes = track(state, [cluster], START + dt.timedelta(minutes=minute), confirm=lambda f: 2,
                               wanted=EVERYTHING)
        told += changes
        state = forget_stale(mark_told(state, changes), with_cluster, START + dt.timedelta(minutes=minute))

    assert [change.event for change in told] == ["failure"]
