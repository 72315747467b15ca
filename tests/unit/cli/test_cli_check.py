"""`chaton check` before it reaches any host: which repositories it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode

EXAMPLE = str(Path(__file__).parents[3] / "inventory" / "example.yml")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_check_of_an_unknown_repository_exits_2_and_leaves_no_lock_file_nor_journal_run(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", EXAMPLE, "check", "no-such-repo", "../../escaped"]) == ExitCode.USAGE

    assert "unknown repository: no-such-repo, ../../escaped" in capsys.readouterr().err
    assert [p.name for p in state.rglob("*.lock")] == []
    assert not (state / "journal.sqlite3").exists() or Journal(state / "journal.sqlite3").runs() == []


def nothing_recorded(state: Path) -> bool:
    return not (state / "journal.sqlite3").exists() or Journal(state / "journal.sqlite3").runs() == []


# Usage errors of every option, each found before a lock file, a journal run or restic.
@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--via", "nosuch"], "unknown host: nosuch"),
    (["check", "main", "--via", "nosuch"], "unknown host: nosuch"),
    (["check", "--read-data-subset", "bogus"], "--read-data-subset 'bogus': expected n/t"),
    (["check", "--read-data-subset", "0/3"], "n/t needs 1 ≤ n ≤ t"),
    (["check", "--read-data-subset", "4/3"], "n/t needs 1 ≤ n ≤ t"),
    (["check", "--read-data-subset", "0%"], "x% needs 0 < x ≤ 100"),
    (["check", "--read-data-subset", "101%"], "x% needs 0 < x ≤ 100"),
    (["check", "--read-data-subset", "12"], "expected n/t"),
    (["check", "--read-data-subset", "-1"], "expected n/t"),
    (["check", "--read-data-subset", "5%", "--no-integrity"], "cannot go with --no-integrity"),
    (["check", "--lock-wait", "-1"], "Invalid value for '--lock-wait'"),
    (["check", "--via"], "option --via needs a value"),
])
def test_a_usage_error_exits_2_in_one_line_and_starts_nothing(
        state: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code = main(["-i", EXAMPLE, *argv])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert [p.name for p in state.rglob("*.lock")] == []
    assert nothing_recorded(state)


def test_a_dry_run_prints_the_argv_of_the_host_s_binary_and_runs_nothing(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    inventory = state / "inventory.yml"
    inventory.write_text(Path(EXAMPLE).read_text().replace(
        "address: 192.0.2.21,", "address: 192.0.2.21, restic: /opt/restic-0.18/restic,"))

    code = main(["-i", str(inventory), "--json", "check", "offsite", "--read-data-subset", "1/10", "--dry-run"])

    shown = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert shown["repositories"] == [{"repository": "offsite", "via": "mail", "argv": [
        "/opt/restic-0.18/restic", "--repo", "sftp:u123@offsite.example.org:/restic/ti-nuage", "check",
        "--read-data-subset", "1/10"]}]
    assert nothing_recorded(state)
