"""`chaton vm onboot [--fix]` against fakepve: the fix changes exactly the planned guests (configs read back)."""

from __future__ import annotations

import copy
import json

import pytest

from chaton_ops.errors import ExitCode
from tests.pve.conftest import FakeCluster, journal_rows, vm_host


@pytest.fixture
def guests(cluster: FakeCluster) -> FakeCluster:
    """Inventory guests 101 (onboot 1), 102 (onboot 0), CT 103 (no onboot key), template 104; guest 120
    (onboot 0) is no inventory host's and must stay as it is."""
    pve = cluster.pve
    pve.add_vm(101, "mail", status="running", config={"onboot": 1, "memory": 2048})
    pve.add_vm(102, "cloud", status="running", config={"onboot": 0, "memory": 4096, "cores": 2})
    pve.add_ct(103, "dns", status="running")
    pve.add_vm(104, "tpl", template=True, config={"template": 1})
    pve.add_vm(120, "old-test", config={"onboot": 0})
    cluster.write_inventory({name: vm_host(vmid) for name, vmid in
                             (("mail", 101), ("cloud", 102), ("dns", 103), ("tpl", 104))})
    return cluster


def configs(pve) -> dict[int, dict]:
    return {guest.vmid: copy.deepcopy(guest.config) for guest in [*pve.vms, *pve.cts]}


def test_onboot_lists_the_guests_that_would_not_start_and_exits_1(guests: FakeCluster) -> None:
    ran = guests.chaton("vm", "onboot", "--json")

    assert ran.code == ExitCode.FAILED
    rows = {row["host"]: row for row in ran.json()["guests"]}
    assert {host for host, row in rows.items() if row["would_change"]} == {"cloud", "dns"}
    assert rows["mail"]["onboot"] is True and rows["cloud"]["onboot"] is False
    assert [change["call"]["path"] for change in ran.json()["plan"]] == [
        "/nodes/pve1/qemu/102/config", "/nodes/pve1/lxc/103/config"]
    assert guests.api_requests("PUT") == []


def test_fix_sets_onboot_on_exactly_the_planned_guests_and_nothing_else(guests: FakeCluster, journal_path) -> None:
    before = configs(guests.pve)

    ran = guests.chaton("--yes", "vm", "onboot", "--fix", "--json")

    assert ran.code == ExitCode.OK, ran.err
    after = configs(guests.pve)
    changed = {vmid for vmid in before if before[vmid] != after[vmid]}
    assert changed == {102, 103}
    for vmid in changed:
        assert {k: v for k, v in after[vmid].items() if k != "onboot"} == \
               {k: v for k, v in before[vmid].items() if k != "onboot"}
        assert str(after[vmid]["onboot"]) == "1"
    # read back through the API, as an admin would
    again = guests.chaton("vm", "onboot", "--json")
    assert again.code == ExitCode.OK
    assert all(row["onboot"] for row in again.json()["guests"] if row["host"] != "tpl")
    assert [r[1] for r in guests.api_requests("PUT")] == ["/api2/json/nodes/pve1/qemu/102/config",
                                                          "/api2/json/nodes/pve1/lxc/103/config"]
    runs, steps = journal_rows(journal_path)
    assert [(r[1], r[3], r[4]) for r in runs] == [("vm onboot", "ok", 0)]
    assert [(s[1], s[2], s[3]) for s in steps] == [("cloud (hutte/102)", "set onboot=1", "ok"),
                                                   ("dns (hutte/103)", "set onboot=1", "ok")]
    assert json.loads(steps[0][4])["call"].startswith("PUT /nodes/pve1/qemu/102/config onboot=1 digest=")


def test_fix_without_yes_and_without_a_terminal_refuses_and_changes_nothing(guests: FakeCluster,
                                                                            journal_path) -> None:
    before = configs(guests.pve)

    ran = guests.chaton("vm", "onboot", "--fix")

    assert ran.code == ExitCode.USAGE
    assert "there is no terminal to ask on; add --yes" in ran.err
    assert "PUT /nodes/pve1/qemu/102/config onboot=1" in ran.err  # the plan was shown first
    assert configs(guests.pve) == before
    assert not journal_path.exists() or journal_rows(journal_path)[0] == []


def test_dry_run_prints_the_api_calls_and_changes_nothing(guests: FakeCluster, journal_path) -> None:
    before = configs(guests.pve)

    ran = guests.chaton("vm", "onboot", "--fix", "--dry-run")

    assert ran.code == ExitCode.FAILED  # they still would not start
    assert "PUT /nodes/pve1/qemu/102/config onboot=1 digest=" in ran.out
    assert "PUT /nodes/pve1/lxc/103/config onboot=1 digest=" in ran.out
    assert "101" not in ran.out and "120" not in ran.out
    assert configs(guests.pve) == before
    assert guests.api_requests("PUT") == []
    assert not journal_path.exists()


def test_a_config_changed_meanwhile_is_refused_by_its_digest(guests: FakeCluster) -> None:
    guests.pve.fail("PUT", "/nodes/pve1/qemu/102/config", error="checksum_mismatch_file_change_other", times=1)

    ran = guests.chaton("--yes", "vm", "onboot", "--fix")

    assert ran.code == ExitCode.PARTIAL
    assert "cloud (hutte/102): set onboot=1: PUT /nodes/pve1/qemu/102/config: checksum mismatch " \
           "(file change by other user?)" in ran.err
    assert str(guests.pve.ct(103).config["onboot"]) == "1"


def test_lost_quorum_is_named_and_nothing_is_changed(guests: FakeCluster) -> None:
    guests.pve.lose_quorum()
    before = configs(guests.pve)

    ran = guests.chaton("--yes", "vm", "onboot", "--fix")

    assert ran.code == ExitCode.FAILED
    assert "hutte: the cluster has lost quorum" in ran.err and "nothing was changed" in ran.err
    assert configs(guests.pve) == before
