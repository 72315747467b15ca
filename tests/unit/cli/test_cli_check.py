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
