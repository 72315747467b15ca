"""Failover, rehearsal and failback plans as data: facts in → steps and no-ops out."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.failover import (
    FailbackService,
    FailoverFacts,
    HostFacts,
    ServiceFacts,
    SnapshotFact,
    plan_failback,
    plan_failover,
    select_failback_services,
    select_failover_services,
)
from chaton_ops.core.inventory import Inventory
from chaton_ops.errors import UsageError

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
GIB = 1024**3


def inventory() -> Inventory:
    return Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "hosts": {"primary": {"address": "192.0.2.1"}, "other": {"address": "192.0.2.2"},
                  "vps": {"address": "198.51.100.7", "kind": "fallback"}},
        "services": {"www": {"host": "primary", "fallback": "vps", "priority": "high"},
                     "mail": {"host": "primary", "fallback": "vps", "priority": "critical"},
                     "wiki": {"host": "other", "fallback": "vps"},
                     "chat": {"host": "primary"}},
    })


def test_services_are_chosen_by_their_fallback_in_priority_order():
    inv = inventory()
    assert select_failover_services(inv, "vps") == ["mail", "www", "wiki"]
    assert select_failover_services(inv, "vps", source="other") == ["wiki"]
    assert select_failover_services(inv, "vps", ["www", "mail"]) == ["mail", "www"]


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("primary",), {}, "primary is not a fallback host"),
    (("nowhere",), {}, "unknown host: nowhere"),
    (("vps", ["chat"]), {}, "not failed over to vps: chat (no fallback)"),
    (("vps", ["nosuch"]), {}, "unknown service: nosuch"),
    (("vps",), {"source": "nosuch"}, "unknown host: nosuch"),
    (("vps",), {"source": "vps"}, "no service placed on vps has vps as its fallback"),
])
def test_bad_selections_say_what_is_wrong(args, kwargs, message):
    with pytest.raises(UsageError) as raised:
        select_failover_services(inventory(), *args, **kwargs)
    assert raised.value.message.startswith(message)


def facts(*, source_answers: bool, snapshot: bool = True, free: int | None = 50 * GIB, capacity: int | None = 100 * GIB,
          speed: float | None = None) -> FailoverFacts:
    snap = SnapshotFact("a" * 64, NOW - dt.timedelta(hours=5), 2 * GIB) if snapshot else None
    return FailoverFacts(
        fallback=HostFacts("vps", "198.51.100.7", True, restic="0.18.0", free_bytes=free, capacity_bytes=capacity),
        sources={"primary": HostFacts("primary", "192.0.2.1", source_answers, None if source_answers else "timed out")},
        services=(ServiceFacts("www", "primary", "primary", snap, has_playbook=True, has_check=True,
                               dns_zones=("t.example",)),),
        now=NOW, restore_speed=speed,
        records={"www": {"t.example": [{"name": "www", "type": "A", "ttl": 3600, "values": ["192.0.2.1"]}]}})


def test_a_dead_source_is_never_touched_and_the_data_since_the_snapshot_is_what_is_lost():
    planned = plan_failover(facts(source_answers=False, speed=100 * 1024**2))

    steps = {s.key: s for s in planned.plan.steps}
    assert steps["stop:www@primary"].noop == steps["final-backup:www@primary"].noop == \
        "primary timed out: never touched again"
    assert steps["restore:www@vps"].inputs["snapshot"] == "a" * 64 and not steps["restore:www@vps"].needs
    assert steps["after-restore:www@vps"].noop == "the playbook has no after_restore steps"
    assert steps["dns:www"].needs == ("check-local:www@vps", "place:www")
    assert steps["dns:www"].inputs["records_before"]["t.example"][0]["values"] == ["192.0.2.1"]
    assert steps["verify:www"].needs == ("dns:www",)
    (estimate,) = planned.estimates
    assert estimate.data_age_seconds == 5 * 3600 and planned.speed_measured
    assert estimate.seconds == pytest.approx(2 * GIB / (100 * 1024**2) + 15)
    assert planned.refusals == ()


def test_a_source_that_answers_is_stopped_and_backed_up_first_and_the_restore_takes_that_backup():
    planned = plan_failover(facts(source_answers=True))

    steps = {s.key: s for s in planned.plan.steps}
    assert steps["stop:www@primary"].noop == "the playbook has no stop: commands"
    assert steps["final-backup:www@primary"].noop is None
    assert steps["restore:www@vps"].needs == ("final-backup:www@primary",)
    assert steps["restore:www@vps"].inputs["snapshot"] == "latest"
    assert planned.estimates[0].data_age_seconds == 0 and not planned.speed_measured


def test_without_final_backup_the_latest_snapshot_is_restored_as_it_is():
    planned = plan_failover(facts(source_answers=True), final_backup=False)

    assert planned.plan.step("final-backup:www@primary").noop.startswith("--no-final-backup")
    assert planned.plan.step("restore:www@vps").inputs["snapshot"] == "a" * 64


@pytest.mark.parametrize(("kwargs", "refusal"), [
    ({"free": 1 * GIB}, "vps has 1.0 GiB free, the services need 2.0 GiB"),
    ({"capacity": 1 * GIB}, "vps cannot take 2.0 GiB of data: its inventory capacity is 1.0 GiB"),
    ({"snapshot": False}, "service www has no snapshot to restore"),
])
def test_a_failover_that_cannot_fit_or_has_nothing_to_restore_is_refused_with_the_numbers(kwargs, refusal):
    planned = plan_failover(facts(source_answers=False, **kwargs))
    assert any(r.startswith(refusal) for r in planned.refusals), planned.refusals


def test_a_rehearsal_touches_neither_the_source_nor_dns_and_undoes_itself():
    planned = plan_failover(facts(source_answers=True), rehearse=True)

    keys = [s.key for s in planned.plan.steps]
    assert keys == ["restore:www@vps", "deploy:www@vps", "after-restore:www@vps", "check-local:www@vps",
                    "undo:www@vps"]
    assert planned.plan.command == "rehearsal" and planned.plan.step("undo:www@vps").needs == ()


def test_failback_backs_up_away_restores_home_puts_dns_back_then_leaves_the_fallback():
    plan = plan_failback([FailbackService("www", "vps", "primary", 12, has_playbook=True, has_check=True,
                                          dns_zones=("t.example",))],
                         home_addresses={"primary": "192.0.2.1"}, clean=True)

    assert [s.key for s in plan.steps] == [
        "final-backup:www@vps", "restore:www@primary", "deploy:www@primary", "after-restore:www@primary",
        "check-local:www@primary", "dns:www", "verify:www", "place:www", "stop:www@vps", "clean:www@vps"]
    assert plan.step("dns:www").inputs["failover_run"] == 12
    assert plan.step("check-local:www@primary").inputs["address"] == "192.0.2.1"


def test_failback_chooses_services_away_from_home():
    away = {"www": ("vps", "primary")}
    assert select_failback_services(away, []) == ["www"]
    with pytest.raises(UsageError, match="already at home"):
        select_failback_services(away, ["mail"])
    with pytest.raises(UsageError, match="no service is failed over"):
        select_failback_services({}, [])
