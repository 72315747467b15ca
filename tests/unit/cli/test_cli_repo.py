"""`chaton repo init|unlock` through the local transport (a host named localhost) and the real restic binary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    password = tmp_path / "restic.pass"
    password.write_text("correct horse\n")
    password.chmod(0o600)
    path = tmp_path / "inventory.yml"
    path.write_text(f"""version: 1
collective: {{name: T, domain: t.example, contact: a@t.example}}
secrets:
  pw: {{file: {password}}}
repositories:
  local: {{url: "{tmp_path / 'repo'}", password: pw}}
hosts:
  localhost: {{address: 127.0.0.1}}
services:
  site: {{host: localhost, data: ["{tmp_path}"]}}
""")
    return path


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    assert main(argv) == ExitCode.OK
    return json.loads(capsys.readouterr().out)


def test_repo_init_creates_the_repository_once_then_unlock_finds_no_lock(
        inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(["-i", str(inventory), "repo", "init", "--json"], capsys)
    second = run_json(["-i", str(inventory), "repo", "init", "local", "--json"], capsys)
    unlocked = run_json(["-i", str(inventory), "repo", "unlock", "--json"], capsys)

    assert first == [{"repository": "local", "via": "localhost", "created": True}]
    assert (inventory.parent / "repo" / "config").is_file()
    assert second == [{"repository": "local", "via": "localhost", "created": False}]
    assert unlocked == [{"repository": "local", "via": "localhost", "removed": 0, "remaining": 0}]
