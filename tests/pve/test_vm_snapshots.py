"""Before risky work, against fakepve: snapshot → rollback (the VM's state read back), prune, failed tasks."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from chaton_ops.errors import ExitCode
from tests.pve.conftest import FakeCluster, journal_rows, vm_host

DISK = "local-lvm:vm-103-disk-0,size=8G"


@pytest.fixture
def web(cluster: FakeCluster) -> FakeCluster:
    cluster.pve.add_vm(103, "web", status="running", config={"memory": 2048, "scsi0": DISK, "onboot": 1})
    cluster.pve.add_ct(201, "dns", status="stopped")
    cluster.write_inventory({"web": vm_host(103), "dns": vm_host(201)})
    return cluster


def test_snapshot_takes_a_dated_snapshot_and_journals_it(web: FakeCluster, journal_path) -> None:
    before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    ran = web.chaton("vm", "snapshot", "web", "--json")

    assert ran.code == ExitCode.OK, ran.err
    names = list(web.pve.vm(103).snapshots)
    assert len(names) == 1 and re.fullmatch(r"chaton-\d{4}-\d\d-\d\d-\d{4}", names[0])
    taken = dt.datetime.strptime(names[0], "chaton-%Y-%m-%d-%H%M").replace(tzinfo=dt.UTC)
    assert before <= taken <= dt.datetime.now(dt.UTC)
    assert ran.json()["results"][0]["status"] == "ok"
    runs, steps = journal_rows(journal_path)
    assert [(r[1], r[3]) for r in runs] == [("vm snapshot", "ok")]
    assert steps[0][2] == f"snapshot {names[0]}"


def test_snapshot_with_vmstate_saves_the_ram_of_a_running_vm(web: FakeCluster) -> None:
    ran = web.chaton("vm", "snapshot", "web", "--name", "before-luks", "--vmstate")

    assert ran.code == ExitCode.OK, ran.err
    assert web.pve.vm(103).snapshots["before-luks"].get("vmstate")
    listed = web.chaton("vm", "snapshots", "web", "--json").json()["snapshots"]
    assert [(s["name"], s["vmstate"]) for s in listed] == [("before-luks", True)]


def test_snapshot_and_rollback_bring_the_vm_back_and_running(web: FakeCluster) -> None:
    assert web.chaton("vm", "snapshot", "web", "--name", "before-work").code == ExitCode.OK
    vm = web.pve.vm(103)
    # the risky work: memory changed, a disk added (PVE keeps both pending while the VM runs; stopped here)
    vm.status = vm.qmpstatus = "stopped"
    vm.config.update(memory=8192, scsi1="local-lvm:vm-103-disk-1,size=16G")
    vm.status = vm.qmpstatus = "running"

    ran = web.chaton("--yes", "vm", "rollback", "web", "--name", "before-work", "--json")

    assert ran.code == ExitCode.OK, ran.err
    assert vm.config["memory"] == 2048 and "scsi1" not in vm.config
    assert vm.status == "running"
    assert [r["action"] for r in ran.json()["results"]] == ["rollback to before-work", "start"]
    assert ran.json()["was_running"] is True and ran.json()["running_after"] is True


def test_rollback_of_a_stopped_guest_leaves_it_stopped(web: FakeCluster) -> None:
    assert web.chaton("vm", "snapshot", "dns", "--name", "s1").code == ExitCode.OK
    web.pve.ct(201).config["memory"] = 4096

    ran = web.chaton("--yes", "vm", "rollback", "dns", "--name", "s1", "--json")

    assert ran.code == ExitCode.OK, ran.err
    assert web.pve.ct(201).config["memory"] == 512 and web.pve.ct(201).status == "stopped"
    assert [r["action"] for r in ran.json()["results"]] == ["rollback to s1"]
    assert web.api_requests("POST", "/status/start") == []


def test_rollback_without_yes_and_without_a_terminal_refuses(web: FakeCluster) -> None:
    web.chaton("vm", "snapshot", "web", "--name", "s1")

    ran = web.chaton("vm", "rollback", "web", "--name", "s1")

    assert ran.code == ExitCode.USAGE
    assert "add --yes" in ran.err
    assert web.api_requests("POST", "/rollback") == []


def test_rollback_dry_run_shows_both_calls(web: FakeCluster) -> None:
    web.chaton("vm", "snapshot", "web", "--name", "s1")

    ran = web.chaton("vm", "rollback", "web", "--name", "s1", "--dry-run")

    assert ran.code == ExitCode.OK
    assert "POST /nodes/pve1/qemu/103/snapshot/s1/rollback" in ran.out
    assert "POST /nodes/pve1/qemu/103/status/start" in ran.out and "only if not running" in ran.out
    assert web.api_requests("POST", "/rollback") == []


def test_rollback_to_an_unknown_snapshot_is_a_usage_error(web: FakeCluster) -> None:
    ran = web.chaton("--yes", "vm", "rollback", "web", "--name", "nosuch")

    assert ran.code == ExitCode.USAGE
    assert "web has no snapshot named nosuch" in ran.err


def test_a_snapshot_of_a_vm_locked_by_a_backup_fails_with_pves_message(web: FakeCluster, journal_path) -> None:
    web.pve.snapshot_lock(103, "backup")

    ran = web.chaton("vm", "snapshot", "web", "--name", "s1")

    assert ran.code == ExitCode.FAILED
    assert "error: web (hutte/103): snapshot s1: VM is locked (backup)" in ran.err
    assert "TASK ERROR: VM is locked (backup)" in ran.err  # the task's log tail
    assert web.pve.vm(103).snapshots == {}
    runs, steps = journal_rows(journal_path)
    assert [(r[3], r[4]) for r in runs] == [("failed", 1)]
    assert steps[0][3] == "failed" and "VM is locked (backup)" in steps[0][4]


def test_a_start_that_fails_after_the_rollback_is_reported_with_pves_message(web: FakeCluster) -> None:
    web.chaton("vm", "snapshot", "web", "--name", "s1")
    web.pve.fail("POST", "/nodes/pve1/qemu/103/status/start", error="already_running")

    ran = web.chaton("--yes", "vm", "rollback", "web", "--name", "s1")

    assert ran.code == ExitCode.PARTIAL
    assert "error: web (hutte/103): start: VM 103 already running" in ran.err
    assert "TASK ERROR: VM 103 already running" in ran.err


def test_a_guest_on_an_offline_node_is_named_as_such(cluster: FakeCluster) -> None:
    cluster.pve.add_node("pve2")
    cluster.pve.add_vm(104, "far", node="pve2", status="running")
    cluster.write_inventory({"far": vm_host(104, node="pve2")})
    cluster.pve.set_node_offline("pve2")

    ran = cluster.chaton("vm", "snapshot", "far")

    assert ran.code == ExitCode.UNREACHABLE
    assert "hutte: host far: node pve2 is offline" in ran.err


def test_a_guest_the_cluster_lacks_is_an_error(cluster: FakeCluster) -> None:
    cluster.write_inventory({"gone": vm_host(150)})

    ran = cluster.chaton("vm", "snapshots", "gone")

    assert ran.code == ExitCode.FAILED
    assert "host gone: cluster hutte has no guest 150" in ran.err


def test_a_host_that_is_no_guest_is_a_usage_error(web: FakeCluster) -> None:
    ran = web.chaton("vm", "snapshot", "nosuch")

    assert ran.code == ExitCode.USAGE
    assert "unknown host 'nosuch' (Proxmox guests of the inventory: dns, web)" in ran.err


# -------------------------------------------------------------------------------------------- prune
def seed_snapshots(pve, vmid: int, days_ago: list[float], manual: tuple[str, ...] = ("before-upgrade",)) -> list[str]:
    vm = pve.vm(vmid)
    names = []
    for days in days_ago:
        taken = int(time.time() - days * 86400)
        name = "chaton-" + dt.datetime.fromtimestamp(taken, dt.UTC).strftime("%Y-%m-%d-%H%M")
        vm.snapshots[name] = {"snaptime": taken, "description": "taken by chaton"}
        names.append(name)
    for name in manual:
        vm.snapshots[name] = {"snaptime": int(time.time() - 90 * 86400), "description": "manual"}
    return names


def test_prune_keeps_the_newest_and_never_touches_other_snapshots(web: FakeCluster) -> None:
    names = seed_snapshots(web.pve, 103, [30, 20, 10, 5, 1])

    ran = web.chaton("--yes", "vm", "snapshot", "--prune", "web", "--keep", "2", "--json")

    assert ran.code == ExitCode.OK, ran.err
    assert set(web.pve.vm(103).snapshots) == {names[3], names[4], "before-upgrade"}
    assert ran.json()["delete"] == names[:3] and ran.json()["keep"] == names[3:]


def test_prune_by_age_removes_only_the_older_ones(web: FakeCluster) -> None:
    names = seed_snapshots(web.pve, 103, [30, 20, 10, 5, 1])

    ran = web.chaton("--yes", "vm", "snapshot", "--prune", "web", "--older-than", "7")

    assert ran.code == ExitCode.OK, ran.err
    assert set(web.pve.vm(103).snapshots) == {names[3], names[4], "before-upgrade"}


def test_prune_with_both_rules_removes_what_both_allow(web: FakeCluster) -> None:
    names = seed_snapshots(web.pve, 103, [30, 20, 10, 5, 1])

    ran = web.chaton("--yes", "vm", "snapshot", "--prune", "web", "--keep", "4", "--older-than", "7")

    assert ran.code == ExitCode.OK, ran.err
    assert set(web.pve.vm(103).snapshots) == {*names[1:], "before-upgrade"}


def test_prune_dry_run_deletes_nothing(web: FakeCluster) -> None:
    seed_snapshots(web.pve, 103, [30, 1])

    ran = web.chaton("vm", "snapshot", "--prune", "web", "--keep", "1", "--dry-run")

    assert ran.code == ExitCode.OK
    assert "DELETE /nodes/pve1/qemu/103/snapshot/chaton-" in ran.out
    assert len(web.pve.vm(103).snapshots) == 3
    assert web.api_requests("DELETE") == []


def test_prune_needs_a_rule(web: FakeCluster) -> None:
    ran = web.chaton("--yes", "vm", "snapshot", "--prune", "web")

    assert ran.code == ExitCode.USAGE
    assert "--keep N, --older-than DAYS, or both" in ran.err
