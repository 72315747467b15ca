"""core/vm_plan: drift, onboot plan, prune selection, archive freshness, exit codes (pure, no cluster)."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.proxmox import Archive, Guest, GuestRef, Snapshot
from chaton_ops.core.vm_health import assess_guest
from chaton_ops.core.vm_plan import (
    GuestResult,
    archive_freshness,
    exit_code_for,
    format_compact,
    format_hours,
    inventory_vms,
    plan_onboot,
    plan_snapshot_prune,
    relate_guests,
    select_vm_hosts,
    snapshot_name,
)
from chaton_ops.errors import ExitCode, UsageError

NOW = dt.datetime(2026, 11, 21, 14, 32, tzinfo=dt.UTC)


def inventory(**hosts: dict) -> Inventory:
    return Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"tok": {"env": "TOK"}},
        "proxmox": {"hutte": {"api": "https://pve1:8006", "token_id": "c@pve!ops", "token": "tok"}},
        "hosts": {"vps": {"address": "198.51.100.7", "kind": "fallback"}, **hosts}})


def vm(vmid: int, node: str = "pve1") -> dict:
    return {"address": f"192.0.2.{vmid % 250}", "vm": {"proxmox": "hutte", "node": node, "vmid": vmid}}


def guest(vmid: int, node: str = "pve1", *, status: str = "running", kind: str = "qemu", lock: str | None = None,
          template: bool = False, name: str = "") -> Guest:
    return Guest(GuestRef("hutte", node, kind, vmid), name or f"g{vmid}", status, lock=lock, template=template)  # type: ignore[arg-type]


def test_snapshot_names_carry_the_utc_minute() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert snapshot_name(dt.datetime(2026, 11, 21, 15, 32, 59, tzinfo=paris)) == "chaton-2026-11-21-1432"


def test_select_vm_hosts_says_which_hosts_are_no_guests() -> None:
    inv = inventory(web=vm(103))

    assert [v.host for v in select_vm_hosts(inv, ["web", "web"])] == ["web"]
    with pytest.raises(UsageError, match="host 'vps' is not a Proxmox guest"):
        select_vm_hosts(inv, ["vps"])
    with pytest.raises(UsageError, match=r"unknown host 'nope' \(Proxmox guests of the inventory: web\)"):
        select_vm_hosts(inv, ["nope"])


def test_drift_both_ways() -> None:
    inv = inventory(mail=vm(101), web=vm(103, "pve1"), gone=vm(150))
    guests = [guest(101), guest(103, "pve2"), guest(120), guest(9000, template=True)]

    rows = relate_guests(inv, "hutte", guests, {101: True})

    assert [(r.vmid, r.relation, r.host, r.drift) for r in rows] == [
        (101, "inventory", "mail", False), (103, "migrated", "web", True), (120, "not-in-inventory", None, True),
        (9000, "template", None, False), (150, "missing", "gone", True)]
    assert rows[0].onboot is True and rows[1].onboot is None
    assert rows[1].describe() == "103 g103 runs on pve2; host web in the inventory says pve1"


def test_onboot_plan_changes_only_guests_that_would_not_start() -> None:
    inv = inventory(a=vm(101), b=vm(102), c=vm(103, "pve2"), d=vm(104), e=vm(105))
    guests = [guest(101), guest(102), guest(103, "pve2"), guest(104, template=True)]
    configs = {101: {"onboot": 1}, 102: {"digest": "d1"}, 103: None, 104: {}}

    checks = plan_onboot(inventory_vms(inv), guests, configs)

    assert [(c.host, c.onboot, c.call.describe() if c.call else None, c.problem) for c in checks] == [
        ("a", True, None, False),
        ("b", False, "PUT /nodes/pve1/qemu/102/config onboot=1 digest=d1", True),
        ("c", None, None, True),  # node offline: unknown
        ("d", False, None, False),  # a template is never started
        ("e", None, None, True),  # no such guest
    ]
    assert checks[2].reason == "node pve2 is offline: onboot unknown"


def snap(name: str, days_ago: float) -> Snapshot:
    return Snapshot(name, NOW - dt.timedelta(days=days_ago))


DATED = [snap(f"chaton-2026-11-{21 - d:02d}-1200", d) for d in (20, 10, 5, 2, 1)]
MANUAL = [snap("before-upgrade", 90), snap("chaton-manual", 60)]


@pytest.mark.parametrize(("keep", "older", "deleted"), [
    (2, None, [0, 1, 2]), (None, 7, [0, 1]), (4, 7, [0]), (0, None, [0, 1, 2, 3, 4]), (10, None, []),
    (None, 30, [])])
def test_prune_removes_only_what_its_rules_allow_and_never_other_names(keep, older, deleted) -> None:
    plan = plan_snapshot_prune(DATED + MANUAL, keep=keep, older_than_days=older, now=NOW)

    assert [s.name for s in plan.delete] == [DATED[i].name for i in deleted]
    assert [s.name for s in plan.keep] == [s.name for i, s in enumerate(DATED) if i not in deleted]
    assert {s.name for s in plan.untouched} == {"before-upgrade", "chaton-manual"}


def test_prune_without_a_rule_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        plan_snapshot_prune(DATED, keep=None, older_than_days=None, now=NOW)


def archive(vmid: int, hours_ago: float) -> Archive:
    return Archive(f"b:backup/vzdump-qemu-{vmid}-x.vma.zst", "b", vmid, NOW - dt.timedelta(hours=hours_ago), 1)


def test_freshness_flags_old_and_missing_archives_and_not_unknown_nodes() -> None:
    guests = [guest(101), guest(102), guest(103), guest(104, "pve2"), guest(9000, template=True)]
    archives = [archive(101, 100), archive(101, 20), archive(102, 30)]

    found = {f.guest.ref.vmid: f for f in archive_freshness(guests, archives, {101: "mail"}, 26, NOW, ["pve2"])}

    assert sorted(found) == [101, 102, 103, 104]
    assert (found[101].stale, round(found[101].age_hours or 0), found[101].host) == (False, 20, "mail")
    assert found[102].stale and found[102].describe() == "no archive newer than 26 h (newest 30 h old)"
    assert found[103].stale and found[103].describe() == "no archive"
    assert not found[104].stale and found[104].describe() == "unknown: node pve2 is offline"


def test_health_of_a_guest_names_each_problem() -> None:
    inv = inventory(web=vm(103))
    [row] = relate_guests(inv, "hutte", [guest(103, status="stopped", lock="backup")], {103: False})
    [fresh] = archive_freshness([row.guest], [], {}, 26, NOW)  # type: ignore[list-item]

    health = assess_guest(row, [], fresh, 26)

    assert health.problems == ("not running (stopped)", "onboot is off: would not start with its node",
                               "locked (backup)", "no archive")
    assert (health.running, health.onboot, health.lock, health.last_archive_age_hours) == (False, False, "backup", None)
    assert not health.ok


def result(status: str, unreachable: bool = False) -> GuestResult:
    return GuestResult("hutte", 1, "g", None, "pve1", "vzdump", status, unreachable=unreachable)  # type: ignore[arg-type]


@pytest.mark.parametrize(("statuses", "code"), [
    ([], ExitCode.OK), (["ok", "ok"], ExitCode.OK), (["ok", "failed"], ExitCode.PARTIAL),
    (["failed", "failed"], ExitCode.FAILED)])
def test_exit_codes_of_a_run(statuses, code) -> None:
    assert exit_code_for([result(s) for s in statuses]) == code


def test_a_run_where_nothing_was_reached_exits_4() -> None:
    assert exit_code_for([result("failed", True), result("failed", True)]) == ExitCode.UNREACHABLE
    assert exit_code_for([result("failed", True), result("failed")]) == ExitCode.FAILED


@pytest.mark.parametrize(("hours", "long", "short"), [
    (0.5, "30 min", "30m"), (3.25, "3 h 15 min", "3h15m"), (20, "20 h", "20h00m"), (50, "2 d 2 h", "2d2h"),
    (96, "4 d", "4d"), (None, "-", "-")])
def test_durations_read_at_a_glance(hours, long, short) -> None:
    assert format_hours(hours) == long
    assert format_compact(hours) == short
