"""`chaton history`: the journal's runs, and one run's steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode


@pytest.fixture
def journal_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("CHATON_JOURNAL", str(path))
    return path


def record_runs(path: Path, count: int) -> list[int]:
    journal = Journal(path)
    ids = []
    for index in range(count):
        run_id = journal.start_run("backup", [f"svc{index}"])
        with journal.step(run_id, "web", "restic backup", {"paths": ["/srv/www"]}) as detail:
            detail["snapshot"] = f"snap{index}"
        journal.record_step(run_id, "web", "forget", "failed", {"error": "repository locked"})
        journal.finish_run(run_id, "partial", 3)
        ids.append(run_id)
    journal.close()
    return ids


def test_history_without_a_journal_says_so_and_creates_none(journal_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == ExitCode.OK
    assert "no run recorded yet" in capsys.readouterr().out
    assert not journal_path.exists()


def test_history_json_lists_runs_newest_first_up_to_the_limit(journal_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ids = record_runs(journal_path, 3)

    assert main(["history", "--limit", "2", "--json"]) == ExitCode.OK

    runs = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in runs] == [ids[2], ids[1]]
    assert runs[0]["command"] == "backup" and runs[0]["args"] == ["svc2"]
    assert runs[0]["status"] == "partial" and runs[0]["exit_code"] == 3
    assert runs[0]["user"] and runs[0]["machine"]


def test_history_table_shows_who_ran_what_and_how_it_ended(journal_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    record_runs(journal_path, 1)

    assert main(["history"]) == ExitCode.OK

    out = capsys.readouterr().out
    assert "backup svc0" in out and "partial" in out


def test_history_of_one_run_gives_its_steps_in_order(journal_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_id = record_runs(journal_path, 1)[0]

    assert main(["history", str(run_id), "--json"]) == ExitCode.OK

    run = json.loads(capsys.readouterr().out)
    assert [(s["step"], s["status"]) for s in run["steps"]] == [("restic backup", "ok"), ("forget", "failed")]
    assert run["steps"][0]["detail"] == {"paths": ["/srv/www"], "snapshot": "snap0"}


def test_history_of_one_run_as_a_table(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = record_runs(journal_path, 1)[0]

    assert main(["history", str(run_id)]) == ExitCode.OK

    out = capsys.readouterr().out
    assert f"run {run_id}: chaton backup svc0 — partial (exit 3)" in out
    assert "repository locked" in out


def test_history_of_an_unknown_run_exits_2(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_runs(journal_path, 1)

    assert main(["history", "99"]) == ExitCode.USAGE
    assert "no run 99" in capsys.readouterr().err


def test_history_refuses_a_limit_below_one(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_runs(journal_path, 1)

    assert main(["history", "--limit", "0"]) == ExitCode.USAGE
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_one_run_without_a_journal_exits_2_and_creates_none(journal_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "99999"]) == ExitCode.USAGE
    assert "no run 99999" in capsys.readouterr().err
    assert not journal_path.exists()
