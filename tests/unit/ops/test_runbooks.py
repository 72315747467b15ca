"""The runbooks of backup, check, deploy and repo init|unlock as data: a selection in, keyed steps out
(phases, lanes, needs, independence), and the engine applying them with fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.runbook import Plan
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
