"""The runbooks of backup, check, deploy, repo init|unlock and the vm actions as data: a selection in, keyed steps out
(phases, lanes, needs, independence), and the engine applying them with fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.inventory import Vzdump
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.proxmox import (
    Guest,
    GuestRef,
    delete_snapshot_call,
    set_onboot_call,
    start_call,
    vzdump_call,
)
from chaton_ops.core.runbook import Plan
from chaton_ops.core.vm_plan import (
    Change,
    change_for,
    onboot_runbook,
    prune_runbook,
    rollback_runbook,
    vzdump_runbook,
)
from chaton_ops.errors import ConnectError
from chaton_ops.ops.backup import BackupSettings, backup_runbook, run_backup
from chaton_ops.ops.check import check_runbook, plan_check
from chaton_ops.ops.deploy import prepare_deploy
from chaton_ops.ops.deploy_run import PlaybookAction, deploy_runbook
from chaton_ops.ops.engine import apply_plan, load_plan, start_run
from chaton_ops.ops.repository_run import repository_runbook, run_on_repositories
from tests.fakes import FakeTransport
from tests.unit.core.test_backup import make_inventory
from tests.unit.ops.test_backup_run import PASSWORD, FakeResticHost

INVENTORY = make_inventory(
    www={"host": "web", "data": ["/srv/www"], "repositories": ["main", "offsite"]},
    wiki={"host": "web", "data": ["/srv/wiki"], "repositories": ["main"]},
    mail={"host": "mail", "data": ["/var/mail"], "repositories": ["main"]},
)
LOADED = LoadedInventory(INVENTORY, Path("inventory.yml"), (Path("inventory.yml"),), positions=None)  # type: ignore[arg-type]


def test_backup_steps_are_one_per_service_and_repository_in_a_lane_per_host_then_retention_per_repository():
    runbook = backup_runbook(plan_backup(INVENTORY, ["www", "wiki", "mail"]))

    shape = [(s.key, s.phase, s.lane, s.independent) for s in runbook.steps]
    assert shape == [
        ("backup:www@main", 0, "host:web", True), ("backup:www@offsite", 0, "host:web", True),
        ("backup:wiki@main", 0, "host:web", True), ("backup:mail@main", 0, "host:mail", True),
        ("forget:main", 1, "repository:main", True), ("forget:offsite", 1, "repository:offsite", True),
    ]
    assert runbook.step("forget:main").inputs["services"] == ["www", "wiki", "mail"]
    assert Plan.from_dict(runbook.as_dict()) == runbook  # what the journal stores is what runs


def test_without_retention_the_backup_runbook_has_no_second_phase():
    runbook = backup_runbook(plan_backup(INVENTORY, ["www"], retention=False), retention=False)
    assert [s.key for s in runbook.steps] == ["backup:www@main", "backup:www@offsite"]


def test_a_failed_backup_does_not_stop_the_next_service_of_its_host_and_retention_skips_it(tmp_path: Path):
    web = FakeResticHost("web", {INVENTORY.repositories["main"].url}, missing_paths=["/srv/www"])
    plan = plan_backup(INVENTORY, ["www", "wiki"])
    with Journal(tmp_path / "journal.sqlite3") as journal:
        run_id = start_run(journal, backup_runbook(plan), ["www", "wiki"])
        report = run_backup(LOADED, plan, transports={"web": web}.__getitem__, settings=BackupSettings(jobs=2),
                            journal=journal, run_id=run_id, passwords={"main": PASSWORD, "offsite": PASSWORD})
        steps = {s.key: s for s in journal.steps(run_id)}
        run = journal.run(run_id)
        assert load_plan(journal, run_id) == backup_runbook(plan)

    assert [(r.service, r.repository, r.status) for r in report.results] == [
        ("www", "main", "failed"), ("www", "offsite", "failed"), ("wiki", "main", "ok")]
    assert steps["backup:wiki@main"].status == "ok" and steps["backup:wiki@main"].detail["outputs"]["snapshot"]
    assert steps["forget:offsite"].status == "noop"  # no backup there succeeded
    forgets = [a for a in web.argvs if a[3:4] == ["forget"]]
    assert len(forgets) == 1 and "service:wiki" in " ".join(forgets[0]) and "service:www" not in " ".join(forgets[0])
    assert run is not None and (run.status, run.exit_code) == ("partial", 3)


def test_check_steps_are_one_per_repository_each_in_its_own_lane():
    runbook = check_runbook(plan_check(INVENTORY, [], read_data_subset="5%"))
    assert [(s.key, s.host, s.lane, s.independent) for s in runbook.steps] == [
        ("check:main", "mail", "repository:main", True), ("check:offsite", "web", "repository:offsite", True)]
    assert runbook.step("check:main").inputs["argv"][-2:] == ["--read-data-subset", "5%"]
    assert runbook.inputs["flags"] == ["--read-data-subset=5%"]


class Unreachable(FakeTransport):
    def __init__(self, host: str) -> None:
        super().__init__(host, ConnectError(host, "connection refused"))


@pytest.mark.parametrize("dry_run", [True, False])
def test_repository_steps_keep_going_past_an_unreachable_host(dry_run: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PW", PASSWORD)
    plan = repository_runbook("unlock", [("main", "web"), ("offsite", "mail")])
    assert [s.key for s in plan.steps] == ["unlock:main@web", "unlock:offsite@mail"] and plan.command == "repo"
    hosts = {"web": Unreachable("web"), "mail": FakeTransport("mail")}

    def act_on(access):  # type: ignore[no-untyped-def]
        access.transport.run(["restic", "unlock"])
        return {"reached": access.host, "password_known": bool(access.password)}

    results = run_on_repositories(LOADED, plan, act_on, transports=hosts.__getitem__, dry_run=dry_run)

    assert [r["outcome"] for r in results] == ["unreachable", "ok"]
    assert "connection refused" in results[0]["error"]
    assert results[1]["reached"] == "mail"
    assert results[1]["password_known"] is not dry_run  # a dry run resolves no password


def deploy_inventory(folder: Path, steps: str) -> LoadedInventory:
    """A playbook `site` for the services www (on web) and wiki (on mail), writing under `folder`."""
    (folder / "playbooks").mkdir(parents=True)
    (folder / "playbooks" / "site.yml").write_text(f"description: test\nsteps:\n{steps}")
    inventory = {
        "version": 1,
        "collective": {"name": "Test", "domain": "test.example", "contact": "admins@test.example"},
        "secrets": {"restic": {"env": "RESTIC_PASSWORD"}},
        "repositories": {"main": {"url": str(folder / "repo"), "password": "restic"}},
        "hosts": {"web": {"address": "localhost", "service_manager": "direct"},
                  "mail": {"address": "127.0.0.1", "service_manager": "direct"}},
        "services": {"www": {"host": "web", "playbook": "site", "data": [str(folder / "www")]},
                     "wiki": {"host": "mail", "playbook": "site", "data": [str(folder / "wiki")]}},
    }
    (folder / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return load_inventory(folder / "inventory.yml")


SITE_STEPS = ("  - directory: {path: \"{{ data[0] }}\"}\n"
              "  - command: {argv: [touch, \"{{ data[0] }}/built\"], creates: \"{{ data[0] }}/built\"}\n")


def test_deploy_steps_are_one_per_service_and_host_the_whole_playbook_in_a_lane_per_host(tmp_path: Path):
    loaded = deploy_inventory(tmp_path, SITE_STEPS)
    prepared = [prepare_deploy(loaded, "www", environ={}), prepare_deploy(loaded, "wiki", "web", environ={}),
                prepare_deploy(loaded, "wiki", environ={}, phase="after_restore")]

    runbook = deploy_runbook(prepared)

    assert runbook.command == "deploy"
    assert [(s.key, s.action, s.host, s.lane, s.independent) for s in runbook.steps] == [
        ("deploy:www@web", "playbook", "web", "host:web", False),
        ("deploy:wiki@web", "playbook", "web", "host:web", False),
        ("deploy:wiki@mail", "playbook", "mail", "host:mail", False)]
    assert runbook.step("deploy:www@web").inputs == {"service": "www", "playbook": "site", "phase": "steps",
                                                     "steps": 2}
    assert runbook.step("deploy:wiki@mail").inputs["phase"] == "after_restore"
    assert Plan.from_dict(runbook.as_dict()) == runbook  # what the journal stores is what runs


def test_a_deploy_runbook_journals_the_playbook_steps_as_rows_and_a_failing_one_stops_its_lane(tmp_path: Path):
    loaded = deploy_inventory(tmp_path, SITE_STEPS + "  - command: [ls, /nonexistent/chaton-test]\n"
                                                     "  - command: [touch, \"{{ data[0] }}/after\"]\n")
    prepared = [prepare_deploy(loaded, "www", environ={}), prepare_deploy(loaded, "wiki", "web", environ={})]
    runbook = deploy_runbook(prepared)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        action = PlaybookAction({s.key: p for s, p in zip(runbook.steps, prepared, strict=True)},
                                LocalTransport, journal)
        run_id = start_run(journal, runbook, ["www"])
        result = apply_plan(runbook, {"playbook": action}, journal, run_id, summarize=action.summarize)
        rows = [(row.step, row.status) for row in journal.steps(run_id)]
        run = journal.run(run_id)
        assert load_plan(journal, run_id) == runbook

    assert [r.status for r in result.steps] == ["failed", "skipped"]
    assert result.steps[0].message == ("step 3 (command ls /nonexistent/chaton-test): "
                                      "`ls /nonexistent/chaton-test` exited with 2")
    # the playbook's own steps, as they ran; the rest of the lane skipped, with its reason
    assert rows == [("www: directory " + str(tmp_path / "www"), "changed"),
                    ("www: command touch " + str(tmp_path / "www") + "/built", "changed"),
                    ("www: command ls /nonexistent/chaton-test", "failed"), ("playbook", "skipped")]
    assert (tmp_path / "www" / "built").exists() and not (tmp_path / "www" / "after").exists()
    assert not (tmp_path / "wiki").exists()
    assert run is not None and (run.status, run.exit_code) == ("failed", 1)
    assert action.reports["deploy:www@web"].failure is not None


# ------------------------------------------------------------------------------------------------ vm
def guest_change(vmid: int, action: str, node: str = "pve1", host: str | None = None, *,
                 condition: str | None = None) -> Change:
    ref = GuestRef("hutte", node, "qemu", vmid)
    call = {"onboot": set_onboot_call(ref, "d1"), "start": start_call(ref),
            "vzdump": vzdump_call(ref, Vzdump(storage="local"))}.get(action) or delete_snapshot_call(ref, "snap")
    return change_for(Guest(ref, host or f"vm{vmid}", "running"), host, action, call, 30, condition)


def test_vm_onboot_steps_are_one_per_guest_to_fix_each_in_its_own_lane():
    runbook = onboot_runbook([guest_change(102, "onboot", host="cloud"), guest_change(103, "onboot", host="dns")])

    assert [(s.key, s.action, s.host, s.lane, s.noop) for s in runbook.steps] == [
        ("vm-onboot:hutte/102@pve1", "vm-onboot", "pve1", "guest:hutte/102", None),
        ("vm-onboot:hutte/103@pve1", "vm-onboot", "pve1", "guest:hutte/103", None)]
    assert runbook.step("vm-onboot:hutte/102@pve1").inputs["request"] == \
        "PUT /nodes/pve1/qemu/102/config onboot=1 digest=d1"
    assert Plan.from_dict(runbook.as_dict()) == runbook


@pytest.mark.parametrize("was_running", [True, False])
def test_vm_rollback_then_start_only_for_a_guest_that_was_running(was_running: bool):
    rollback = guest_change(103, "rollback to s1", host="web")
    start = guest_change(103, "start", host="web", condition="only if not running after the rollback")

    runbook = rollback_runbook(rollback, start, "s1", was_running=was_running)

    assert [(s.key, s.lane, s.needs) for s in runbook.steps] == [
        ("vm-rollback:hutte/103@pve1:s1", "guest:hutte/103", ()),
        ("vm-start:hutte/103@pve1", "guest:hutte/103", ("vm-rollback:hutte/103@pve1:s1",))]
    start_step = runbook.steps[1]
    assert start_step.noop == (None if was_running else "stopped before the rollback, it stays stopped")
    assert start_step.inputs["condition"] == "only if not running after the rollback"


def test_vm_prune_deletes_each_on_its_own_and_shows_what_it_keeps_as_no_ops():
    old, older = guest_change(103, "delete snapshot a", host="web"), guest_change(103, "delete snapshot b", host="web")
    kept, manual = guest_change(103, "delete snapshot c", host="web"), guest_change(103, "delete snapshot m", host="web")

    runbook = prune_runbook([(old, "chaton-a"), (older, "chaton-b")], [(kept, "chaton-c")], [(manual, "before-luks")])

    assert [(s.key, s.independent, s.noop) for s in runbook.steps] == [
        ("vm-delete-snapshot:hutte/103@pve1:chaton-a", True, None),
        ("vm-delete-snapshot:hutte/103@pve1:chaton-b", True, None),
        ("vm-delete-snapshot:hutte/103@pve1:chaton-c", False, "kept by the policy"),
        ("vm-delete-snapshot:hutte/103@pve1:before-luks", False, "not named by chaton, never pruned")]
    assert {s.lane for s in runbook.steps} == {"guest:hutte/103"}


def test_vm_vzdump_steps_share_a_lane_per_node_and_an_offline_node_is_refused_without_a_call():
    mail, cloud = guest_change(101, "vzdump", host="mail"), guest_change(102, "vzdump", host="cloud")
    dns, template = guest_change(201, "vzdump", "pve2", "dns"), guest_change(9000, "vzdump")

    runbook = vzdump_runbook([(mail, None), (cloud, None), (dns, "node pve2 is offline")], [template])

    assert [(s.key, s.lane, s.independent, s.noop) for s in runbook.steps] == [
        ("vm-vzdump:hutte/101@pve1", "node:hutte/pve1", True, None),
        ("vm-vzdump:hutte/102@pve1", "node:hutte/pve1", True, None),
        ("vm-vzdump:hutte/201@pve2", "node:hutte/pve2", True, None),
        ("vm-vzdump:hutte/9000@pve1", "node:hutte/pve1", False, "a template is never backed up (as PVE's --all)")]
    assert runbook.step("vm-vzdump:hutte/201@pve2").inputs["problem"] == "node pve2 is offline"
    assert [[[s.key for s in lane] for lane in phase] for phase in runbook.phases()] == [[
        ["vm-vzdump:hutte/101@pve1", "vm-vzdump:hutte/102@pve1", "vm-vzdump:hutte/9000@pve1"],
        ["vm-vzdump:hutte/201@pve2"]]]
