"""core/proxmox: the API calls chaton builds and the answers it parses (pure, no cluster)."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.inventory import PruneBackups, Vzdump
from chaton_ops.core.proxmox import (
    ApiCall,
    GuestRef,
    ProxmoxDataError,
    TaskStatus,
    check_snapshot_name,
    delete_snapshot_call,
    parse_archives,
    parse_cluster_state,
    parse_guests,
    parse_onboot,
    parse_snapshots,
    prune_backups_value,
    rollback_call,
    set_onboot_call,
    snapshot_call,
    task_status_path,
    upid_node,
    vzdump_call,
)
from chaton_ops.errors import UsageError

WEB = GuestRef("hutte", "pve1", "qemu", 103)
DNS = GuestRef("hutte", "pve2", "lxc", 201)
UPID = "UPID:pve1:000003E8:00001B58:6B022889:qmsnapshot:103:chaton@pve!ops:"


def test_calls_name_the_guest_by_node_kind_and_vmid() -> None:
    assert set_onboot_call(WEB, "abc").describe() == "PUT /nodes/pve1/qemu/103/config onboot=1 digest=abc"
    assert set_onboot_call(DNS).describe() == "PUT /nodes/pve2/lxc/201/config onboot=1"
    assert rollback_call(WEB, "s1").describe() == "POST /nodes/pve1/qemu/103/snapshot/s1/rollback"
    assert delete_snapshot_call(DNS, "s1").describe() == "DELETE /nodes/pve2/lxc/201/snapshot/s1"


def test_a_snapshot_saves_ram_only_for_a_vm() -> None:
    assert snapshot_call(WEB, "s1", vmstate=True).params == (("snapname", "s1"), ("vmstate", "1"))
    assert snapshot_call(DNS, "s1", vmstate=True).params == (("snapname", "s1"),)


def test_describe_quotes_values_with_spaces() -> None:
    call = snapshot_call(WEB, "s1", description="taken by chaton")

    assert call.describe() == "POST /nodes/pve1/qemu/103/snapshot snapname=s1 description='taken by chaton'"
    assert call.as_dict() == {"method": "POST", "path": "/nodes/pve1/qemu/103/snapshot",
                              "params": {"snapname": "s1", "description": "taken by chaton"}}


@pytest.mark.parametrize("name", ["../../x", "a", "1abc", "x" * 41, "with space", "semi;colon", ""])
def test_a_snapshot_name_pve_would_refuse_is_a_usage_error(name: str) -> None:
    with pytest.raises(UsageError):
        check_snapshot_name(name)


def test_prune_backups_is_pves_property_string_in_pves_order() -> None:
    assert prune_backups_value(PruneBackups(keep_weekly=6, keep_last=2)) == "keep-last=2,keep-weekly=6"


def test_vzdump_takes_the_inventory_settings_and_the_command_line_on_top() -> None:
    settings = Vzdump(storage="backup", mode="suspend", compress="none", prune_backups=PruneBackups(keep_weekly=6))

    assert vzdump_call(WEB, settings) == ApiCall("POST", "/nodes/pve1/vzdump", (
        ("vmid", "103"), ("storage", "backup"), ("mode", "suspend"), ("compress", "0"),
        ("prune-backups", "keep-weekly=6")))
    call = vzdump_call(DNS, Vzdump(storage="backup"), storage="nfs", mode="stop")
    assert call.describe() == "POST /nodes/pve2/vzdump vmid=201 storage=nfs mode=stop compress=zstd"


def test_a_node_name_from_the_api_that_cannot_be_a_path_segment_is_refused() -> None:
    with pytest.raises(ProxmoxDataError):
        set_onboot_call(GuestRef("hutte", "../etc", "qemu", 103))
    with pytest.raises(ProxmoxDataError):
        parse_guests("hutte", [{"type": "qemu", "vmid": 1, "node": "a/b"}])
    with pytest.raises(ProxmoxDataError):
        task_status_path("pve1", "UPID:pve1:../../x")


def test_guests_are_qemu_and_lxc_sorted_by_vmid() -> None:
    guests = parse_guests("hutte", [
        {"type": "lxc", "vmid": 201, "node": "pve2", "name": "dns", "status": "running", "uptime": 5, "lock": "backup"},
        {"type": "node", "node": "pve1"},
        {"type": "qemu", "vmid": 103, "node": "pve1", "name": "web", "status": "stopped", "template": 0},
        {"type": "storage", "node": "pve1"},
    ])

    assert [(g.ref.kind, g.ref.vmid, g.status, g.lock) for g in guests] == [
        ("qemu", 103, "stopped", None), ("lxc", 201, "running", "backup")]


def test_a_lone_node_without_a_cluster_is_quorate() -> None:
    lone = parse_cluster_state([{"type": "node", "name": "pve1", "online": 1}])
    lost = parse_cluster_state([{"type": "cluster", "quorate": 0}, {"type": "node", "name": "pve1", "online": 1},
                                {"type": "node", "name": "pve2", "online": 0}])

    assert lone.quorate and lone.online("pve1") is True and lone.online("pve9") is None
    assert not lost.quorate and lost.offline_nodes == ("pve2",)


@pytest.mark.parametrize(("config", "onboot"), [({}, False), ({"onboot": 1}, True), ({"onboot": "0"}, False),
                                                 ({"onboot": "1"}, True)])
def test_onboot_absent_is_off(config: dict, onboot: bool) -> None:
    assert parse_onboot(config) is onboot


def test_snapshots_leave_out_the_current_state_and_come_oldest_first() -> None:
    snapshots = parse_snapshots([
        {"name": "b", "snaptime": 200, "vmstate": 1},
        {"name": "current", "running": 1, "description": "You are here!"},
        {"name": "a", "snaptime": 100, "description": "manual "},
    ])

    assert [(s.name, s.vmstate, s.description) for s in snapshots] == [("a", False, "manual"), ("b", True, "")]
    assert snapshots[0].taken == dt.datetime(1970, 1, 1, 0, 1, 40, tzinfo=dt.UTC)


def test_archives_take_guest_and_time_from_the_name_when_pve_does_not_say() -> None:
    archives = parse_archives("backup", [
        {"volid": "backup:backup/vzdump-qemu-103-2026_11_20-02_00_05.vma.zst", "content": "backup", "size": 9},
        {"volid": "pbs:backup/ct/201/2026-11-19T01:00:00Z", "content": "backup"},
        {"volid": "backup:backup/vzdump-lxc-201-2026_11_21-02_00_00.tar.zst", "vmid": 201, "ctime": 1000},
        {"volid": "backup:iso/debian.iso", "content": "iso"},
    ])

    assert [(a.vmid, a.created) for a in archives] == [
        (103, dt.datetime(2026, 11, 20, 2, 0, 5, tzinfo=dt.UTC)),
        (201, dt.datetime(1970, 1, 1, 0, 16, 40, tzinfo=dt.UTC)),
        (201, dt.datetime(2026, 11, 19, 1, 0, tzinfo=dt.UTC)),
    ]
    assert archives[0].name == "vzdump-qemu-103-2026_11_20-02_00_05.vma.zst"


@pytest.mark.parametrize(("running", "exitstatus", "succeeded"), [
    (False, "OK", True), (False, "WARNINGS: 1", False), (False, "job errors", False), (True, None, False),
    (False, None, False)])
def test_only_exitstatus_ok_is_a_success(running: bool, exitstatus: str | None, succeeded: bool) -> None:
    assert TaskStatus(UPID, running, exitstatus).succeeded is succeeded


def test_a_task_runs_on_the_node_its_upid_names() -> None:
    assert upid_node(UPID) == "pve1"
    assert task_status_path("pve1", UPID) == f"/nodes/pve1/tasks/{UPID}/status"


@pytest.mark.parametrize("garbage", [None, {"errors": b"<html>"}, "text", [1, "x", None], 42])
def test_answers_of_an_unexpected_shape_parse_to_nothing_rather_than_crash(garbage) -> None:
    assert parse_guests("hutte", garbage) == []
    assert parse_snapshots(garbage) == []
    assert parse_archives("b", garbage) == []
    assert parse_cluster_state(garbage).quorate is True
    assert parse_onboot(garbage) is False
