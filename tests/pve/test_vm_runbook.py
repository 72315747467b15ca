"""The vm actions as runbooks against fakepve: `--json` carries the run's report (`runbook`) and the
planned steps (`runbook_plan`, no-ops with their reason), and the journal keeps the plan that ran."""

from __future__ import annotations

import json
import sqlite3

import pytest

from chaton_ops.errors import ExitCode
from tests.pve.conftest import FakeCluster, vm_host


@pytest.fixture
def guests(cluster: FakeCluster) -> FakeCluster:
    cluster.pve.add_vm(103, "web", status="running", config={"memory": 2048})
    cluster.pve.add_ct(201, "dns", status="stopped")
    cluster.write_inventory({"web": vm_host(103), "dns": vm_host(201)})
    return cluster


def test_a_snapshot_reports_its_runbook_and_the_journal_keeps_its_plan(guests: FakeCluster, journal_path) -> None:
    ran = guests.chaton("vm", "snapshot", "web", "--name", "s1", "--json")

    assert ran.code == ExitCode.OK, ran.err
    runbook = ran.json()["runbook"]
    assert (runbook["command"], runbook["status"], runbook["exit_code"]) == ("vm snapshot", "ok", 0)
    assert [(s["key"], s["action"], s["status"]) for s in runbook["steps"]] == [
        ("vm-snapshot:hutte/103@pve1:s1", "vm-snapshot", "changed")]
    with sqlite3.connect(journal_path) as db:
        (plan,) = db.execute("SELECT plan FROM runs").fetchone()
    assert [s["key"] for s in json.loads(plan)["steps"]] == ["vm-snapshot:hutte/103@pve1:s1"]


def test_the_rollback_of_a_stopped_guest_plans_its_start_as_a_no_op_with_the_reason(guests: FakeCluster) -> None:
    assert guests.chaton("vm", "snapshot", "dns", "--name", "s1").code == ExitCode.OK

    dry = guests.chaton("vm", "rollback", "dns", "--name", "s1", "--dry-run", "--json")
    ran = guests.chaton("--yes", "vm", "rollback", "dns", "--name", "s1", "--json")

    assert [(s["key"], s["noop"]) for s in dry.json()["runbook_plan"]["steps"]] == [
        ("vm-rollback:hutte/201@pve1:s1", None),
        ("vm-start:hutte/201@pve1", "stopped before the rollback, it stays stopped")]
    assert "runbook" not in dry.json()  # nothing ran
    assert [s["status"] for s in ran.json()["runbook"]["steps"]] == ["changed", "noop"]
    assert guests.api_requests("POST", "/status/start") == []
