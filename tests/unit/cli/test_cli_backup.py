"""`chaton backup` before it reaches any host: what it refuses up front and what a dry run shows."""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode

EXAMPLE = Path(__file__).parents[3] / "inventory" / "example.yml"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def make_device(path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: make_device(d / "null"), "it is a character device, and chaton replaces only regular files"),
    (lambda d: Path("/dev/full"), "it is a character device"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "it is a FIFO"),
    (lambda d: d, "it is a directory"),
    (lambda d: d / "typo" / "chaton.prom", "its folder"),
])
def test_a_metrics_file_chaton_may_not_write_is_a_usage_error_before_anything_runs(
        state: Path, capsys: pytest.CaptureFixture[str], make, message: str) -> None:
    path = make(state)
    before = os.lstat(path).st_mode if path.exists() else None

    code = main(["-i", str(EXAMPLE), "backup", "www", "--metrics-file", str(path)])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert len(err.splitlines()) == 1 and err.startswith("error: --metrics-file: cannot write ") and message in err
    assert (os.lstat(path).st_mode if path.exists() else None) == before
    assert not (state / "typo").exists()
    assert not (state / "journal.sqlite3").exists() or Journal(state / "journal.sqlite3").runs() == []


def test_a_dry_run_shows_the_host_s_restic_binary_in_the_command(state: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inventory = state / "inventory.yml"
    inventory.write_text(EXAMPLE.read_text().replace(
        "web:    {address: 192.0.2.23,", "web:    {address: 192.0.2.23, restic: /opt/restic-0.18/restic,"))

    code = main(["-i", str(inventory), "--json", "backup", "www", "--dry-run"])

    shown = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    command = shown["backups"][0]["command"]
    argv = shlex.split(command) if isinstance(command, str) else command
    assert argv[:2] == ["/opt/restic-0.18/restic", "--repo"] and argv[3] == "backup"


def test_a_dry_run_on_screen_prints_each_command_whole(state: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    inventory = state / "inventory.yml"
    inventory.write_text(EXAMPLE.read_text().replace(
        "web:    {address: 192.0.2.23,", "web:    {address: 192.0.2.23, restic: /opt/restic-0.18/restic,"))

    assert main(["-i", str(inventory), "backup", "www", "--dry-run"]) == ExitCode.OK

    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("web: ")]
    assert len(commands) == 1
    assert all(line.startswith("web: /opt/restic-0.18/restic --repo ") and line.endswith("-- /srv/www")
               for line in commands)
