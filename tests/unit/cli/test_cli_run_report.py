"""One report shape for every run: what a command that changes something puts under `runbook` in its
--json is what `history RUN --json` reads back from the journal (core/run_report.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode
from tests.unit.cli.local_inventory import local_inventory

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")

RUN_KEYS = {"run", "command", "status", "exit_code", "started_at", "ended_at", "steps"}
STEP_KEYS = {"key", "action", "target", "host", "status", "message", "outputs", "duration"}


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "index.html").write_text("hello\n")
    return local_inventory(tmp_path, monkeypatch, data)


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = ExitCode.OK) -> dict:
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def read_back(inventory: Path, run: int, capsys: pytest.CaptureFixture[str]) -> dict:
    return run_json(["-i", str(inventory), "history", str(run), "--json"], capsys)["runbook"]


def same_run(live: dict, journal: dict) -> None:
    """The live report and the journal's agree on everything but timing."""
    assert set(live) == set(journal) == RUN_KEYS
    for report in (live, journal):
        assert all(set(step) == STEP_KEYS for step in report["steps"])
    for key in ("run", "command", "status", "exit_code"):
        assert live[key] == journal[key], key
    assert all(s["key"] for s in live["steps"])  # the journal adds its unkeyed notes (a repository initialised)
    assert [(s["key"], s["action"], s["target"], s["host"], s["status"], s["message"]) for s in live["steps"]] == \
           [(s["key"], s["action"], s["target"], s["host"], s["status"], s["message"]) for s in journal["steps"]
            if s["key"]]


def test_backup_and_check_report_their_run_as_history_reads_it(inventory: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    backup = run_json(["-i", str(inventory), "backup", "site", "--init", "--json"], capsys)["runbook"]
    assert backup["command"] == "backup" and backup["status"] == "ok" and backup["exit_code"] == 0
    assert [(s["key"], s["status"]) for s in backup["steps"]] == [("backup:site@local", "ok"),
                                                                  ("forget:local", "ok")]
    assert backup["steps"][0]["outputs"]["snapshot"]
    journal = read_back(inventory, backup["run"], capsys)
    same_run(backup, journal)
    assert [s["action"] for s in journal["steps"] if not s["key"]] == ["init"]  # the note beside the steps

    check = run_json(["-i", str(inventory), "check", "--json"], capsys)["runbook"]
    assert check["command"] == "check" and check["run"] > backup["run"]
    same_run(check, read_back(inventory, check["run"], capsys))


def test_a_failed_run_reports_its_failed_step_and_message_both_ways(inventory: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # no repository yet and no --init: the backup step fails, saying why
    live = run_json(["-i", str(inventory), "backup", "site", "--json"], capsys, code=ExitCode.FAILED)["runbook"]
    assert live["status"] == "failed" and live["exit_code"] == 1
    failed = [s for s in live["steps"] if s["status"] == "failed"]
    assert failed and all(s["message"] for s in failed)
    journal = read_back(inventory, live["run"], capsys)
    same_run(live, journal)
    assert [s["message"] for s in journal["steps"] if s["status"] == "failed"] == [s["message"] for s in failed]
