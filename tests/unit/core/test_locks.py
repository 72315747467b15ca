"""The one lock policy (core/locks.py): what each command's run holds, read from its plan, and that every
command that builds a runbook has said what it locks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.locks import POLICY, run_locks
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.ops.backup import backup_runbook
from chaton_ops.ops.check import check_runbook, plan_check
from chaton_ops.ops.repository_run import repository_runbook
from tests.unit.ops.test_runbooks import INVENTORY

SOURCE = Path(__file__).resolve().parents[3] / "src" / "chaton_ops"


def test_a_backup_holds_the_repositories_it_writes_and_only_those():
    assert run_locks(backup_runbook(plan_backup(INVENTORY, ["www", "wiki", "mail"]))) == (
        "repository:main", "repository:offsite")
    assert run_locks(backup_runbook(plan_backup(INVENTORY, ["wiki"]))) == ("repository:main",)


def test_a_check_holds_its_repositories_only_when_restic_reads_their_data():
    assert run_locks(check_runbook(plan_check(INVENTORY, []))) == ("repository:main", "repository:offsite")
    assert run_locks(check_runbook(plan_check(INVENTORY, [], integrity=False))) == ()


def test_repo_init_and_unlock_hold_each_repository():
    assert run_locks(repository_runbook("unlock", [("offsite", "web"), ("main", "mail")])) == (
        "repository:main", "repository:offsite")


def step(key: str, action: str, target: str, **kw) -> PlannedStep:
    return PlannedStep(key=key, action=action, title=key, target=target, **kw)


def test_runs_that_move_services_hold_those_services_and_a_planned_no_op_takes_nothing():
    deploy = Plan("deploy", (step("deploy:www@vps", "playbook", "www"),
                             step("deploy:wiki@vps", "playbook", "wiki", noop="nothing to deploy")))
    assert run_locks(deploy) == ("service:www",)
    for command in ("failover", "rehearsal", "failback"):
        moved = Plan(command, (step("dns:www", "dns", "www"),), inputs={"services": ["www", "mail"]})
        assert run_locks(moved) == ("service:mail", "service:www")
    removal = Plan("tenant remove", (step("export", "export", "cigales"),
                                     step("forget:www@main", "forget", "www", inputs={"repository": "main"})),
                   inputs={"services": ["www"]})
    assert run_locks(removal) == ("repository:main", "service:www")
    assert run_locks(Plan("schedule install", (step("write:a", "write", "a"),))) == ("schedule",)


def test_a_command_without_a_policy_is_refused_rather_than_run_unlocked():
    with pytest.raises(ValueError, match="no lock policy for command 'mystery'"):
        run_locks(Plan("mystery", (step("a", "do", "x"),)))


def commands_that_build_runbooks() -> set[str]:
    """Every `Plan("command", …)` in the source, and the schedule's two commands (built from a variable)."""
    found: set[str] = {"schedule install", "schedule remove"}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Plan" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
                elif isinstance(first, ast.IfExp):  # "failover" if not rehearse else "rehearsal"
                    found.update(part.value for part in (first.body, first.orelse) if isinstance(part, ast.Constant))
    return found


def test_every_command_that_builds_a_runbook_has_a_lock_policy():
    commands = commands_that_build_runbooks()
    assert {"backup", "check", "deploy", "failover", "rehearsal", "failback", "prune", "repo",
            "tenant remove"} <= commands
    assert commands <= set(POLICY), f"no lock policy for: {sorted(commands - set(POLICY))}"
