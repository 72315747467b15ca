"""`chaton check` end to end through the local transport and the real restic: what it exits with and
that every failing exit says why, with -q too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode
from tests.unit.cli.local_inventory import local_inventory

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    return local_inventory(tmp_path, monkeypatch, tmp_path / "site")


def set_max_age(inventory: Path, hours: float) -> None:
    inventory.write_text(inventory.read_text().replace('data: [', f"max_age_hours: {hours:.6f}, data: ["))


def check(inventory: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = main(["-i", str(inventory), "check", *args])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_no_integrity_exits_0_when_everything_is_fresh_and_1_with_the_reason_when_not(
        inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", str(inventory), "-q", "backup", "site", "--init"]) == ExitCode.OK

    assert check(inventory, capsys, "--no-integrity", "-q") == (ExitCode.OK, "", [])

    set_max_age(inventory, 0.000001)
    code, out, err = check(inventory, capsys, "--no-integrity", "-q")
    assert (code, out) == (ExitCode.FAILED, "")
    assert len(err) == 1 and err[0].startswith("problem: local: site: newest snapshot is 0.0 h old (max 1e-06 h)")


def test_a_repository_without_snapshots_says_so_even_with_json(inventory: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", str(inventory), "-q", "repo", "init"]) == ExitCode.OK

    code, out, err = check(inventory, capsys, "--json", "--no-integrity")

    assert code == ExitCode.FAILED
    assert '"problems": [\n        "site: no snapshot"\n      ]' in out
    assert err == ["problem: local: site: no snapshot"]


def test_integrity_ok_exits_0_and_a_damaged_repository_exits_1_saying_why(
        inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", str(inventory), "-q", "backup", "site", "--init"]) == ExitCode.OK
    assert check(inventory, capsys, "-q") == (ExitCode.OK, "", [])

    pack = next(p for p in (inventory.parent / "repo" / "data").rglob("*") if p.is_file())
    with pack.open("ab") as damaged:  # a pack whose size the index contradicts (a deleted one makes restic retry)
        damaged.write(b"garbage")
    code, out, err = check(inventory, capsys, "-q")

    assert (code, out) == (ExitCode.FAILED, "")
    assert len(err) == 1 and err[0].startswith("problem: local: failed: localhost: restic check: restic failed")
    runs = Journal(inventory.parent / "journal.sqlite3").runs()
    assert [(r.command, r.status, r.exit_code) for r in runs][:2] == [("check", "failed", 1), ("check", "ok", 0)]
