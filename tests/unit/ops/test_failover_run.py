"""ops/failover_run.move_services, the use case behind `chaton failover|failback`: the branches that need
no host (set aside, resume, usage), with a real journal and the context's adapters replaced by fakes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.templates import TemplateRenderer
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.errors import UsageError
from chaton_ops.ops import failover_run
from chaton_ops.ops.failover.context import FailoverContext
from chaton_ops.ops.failover_run import MoveRequest, move_services
from tests.fakes import FakeProbes, FakeSecrets
from tests.unit.ops.test_runbooks import LOADED


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        @contextmanager
        def context(loaded, *, jobs: int = 2) -> Iterator[FailoverContext]:
            yield FailoverContext(loaded=loaded, transports=lambda host: pytest.fail(f"{host} was contacted"),
                                  journal=opened, dns=None, probes=FakeProbes(), templates=TemplateRenderer,
                                  passwords={},
                                  secrets=FakeSecrets({}), jobs=jobs)

        monkeypatch.setattr(failover_run, "failover_context", context)
        yield opened


def interrupted_run(journal: Journal, command: str) -> int:
    plan = Plan(command, (PlannedStep(key="dns:www", action="dns", title="www: DNS", target="www"),))
    run_id = journal.start_run(command, ["www", "--to", "vps"], plan=plan.as_dict())
    journal.finish_run(run_id, "interrupted", 130)
    return run_id


def move(request: MoveRequest) -> failover_run.MoveOutcome:
    return move_services(LOADED, request, show=lambda plan: pytest.fail("a plan was shown"),
                         confirm=lambda question: pytest.fail(f"asked: {question}"),
                         warn=lambda problem: pytest.fail(f"warned: {problem}"))


@pytest.mark.parametrize("command", ["failover", "rehearsal", "failback"])
def test_abandon_sets_the_unfinished_run_of_its_command_aside_once(journal: Journal, command: str) -> None:
    other = interrupted_run(journal, "failback" if command != "failback" else "failover")
    run_id = interrupted_run(journal, command)

    assert move(MoveRequest(command, abandon=True)).set_aside == run_id
    assert journal.run(run_id).status == "abandoned"
    assert journal.run(other).status == "interrupted"  # another command's run is left alone
    again = move(MoveRequest(command, abandon=True))
    assert (again.set_aside, again.report) == (None, None)


@pytest.mark.parametrize("command", ["failover", "failback"])
def test_resume_without_an_unfinished_run_is_a_usage_error_and_changes_nothing(journal: Journal, command: str) -> None:
    with pytest.raises(UsageError, match=f"no unfinished {command} to resume"):
        move(MoveRequest(command, resume=True))
    assert journal.runs() == []


def test_a_failover_without_a_fallback_named_is_a_usage_error_before_any_host(journal: Journal) -> None:
    with pytest.raises(UsageError, match="say where to: --to HOST"):
        move(MoveRequest("failover", ("www",)))
