"""The runbooks of backup, check, deploy, repo init|unlock, restore, drill and the vm actions as data:
a selection in, keyed steps out (phases, lanes, needs, independence), and the engine applying them with fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.adapters.run_locks import FileLocks
from chaton_ops.adapters.templates import TemplateRenderer
from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.inventory import Vzdump
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.proxmox import (
    Guest,
    GuestRef,
    delete_snapshot_call,
    set_onboot_call,
    start_call,
    vzdump_call,
)
from chaton_ops.core.restore import plan_restore
from chaton_ops.core.runbook import Plan
from chaton_ops.core.vm_plan import (
    Change,
    change_for,
    onboot_runbook,
    prune_runbook,
    rollback_runbook,
    vzdump_runbook,
)
from chaton_ops.errors import ConnectError, ExitCode, LockError, UsageError
from chaton_ops.ops.backup import BackupSettings, backup_runbook, run_backup
from chaton_ops.ops.check import check_runbook, plan_check
from chaton_ops.ops.deploy import prepare_deploy, probing_with
from chaton_ops.ops.deploy_run import PlaybookAction, deploy_runbook
from chaton_ops.ops.drill_run import drill_runbook, run_drills
from chaton_ops.ops.engine import apply_plan, load_plan, start_run
from chaton_ops.ops.repository_run import repository_runbook, run_on_repositories
from chaton_ops.ops.restore import measured_restore_speed
from chaton_ops.ops.restore_run import RestoreRequest, describe_step, restore_runbook, run_restore_plan
from tests.fakes import FakeProbes, FakeTransport
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
    prepared = [prepare_deploy(loaded, "www", templates=TemplateRenderer, environ={}), prepare_deploy(loaded, "wiki", "web", templates=TemplateRenderer, environ={}),
                prepare_deploy(loaded, "wiki", templates=TemplateRenderer, environ={}, phase="after_restore")]

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
    prepared = [prepare_deploy(loaded, "www", templates=TemplateRenderer, environ={}), prepare_deploy(loaded, "wiki", "web", templates=TemplateRenderer, environ={})]
    runbook = deploy_runbook(prepared)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        action = PlaybookAction({s.key: p for s, p in zip(runbook.steps, prepared, strict=True)},
                                LocalTransport, journal, probe=probing_with(FakeProbes()))
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


# ------------------------------------------------------------------------------------ restore, drill
def test_restore_runbook_is_one_step_on_the_restore_host_saying_what_it_restores():
    from tests.unit.core.test_restore_plan import facts, snap, state

    plan = plan_restore(facts())
    runbook = restore_runbook(plan)

    assert runbook.command == "restore"
    assert [(s.key, s.action, s.title, s.host, s.lane, s.noop) for s in runbook.steps] == [
        ("restore:mail@primary", "restore", "restore mail in place", "primary", "host:primary", None)]
    assert runbook.steps[0].inputs == {"service": "mail", "mode": "in-place", "snapshot": "aaaaaaaa",
                                       "repository": "main", "paths": ["/srv/mail"], "databases": [],
                                       "bytes": 1000, "live": True, "in_place": True}
    assert describe_step(runbook.steps[0]) == "snapshot aaaaaaaa, 1 path"
    assert Plan.from_dict(runbook.as_dict()) == runbook  # what the journal stores is what runs
    inspect = restore_runbook(plan_restore(facts(mode="target", root="/tmp/insp", root_state=state("/tmp/insp"),
                                                 root_is_empty=True, destinations=(), snapshot=snap("b"))))
    (step,) = inspect.steps
    assert step.title == "restore mail under /tmp/insp" and step.inputs["paths"] == ["/tmp/insp/srv/mail"]
    assert step.inputs["live"] is False
    # the one lock policy: a restore in place on the service's host holds the service, no other restore does
    assert run_locks(runbook) == ("service:mail",)
    assert run_locks(restore_runbook(plan_restore(facts(destinations=(state("/srv/mail", exists=False),))))) == (
        "service:mail",)  # nothing live yet, but the service's own paths all the same
    assert run_locks(restore_runbook(plan_restore(facts(host="vps")))) == ()
    assert run_locks(inspect) == ()


def drill_inventory() -> LoadedInventory:
    inventory = make_inventory(
        www={"host": "web", "data": ["/srv/www"], "repositories": ["offsite", "main"], "fallback": "mail"},
        wiki={"host": "web", "data": ["/srv/wiki"], "repositories": ["main"]},
        mail={"host": "mail", "data": ["/var/mail"], "repositories": ["main"]},
    )
    return LoadedInventory(inventory, Path("inventory.yml"), (Path("inventory.yml"),), positions=None)  # type: ignore[arg-type]


def test_drill_steps_are_one_per_service_on_its_fallback_else_its_host_each_in_its_own_lane():
    loaded = drill_inventory()

    runbook = drill_runbook(loaded, ["www", "wiki", "mail"])

    assert runbook.command == "drill"
    assert [(s.key, s.host, s.target, s.lane, s.inputs["repository"]) for s in runbook.steps] == [
        ("drill:www@mail", "mail", "www", "service:www", "offsite"),
        ("drill:wiki@web", "web", "wiki", "service:wiki", "main"),
        ("drill:mail@mail", "mail", "mail", "service:mail", "main")]
    assert [len(phase) for phase in runbook.phases()] == [3]  # a lane each: a failed drill stops no other
    assert [s.host for s in drill_runbook(loaded, ["www", "wiki"], on="web").steps] == ["web", "web"]
    assert Plan.from_dict(runbook.as_dict()) == runbook
    with pytest.raises(UsageError, match="unknown host: nosuch"):
        drill_runbook(loaded, ["www"], on="nosuch")
    assert run_locks(runbook) == ()  # scratch folders and databases of its own


DRILL_PASSWORD = "drill-test-Pw7q"


@pytest.fixture
def local_drills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedInventory:
    """A repository on this machine with a snapshot of `www` only; `far` is a host that cannot be reached."""
    import json
    import os
    import subprocess

    monkeypatch.setenv("CHATON_TEST_DRILL_PW", DRILL_PASSWORD)
    repo, www = tmp_path / "repo", tmp_path / "data" / "www"
    env = {**os.environ, "RESTIC_PASSWORD": DRILL_PASSWORD}
    subprocess.run(["restic", "-r", str(repo), "init"], env=env, check=True, capture_output=True)
    www.mkdir(parents=True)
    for index in range(3):
        (www / f"page{index}.html").write_text(f"page {index}\n" * 100)
    subprocess.run(["restic", "-r", str(repo), "backup", "--host", "localhost", "--tag", "chaton", "--tag",
                    "service:www", str(www)], env=env, check=True, capture_output=True)
    (tmp_path / "inventory.yml").write_text(json.dumps({
        "version": 1,
        "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"pw": {"env": "CHATON_TEST_DRILL_PW"}},
        "repositories": {"main": {"url": str(repo), "password": "pw"}},
        "hosts": {"localhost": {"address": "localhost", "service_manager": "direct"},
                  "far": {"address": "192.0.2.9", "service_manager": "direct"}},
        "services": {"www": {"host": "localhost", "data": [str(www)]},
                     "empty": {"host": "localhost", "data": [str(tmp_path / "data" / "empty")]},
                     "faraway": {"host": "far", "data": ["/srv/faraway"]}},
    }))
    return load_inventory(tmp_path / "inventory.yml")


def local_or_unreachable(host: str) -> LocalTransport:
    if host != "localhost":
        raise ConnectError(host, "cannot connect (test)")
    return LocalTransport(host)


def test_a_failing_drill_does_not_stop_the_others_and_the_run_fails_with_exit_1(local_drills, tmp_path: Path):
    plan = drill_runbook(local_drills, ["empty", "faraway", "www"])
    with Journal(tmp_path / "journal.sqlite3") as journal:
        run_id = start_run(journal, plan, ["empty", "faraway", "www"])
        drills = run_drills(local_drills, plan, local_or_unreachable, journal=journal, run_id=run_id)
        rows = [(row.target, row.step, row.status) for row in journal.steps(run_id)]
        run = journal.run(run_id)
        speed = measured_restore_speed(journal, host="localhost")
        assert load_plan(journal, run_id) == plan

    assert [(r.service, r.status) for r in drills.results] == [("empty", "failed"), ("faraway", "failed"),
                                                              ("www", "ok")]
    empty, faraway, www = drills.results
    assert "empty has no snapshot" in (empty.error or "") and not empty.unreachable
    assert faraway.unreachable and faraway.error == "far: cannot connect (test)"
    assert www.verified and www.files == 4 and www.bytes > 0
    assert drills.run is not None and (drills.run.status, drills.exit_code) == ("failed", ExitCode.FAILED)
    assert [r.status for r in drills.run.steps] == ["failed", "failed", "ok"]
    assert run is not None and (run.status, run.exit_code) == ("failed", 1)
    # the drills' own rows, as `status`, the break-glass runbook and failover read them; no engine rows
    assert rows == [("empty", "drill result", "failed"), ("faraway", "drill result", "failed"),
                    ("www", "drill", "ok"), ("www", "drill result", "ok")]
    assert speed is not None and speed > 0
    assert not list(Path("/var/tmp").glob("chaton-drill-www-*"))  # scratch removed


def test_drills_that_all_fail_for_an_unreachable_host_exit_4(local_drills):
    plan = drill_runbook(local_drills, ["faraway"])
    drills = run_drills(local_drills, plan, local_or_unreachable, journal=None, run_id=None)
    assert drills.run is not None and (drills.run.status, drills.exit_code) == ("failed", ExitCode.UNREACHABLE)


def test_a_restore_is_journaled_with_the_runbook_that_ran_and_its_own_rows(local_drills, tmp_path: Path):
    target = tmp_path / "inspect"
    request = RestoreRequest("www", target=str(target))
    with Journal(tmp_path / "journal.sqlite3") as journal:
        done = run_restore_plan(local_drills, request, LocalTransport, journal=journal)
        assert done.run is not None and done.report is not None
        rows = [(row.step, row.status, row.key) for row in journal.steps(done.run.run_id)]
        run = journal.run(done.run.run_id)
        assert load_plan(journal, done.run.run_id) == done.planned.runbook

    assert [s.key for s in done.planned.runbook.steps] == ["restore:www@localhost"]
    assert done.run.status == "ok" and run is not None and (run.command, run.status, run.exit_code) == (
        "restore", "ok", 0)
    assert run.args == ["www", "--snapshot", "latest", "--target", str(target)]
    assert rows == [("plan", "ok", None), ("space", "ok", None), ("restore", "ok", None)]
    assert done.report.verified and (target / str(tmp_path / "data" / "www").lstrip("/") / "page0.html").exists()


def test_a_restore_dry_run_returns_the_runbook_and_journals_nothing(local_drills, tmp_path: Path):
    done = run_restore_plan(local_drills, RestoreRequest("www", target=str(tmp_path / "x"), dry_run=True),
                            LocalTransport)
    assert done.report is None and done.run is None
    assert [s.key for s in done.planned.runbook.steps] == ["restore:www@localhost"]
    assert not (tmp_path / "x").exists()


def test_a_restore_in_place_of_a_service_another_run_holds_is_refused_before_anything(local_drills, tmp_path: Path):
    locks = FileLocks(tmp_path / "locks")
    request = RestoreRequest("www")
    with Journal(tmp_path / "journal.sqlite3") as journal, locks.hold(["service:www"]):
        with pytest.raises(LockError, match="service:www|www"):
            run_restore_plan(local_drills, request, LocalTransport, journal=journal, confirm=lambda planned: True,
                             locks=locks)
        assert journal.runs(command="restore") == []  # a refused run leaves no run behind
    with Journal(tmp_path / "journal.sqlite3") as journal:
        done = run_restore_plan(local_drills, request, LocalTransport, journal=journal, confirm=lambda planned: True,
                                locks=locks)
    assert done.run is not None and done.run.status == "ok" and done.report is not None and done.report.swaps
