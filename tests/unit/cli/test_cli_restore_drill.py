"""`chaton restore` and `chaton drill` through the CLI with the real restic on this machine: --dry-run
--json gives the runbook's steps (restore: under `runbook_plan`, beside the restore plan's own keys;
drill: under `plan`), a run gives its report under `runbook`, as every engine command does."""

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
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "index.html").write_text("hello\n")
    path = local_inventory(tmp_path, monkeypatch, data)
    assert main(["-i", str(path), "backup", "site", "--init"]) == ExitCode.OK
    capsys.readouterr()
    return path


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = ExitCode.OK) -> dict:
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_restore_dry_run_json_keeps_the_plan_keys_and_adds_the_runbook(inventory: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "inspect"
    dry = run_json(["-i", str(inventory), "--json", "restore", "site", "--target", str(target), "--dry-run"], capsys)
    assert {"service", "host", "mode", "snapshot", "paths", "space", "kept_aside", "refusals"} <= set(dry)
    assert [(s["key"], s["action"], s["host"]) for s in dry["runbook_plan"]["steps"]] == [
        ("restore:site@localhost", "restore", "localhost")]
    assert not target.exists()

    done = run_json(["-i", str(inventory), "--json", "restore", "site", "--target", str(target)], capsys)
    assert done["status"] == "ok" and done["verified"] is True
    assert done["runbook"]["command"] == "restore" and done["runbook"]["status"] == "ok"
    assert [(s["key"], s["status"]) for s in done["runbook"]["steps"]] == [("restore:site@localhost", "changed")]


def test_drill_dry_run_json_is_the_runbook_and_a_drill_reports_its_run(inventory: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    dry = run_json(["-i", str(inventory), "--json", "drill", "--all", "--dry-run"], capsys)
    assert [(s["key"], s["host"], s["inputs"]) for s in dry["plan"]["steps"]] == [
        ("drill:site@localhost", "localhost", {"service": "site", "repository": "local"})]

    done = run_json(["-i", str(inventory), "--json", "drill", "site"], capsys)
    (drill,) = done["drills"]
    assert drill["status"] == "ok" and drill["verified"] is True and done["exit_code"] == 0
    assert (done["runbook"]["status"], [s["key"] for s in done["runbook"]["steps"]]) == ("ok", ["drill:site@localhost"])
