"""The SQLite journal: runs and steps recorded, read back, masked, and private to its owner."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal, default_journal_path
from chaton_ops.adapters.secrets import SecretValue
from chaton_ops.core.masking import MASK


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    opened = Journal(tmp_path / "state" / "journal.sqlite3")
    yield opened
    opened.close()


def test_a_run_is_recorded_with_who_where_and_how_it_ended(journal: Journal) -> None:
    run_id = journal.start_run("backup", ["www", "--yes"])
    journal.finish_run(run_id, "ok", 0)

    run = journal.run(run_id)

    assert run is not None
    assert (run.command, run.args, run.status, run.exit_code) == ("backup", ["www", "--yes"], "ok", 0)
    assert run.user and run.machine and run.started_at and run.ended_at


def test_a_run_not_finished_stays_running(journal: Journal) -> None:
    run_id = journal.start_run("failover", [])

    run = journal.run(run_id)
    assert run is not None and run.status == "running" and run.exit_code is None


def test_a_step_block_records_ok_with_details_or_failed_with_the_error(journal: Journal) -> None:
    run_id = journal.start_run("backup", [])
    with journal.step(run_id, "web", "dump", {"database": "site"}) as detail:
        detail["bytes"] = 1234
    with pytest.raises(RuntimeError), journal.step(run_id, "web", "restic backup"):
        raise RuntimeError("repository is locked")

    steps = journal.steps(run_id)

    assert [(s.step, s.status) for s in steps] == [("dump", "ok"), ("restic backup", "failed")]
    assert steps[0].detail == {"database": "site", "bytes": 1234}
    assert steps[1].detail == {"error": "repository is locked"}
    assert all(s.ended_at for s in steps)


def test_a_step_may_set_its_own_status(journal: Journal) -> None:
    run_id = journal.start_run("deploy", [])
    with journal.step(run_id, "web", "put nginx.conf") as detail:
        detail["status"] = "changed"

    assert journal.steps(run_id)[0].status == "changed"


def test_runs_are_listed_newest_first_and_filtered_by_command(journal: Journal) -> None:
    ids = [journal.start_run(command, []) for command in ("backup", "check", "backup")]

    assert [r.id for r in journal.runs()] == list(reversed(ids))
    assert [r.id for r in journal.runs(limit=1)] == [ids[2]]
    assert [r.id for r in journal.runs(command="backup")] == [ids[2], ids[0]]


def test_secret_values_never_reach_the_journal(journal: Journal) -> None:
    secret = SecretValue("pass", "s3cret-in-argv")
    run_id = journal.start_run("backup", ["--password", secret.reveal()])
    journal.record_step(run_id, "web", "restic", "failed", {"stderr": "bad password s3cret-in-argv"})

    raw = journal.path.read_bytes()
    run = journal.run(run_id)

    assert run is not None and run.args == ["--password", MASK]
    assert journal.steps(run_id)[0].detail == {"stderr": f"bad password {MASK}"}
    assert b"s3cret-in-argv" not in raw


def test_the_journal_file_is_readable_only_by_its_owner(journal: Journal) -> None:
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_steps_may_be_recorded_from_several_threads(journal: Journal) -> None:
    run_id = journal.start_run("backup", ["--all"])

    def work(host: str) -> None:
        for index in range(10):
            journal.record_step(run_id, host, f"step {index}", "ok")

    threads = [threading.Thread(target=work, args=(f"host{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(journal.steps(run_id)) == 40


def test_the_journal_location_honours_chaton_journal_then_xdg_state_home() -> None:
    assert default_journal_path({"CHATON_JOURNAL": "/tmp/j.db"}) == Path("/tmp/j.db")
    assert default_journal_path({"XDG_STATE_HOME": "/var/x"}) == Path("/var/x/chaton/journal.sqlite3")


def test_a_reopened_journal_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first = Journal(path)
    run_id = first.start_run("check", [])
    first.close()

    second = Journal(path)
    try:
        assert second.run(run_id) is not None
    finally:
        second.close()
