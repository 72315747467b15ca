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


def test_every_step_row_keeps_its_own_status_when_threads_write_at_once(journal: Journal) -> None:
    # start/finish pairs from several threads: each finish must land on the row its start created
    run_id = journal.start_run("backup", ["--all"])
    barrier = threading.Barrier(8)

    def work(host: str) -> None:
        barrier.wait()
        for index in range(25):
            step_id = journal.start_step(run_id, host, f"step {index}")
            journal.finish_step(step_id, f"done-{host}-{index}", {"host": host, "index": index})

    threads = [threading.Thread(target=work, args=(f"host{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    steps = journal.steps(run_id)
    assert len(steps) == 200
    for step in steps:
        index = int(step.step.split()[1])
        assert step.status == f"done-{step.target}-{index}"
        assert step.detail == {"host": step.target, "index": index}


def test_a_run_whose_process_died_is_marked_interrupted(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "journal.sqlite3"
    script = ("import sys; from pathlib import Path; from chaton_ops.adapters.journal import Journal; "
              "j = Journal(Path(sys.argv[1])); r = j.start_run('failover', ['--to', 'vps']); "
              "s = j.begin_keyed_step(r, 'restore:www@vps', action='restore', target='www', host='vps', inputs={}); "
              "print(r, flush=True)")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    run_id = int(done.stdout)

    journal = Journal(path)
    try:
        run = journal.run(run_id)
        assert run is not None and run.status == "interrupted"
        assert journal.steps(run_id)[0].status == "interrupted"
        assert [r.id for r in journal.unfinished_runs("failover")] == [run_id]
    finally:
        journal.close()


def test_a_run_of_this_process_stays_running(journal: Journal) -> None:
    run_id = journal.start_run("failover", [])

    assert journal.mark_interrupted_runs() == []
    run = journal.run(run_id)
    assert run is not None and run.status == "running"


def test_a_resumed_keyed_step_updates_its_own_row_and_counts_attempts(journal: Journal) -> None:
    run_id = journal.start_run("failover", [])
    first = journal.begin_keyed_step(run_id, "dns:www", action="dns-switch", target="www", host=None,
                                     inputs={"zone": "lab.test"})
    journal.end_keyed_step(first, "failed", error="dns: connection refused")

    again = journal.begin_keyed_step(run_id, "dns:www", action="dns-switch", target="www", host=None,
                                     inputs={"zone": "lab.test"})
    journal.end_keyed_step(again, "ok", outputs={"old": ["10.77.0.2"], "new": ["10.77.0.3"]})

    (step,) = journal.steps(run_id)
    assert again == first and step.attempt == 2 and step.status == "ok" and step.done
    assert step.detail["outputs"] == {"old": ["10.77.0.2"], "new": ["10.77.0.3"]}
    assert step.detail["earlier_attempts"] == [{"status": "failed", "error": "dns: connection refused"}]
    assert "error" not in step.detail
    assert journal.keyed_steps(run_id) == {"dns:www": step}


def test_the_plan_is_stored_with_its_run(journal: Journal) -> None:
    run_id = journal.start_run("failover", ["--to", "vps"], plan={"steps": [{"key": "a"}]})

    assert journal.plan(run_id) == {"steps": [{"key": "a"}]}


def test_the_latest_placement_of_each_service_is_where_it_runs(journal: Journal) -> None:
    run_id = journal.start_run("failover", [])
    journal.set_placement("www", "vps", home="primary", run_id=run_id, reason="failover")
    journal.set_placement("mail", "vps", home="primary", run_id=run_id, reason="failover")
    journal.set_placement("www", "primary", home="primary", run_id=run_id, reason="failback")

    placements = journal.placements()

    assert {name: p.host for name, p in placements.items()} == {"www": "primary", "mail": "vps"}
    assert placements["mail"].away and not placements["www"].away and placements["mail"].run_id == run_id


def test_a_version_1_journal_is_migrated_in_place_and_keeps_its_runs(tmp_path: Path) -> None:
    import sqlite3

    from chaton_ops.adapters import journal as journal_module

    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(journal_module._V1)
    old.execute("INSERT INTO runs (command, args, user, machine, started_at, status, exit_code) "
                "VALUES ('backup', '[\"www\"]', 'root', 'm', '2026-01-01T00:00:00+00:00', 'ok', 0)")
    old.execute("INSERT INTO runs (command, args, user, machine, started_at) "
                "VALUES ('backup', '[]', 'root', 'm', '2026-01-02T00:00:00+00:00')")
    old.commit()
    old.close()

    journal = Journal(path)
    try:
        runs = journal.runs()
        assert [(r.command, r.args, r.status) for r in reversed(runs)][0] == ("backup", ["www"], "ok")
        assert journal._db.execute("PRAGMA user_version").fetchone()[0] == journal_module.SCHEMA_VERSION
        journal.set_placement("www", "vps", home="primary", run_id=runs[0].id, reason="failover")
        assert journal.placements()["www"].host == "vps"
    finally:
        journal.close()
    Journal(path).close()  # opening a current journal again migrates nothing and fails nothing


def test_a_damaged_or_foreign_file_is_one_clear_error_naming_it(tmp_path: Path) -> None:
    from chaton_ops.errors import JournalError

    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not a database at all\n" * 100)

    for read_only in (False, True):
        with pytest.raises(JournalError) as raised:
            Journal(path, read_only=read_only)
        assert str(path) in raised.value.message and "move it aside" in raised.value.message


def test_a_journal_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    from chaton_ops.errors import JournalError

    with pytest.raises(JournalError, match="not a regular file"):
        Journal(tmp_path)
    with pytest.raises(JournalError, match="not a regular file"):
        Journal(tmp_path, read_only=True)


def test_a_read_only_journal_is_read_without_writing_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as writer:
        run_id = writer.start_run("backup", [])
        writer.finish_run(run_id, "ok", 0)
    path.chmod(0o400)
    before = path.read_bytes()

    with Journal(path, read_only=True) as reader:
        assert [r.id for r in reader.runs()] == [run_id]
        assert reader.run(99999999999999999999) is None
    assert path.read_bytes() == before
