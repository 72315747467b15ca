"""notify_run and ping_start without a listening server: every destination is a closed local port,
so what was attempted shows in the returned problems, and nothing may raise."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chaton_ops.adapters.run_state import load_last_statuses
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.ops.backup_run import notify_run, ping_start

STARTED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def write_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify: str) -> LoadedInventory:
    port = closed_port()
    monkeypatch.setenv("HC_URL", f"http://127.0.0.1:{port}/ping/secret-uuid-0001")
    monkeypatch.setenv("CHAT_URL", f"json://127.0.0.1:{port}/hook/secret-hook-0002")
    monkeypatch.delenv("UNSET_URL", raising=False)
    (tmp_path / "inventory.yml").write_text(f"""
version: 1
collective: {{name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}}
secrets: {{hc: {{env: HC_URL}}, chat: {{env: CHAT_URL}}, unset: {{env: UNSET_URL}}}}
hosts: {{web: {{address: 192.0.2.23}}}}
{notify}
services: {{www: {{host: web}}, mail: {{host: web}}}}
""")
    return load_inventory(tmp_path / "inventory.yml")


def make_run(**statuses: str) -> RunReport:
    results = tuple(TargetResult(service=s, host="web", repository="main", status=status)  # type: ignore[arg-type]
                    for s, status in statuses.items())
    return RunReport("backup", STARTED, STARTED + timedelta(seconds=5), results)


def test_an_unresolvable_secret_is_a_problem_not_an_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "notify: {healthchecks: [unset], apprise: [unset]}")

    problems = notify_run(loaded, make_run(www="failed"))

    assert problems == [
        "healthchecks ping 'unset' (fail, run) not sent: secret 'unset': environment variable UNSET_URL is not set",
        "apprise 'unset' (failure) not sent: secret 'unset': environment variable UNSET_URL is not set",
    ]


def test_a_secret_that_is_not_a_url_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "notify: {healthchecks: [hc], apprise: [chat]}")
    monkeypatch.setenv("HC_URL", "hc-token-without-scheme")
    monkeypatch.setenv("CHAT_URL", "nonsense-token-0003")

    problems = notify_run(loaded, make_run(www="failed"))

    assert problems == [
        "healthchecks ping 'hc' (fail, run) failed: not an http:// or https:// URL",
        "apprise 'chat' (failure) failed: not a URL apprise understands (check the scheme and its parts)",
    ]


def test_start_problems_are_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "notify: {healthchecks: [hc]}")

    problems = ping_start(loaded, ["www"])

    assert len(problems) == 1
    assert problems[0].startswith("healthchecks ping 'hc' (start, run) failed: ")
    assert "secret-uuid-0001" not in problems[0]


def test_statuses_are_recorded_and_merged_per_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "")
    notify_run(loaded, make_run(www="failed", mail="ok"))

    assert notify_run(loaded, make_run(mail="warning")) == []

    assert load_last_statuses(state_dir / "last-status.json", "backup") == {"www": "failed", "mail": "warning"}
    assert load_last_statuses(state_dir / "last-status.json", "drill") == {}


def test_a_recovery_is_attempted_after_a_recorded_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "notify: {apprise: [chat]}")
    notify_run(loaded, make_run(www="failed"))

    problems = notify_run(loaded, make_run(www="ok"))

    assert [problem.split(" failed:")[0] for problem in problems] == ["apprise 'chat' (success)"]
    assert notify_run(loaded, make_run(www="ok")) == []  # told once


def test_previous_statuses_given_by_the_caller_win_over_the_state_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "notify: {apprise: [chat]}")

    problems = notify_run(loaded, make_run(www="ok"), previous={"www": "failed"})

    assert [problem.split(" failed:")[0] for problem in problems] == ["apprise 'chat' (success)"]


def test_a_corrupt_state_file_is_reported_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       state_dir: Path) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, "")
    state_dir.mkdir()
    (state_dir / "last-status.json").write_text("{not json")

    problems = notify_run(loaded, make_run(www="ok"))

    assert len(problems) == 1 and "recoveries not reported" in problems[0]
    assert json.loads((state_dir / "last-status.json").read_text()) == {"backup": {"www": "ok"}}
    assert (state_dir / "last-status.json").stat().st_mode & 0o777 == 0o600


def test_an_unwritable_state_dir_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CHATON_STATE_DIR", str(blocker / "state"))
    loaded = write_inventory(tmp_path, monkeypatch, "")

    problems = notify_run(loaded, make_run(www="ok"), previous={})

    assert len(problems) == 1 and "cannot record this run's statuses" in problems[0]


def test_announcing_a_run_to_a_closed_port_warns_once_without_the_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    from chaton_ops.core.run_report import RunSummary, StepSummary
    from chaton_ops.ops.compose import announce_run

    loaded = write_inventory(tmp_path, monkeypatch, "notify: {healthchecks: [hc], apprise: [chat]}")
    failed = RunSummary(3, "deploy", "failed", 1, "2026-11-22T03:00:00+00:00", "2026-11-22T03:00:09+00:00",
                        (StepSummary("deploy:www@web", "playbook", "www", "web", "failed", "step 1 (x): exit 1"),))
    warnings: list[str] = []

    announce_run(loaded, failed, warnings.append)
    announce_run(loaded, None, warnings.append)  # a dry run: nothing

    assert len(warnings) == 1  # the message only: no healthchecks ping for a deploy
    assert warnings[0].startswith("apprise 'chat' (failure) failed: ")
    assert "\n" not in warnings[0] and "secret-hook-0002" not in warnings[0], warnings
    assert load_last_statuses(state_dir / "last-status.json", "deploy") == {"www": "failed"}
