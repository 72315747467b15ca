"""`chaton vm vzdump` and `chaton vm backups` against fakepve (with the vzdump worker of tests/pve/vzdump.py)."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from chaton_ops.errors import ExitCode
from tests.pve.cluster import GIB, seed_archive
from tests.pve.conftest import FakeCluster, journal_rows, vm_host

VZDUMP = {"storage": "local", "mode": "snapshot", "prune_backups": {"keep_daily": 7, "keep_weekly": 6},
          "max_age_hours": 96}


@pytest.fixture
def guests(cluster: FakeCluster) -> FakeCluster:
    pve = cluster.pve
    pve.add_node("pve2")
    pve.add_vm(101, "mail", status="running", config={"scsi0": "local-lvm:vm-101-disk-0,size=8G"})
    pve.add_vm(102, "cloud", status="running", config={"scsi0": "local-lvm:vm-102-disk-0,size=8G"})
    pve.add_ct(201, "dns", node="pve2", status="running")
    pve.add_vm(120, "old-test", node="pve2")
    pve.add_vm(9000, "tpl", template=True, config={"template": 1})
    cluster.write_inventory({"mail": vm_host(101), "cloud": vm_host(102), "dns": vm_host(201, node="pve2")},
                            vzdump=VZDUMP)
    return cluster


def backups_of(pve, storage: str = "local") -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for volname, volume in pve.storages[storage].get("volumes", {}).items():
        if volume.get("content") == "backup":
            found.setdefault(volume["vmid"], []).append(volname)
    return found


def test_vzdump_sends_prune_backups_as_pve_expects_it(guests: FakeCluster, journal_path) -> None:
    ran = guests.chaton("vm", "vzdump", "mail", "--json")

    assert ran.code == ExitCode.OK, ran.err
    [(method, path, body)] = guests.api_requests("POST", "/vzdump")
    assert path == "/api2/json/nodes/pve1/vzdump"
    sent = dict(urllib.parse.parse_qsl(body.decode()))
    assert sent == {"vmid": "101", "storage": "local", "mode": "snapshot", "compress": "zstd",
                    "prune-backups": "keep-daily=7,keep-weekly=6"}
    assert guests.vzdumps[0]["prune-backups"] == "keep-daily=7,keep-weekly=6"  # accepted by PVE's format check
    assert list(backups_of(guests.pve)) == [101]
    runs, steps = journal_rows(journal_path)
    assert [(r[1], r[3]) for r in runs] == [("vm vzdump", "ok")]
    assert [(s[1], s[2], s[3]) for s in steps] == [("mail (hutte/101)", "vzdump", "ok")]


def test_vzdump_all_backs_up_every_guest_but_templates_one_task_each(guests: FakeCluster) -> None:
    ran = guests.chaton("vm", "vzdump", "--all", "--json")

    assert ran.code == ExitCode.OK, ran.err
    assert sorted(backups_of(guests.pve)) == [101, 102, 120, 201]
    assert sorted((r["vmid"], r["node"]) for r in ran.json()["results"]) == [
        (101, "pve1"), (102, "pve1"), (120, "pve2"), (201, "pve2")]
    assert len(guests.api_requests("POST", "/vzdump")) == 4


def test_storage_and_mode_from_the_command_line_win(guests: FakeCluster) -> None:
    guests.pve.storages["nfs-backup"] = {"type": "nfs", "content": "backup", "active": 1, "files": set(),
                                         "server": "192.0.2.9", "export": "/b", "path": "/mnt/pve/nfs-backup"}

    ran = guests.chaton("vm", "vzdump", "cloud", "--storage", "nfs-backup", "--mode", "stop")

    assert ran.code == ExitCode.OK, ran.err
    assert guests.vzdumps[0]["storage"] == "nfs-backup" and guests.vzdumps[0]["mode"] == "stop"
    assert list(backups_of(guests.pve, "nfs-backup")) == [102]


def test_vzdump_to_a_full_storage_fails_with_pves_message_and_exit_1(guests: FakeCluster) -> None:
    guests.pve.storages["local"]["avail"] = 1024

    ran = guests.chaton("vm", "vzdump", "mail")

    assert ran.code == ExitCode.FAILED
    assert "error: mail (hutte/101): vzdump: job errors" in ran.err
    assert "ERROR: Backup of VM 101 failed - vma_queue_write: write error - No space left on device" in ran.err
    assert backups_of(guests.pve) == {}


def test_a_guest_locked_by_a_backup_fails_and_the_others_go_on(guests: FakeCluster) -> None:
    guests.pve.snapshot_lock(102, "backup")

    ran = guests.chaton("vm", "vzdump", "mail", "cloud", "dns", "--json")

    assert ran.code == ExitCode.PARTIAL
    results = {r["vmid"]: r for r in ran.json()["results"]}
    assert results[102]["status"] == "failed" and results[102]["message"] == "job errors"
    assert "ERROR: Backup of VM 102 failed - VM is locked (backup)" in results[102]["log_tail"]
    assert sorted(backups_of(guests.pve)) == [101, 201]


def test_a_guest_on_an_offline_node_is_not_sent_and_named(guests: FakeCluster) -> None:
    guests.pve.set_node_offline("pve2")

    ran = guests.chaton("vm", "vzdump", "mail", "dns", "--json")

    assert ran.code == ExitCode.PARTIAL
    results = {r["vmid"]: r for r in ran.json()["results"]}
    assert results[201]["message"] == "node pve2 is offline" and results[201]["unreachable"] is True
    assert [path for _, path, _ in guests.api_requests("POST", "/vzdump")] == ["/api2/json/nodes/pve1/vzdump"]


def test_dry_run_prints_each_call_and_sends_none(guests: FakeCluster) -> None:
    ran = guests.chaton("vm", "vzdump", "--all", "--dry-run")

    assert ran.code == ExitCode.OK
    assert ("POST /nodes/pve1/vzdump vmid=101 storage=local mode=snapshot compress=zstd "
            "prune-backups=keep-daily=7,keep-weekly=6") in ran.out
    assert "POST /nodes/pve2/vzdump vmid=201" in ran.out
    assert guests.api_requests("POST", "/vzdump") == []


def test_without_a_storage_anywhere_vzdump_is_a_usage_error(cluster: FakeCluster) -> None:
    cluster.pve.add_vm(101, "mail")
    cluster.write_inventory({"mail": vm_host(101)})

    ran = cluster.chaton("vm", "vzdump", "mail")

    assert ran.code == ExitCode.USAGE
    assert "no vzdump storage for cluster hutte: give --storage S" in ran.err


@pytest.mark.fakepve(time_scale=0.05)
@pytest.mark.parametrize("jobs", [1, 2])
def test_nodes_run_in_parallel_within_the_bound_and_a_node_one_guest_at_a_time(guests: FakeCluster,
                                                                               jobs: int) -> None:
    guests.pve.vzdump_secs = 10  # 0.5 s each at this time scale

    ran = guests.chaton("vm", "vzdump", "mail", "cloud", "dns", "--jobs", str(jobs))

    assert ran.code == ExitCode.OK, ran.err
    runs = {run["vmid"]: run for run in guests.pve.vzdump_runs}

    def overlap(a: int, b: int) -> bool:
        return runs[a]["start"] < runs[b]["end"] and runs[b]["start"] < runs[a]["end"]

    assert not overlap(101, 102)  # same node: one after the other
    assert (overlap(201, 101) or overlap(201, 102)) is (jobs == 2)


# ------------------------------------------------------------------------------------------ backups
def test_backups_lists_archives_and_flags_guests_without_a_fresh_one(guests: FakeCluster) -> None:
    now = int(time.time())
    seed_archive(guests.pve, "local", 101, now - 20 * 3600, 3 * GIB)
    seed_archive(guests.pve, "local", 101, now - 200 * 3600, 3 * GIB)
    seed_archive(guests.pve, "local", 102, now - 150 * 3600, 5 * GIB)
    seed_archive(guests.pve, "local", 201, now - 2 * 3600, GIB, kind="lxc")

    ran = guests.chaton("vm", "backups", "--json")

    assert ran.code == ExitCode.FAILED
    [data] = ran.json()
    assert [(a["vmid"], round(a["age_hours"])) for a in data["archives"]] == [(101, 200), (101, 20), (102, 150),
                                                                             (201, 2)]
    stale = {g["vmid"]: g for g in data["guests"] if g["stale"]}
    assert sorted(stale) == [102, 120]
    assert stale[120]["newest"] is None and round(stale[102]["age_hours"]) == 150
    table = guests.chaton("vm", "backups")
    assert "vzdump-qemu-101-" in table.out and "3.0 GiB" in table.out
    assert "102 cloud" in table.out.split("without a fresh archive")[1]


def test_backups_after_a_vzdump_are_fresh(guests: FakeCluster) -> None:
    assert guests.chaton("vm", "vzdump", "--all").code == ExitCode.OK

    ran = guests.chaton("vm", "backups", "--json")

    assert ran.code == ExitCode.OK, ran.out
    assert not any(g["stale"] for g in ran.json()[0]["guests"])
