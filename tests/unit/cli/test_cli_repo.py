"""`chaton repo init|unlock` through the local transport (a host named localhost) and the real restic binary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode
from tests.unit.cli.local_inventory import local_inventory

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return local_inventory(tmp_path, monkeypatch, tmp_path)


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


@pytest.fixture
def live_lock(inventory: Path):
    """A restic lock held by a running process: `key passwd` takes the exclusive lock, then waits for a
    new password on stdin for as long as the pipe stays open."""
    import subprocess
    import time

    assert main(["-i", str(inventory), "-q", "repo", "init"]) == ExitCode.OK
    repo = inventory.parent / "repo"
    holder = subprocess.Popen(["restic", "-r", str(repo), "--password-file", str(inventory.parent / "restic.pass"),
                               "key", "passwd"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not any((repo / "locks").iterdir()):
        assert time.monotonic() < deadline, "restic took no lock"
        time.sleep(0.05)
    yield repo / "locks"
    holder.kill()
    holder.wait()


def test_remove_all_without_a_terminal_and_without_yes_is_refused_and_removes_nothing(
        inventory: Path, live_lock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    code = main(["-i", str(inventory), "repo", "unlock", "--remove-all"])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert out == ""
    assert err == ("error: remove every restic lock of local, those of running processes too (a backup or check "
                   "running now may then fail): this needs a confirmation and there is no terminal to ask on; add "
                   "--yes to go ahead\n")
    assert len(list(live_lock.iterdir())) == 1


def test_remove_all_with_yes_removes_the_lock_of_a_running_process(
        inventory: Path, live_lock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    removed = run_json(["-i", str(inventory), "repo", "unlock", "--remove-all", "--yes", "--json"], capsys)

    assert removed == [{"repository": "local", "via": "localhost", "removed": 1, "remaining": 0}]
    assert list(live_lock.iterdir()) == []


@pytest.mark.parametrize(("answer", "code", "locks_left"), [("n\n", 1, 1), ("\n", 1, 1), ("yes\n", 0, 0)])
def test_remove_all_on_a_terminal_asks_and_does_only_what_was_answered(
        inventory: Path, live_lock: Path, answer: str, code: int, locks_left: int) -> None:
    import os
    import sys

    from tests.terminal import run_in_terminal

    chaton = Path(sys.executable).with_name("chaton")
    run = run_in_terminal([str(chaton), "-i", str(inventory), "repo", "unlock", "--remove-all"],
                          env={"CHATON_JOURNAL": os.environ["CHATON_JOURNAL"],
                               "CHATON_STATE_DIR": os.environ["CHATON_STATE_DIR"]},
                          typed=answer, timeout=60)

    assert run.returncode == code, run.text
    assert "remove every restic lock of local" in run.text and run.crash_markers() == []
    assert len(list(live_lock.iterdir())) == locks_left
    if code:
        assert "not confirmed: nothing was done" in run.text


def test_a_dry_run_shows_the_argv_with_the_host_s_binary_and_changes_nothing(
        inventory: Path, live_lock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil as shell_utils

    binary = shell_utils.which("restic")
    inventory.write_text(inventory.read_text().replace("localhost: {address: 127.0.0.1}",
                                                       f"localhost: {{address: 127.0.0.1, restic: {binary}}}"))
    capsys.readouterr()

    shown = run_json(["-i", str(inventory), "repo", "unlock", "--remove-all", "--dry-run", "--json"], capsys)

    repo = inventory.parent / "repo"
    assert shown == [{"repository": "local", "via": "localhost",
                      "argv": [binary, "--repo", str(repo), "unlock", "--remove-all"]}]
    assert len(list(live_lock.iterdir())) == 1


def test_one_repository_failing_does_not_stop_the_others_and_the_policy_gives_3(
        inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory.write_text(inventory.read_text().replace(
        "repositories:\n", "repositories:\n  broken: {url: \"/nonexistent/place\", password: pw}\n").replace(
        "data: [", "repositories: [local, broken], data: ["))
    assert main(["-i", str(inventory), "-q", "repo", "init", "local"]) == ExitCode.OK
    capsys.readouterr()

    code = main(["-i", str(inventory), "repo", "unlock"])

    out, err = capsys.readouterr()
    assert code == ExitCode.PARTIAL
    assert out.startswith("local: 0 lock(s) removed")
    assert err.startswith("error: broken: localhost: restic list locks:")
