"""The break-glass runbook: every service with its exact commands, history from the journal, secrets
only as references (tested with known values in the environment and in files)."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.core.loader import load_inventory

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "inventory" / "example.yml"
KNOWN = {"CHATON_PVE_TOKEN": "pve-token-Xq81-secret-value"}
FILE_SECRET = "restic-main-Lw93-secret-value"


@pytest.fixture
def inventory(tmp_path, monkeypatch) -> Path:
    secret = tmp_path / "restic-main.pass"
    secret.write_text(FILE_SECRET + "\n")
    secret.chmod(0o600)
    path = tmp_path / "inventory.yml"
    path.write_text(EXAMPLE.read_text().replace("/etc/chaton/restic-main.pass", str(secret)))
    for name, value in KNOWN.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    return path


def write_history(journal_path: Path) -> None:
    with Journal(journal_path) as journal:
        run = journal.start_run("backup", ["www"])  # as the engine journals a backup step
        backup = journal.begin_keyed_step(run, "backup:www@main", action="backup", target="www@main", host="web",
                                          inputs={"service": "www", "host": "web", "repository": "main"})
        journal.end_keyed_step(backup, "ok", outputs={"snapshot": "1a2b3c4d5e6f", "files_new": 3})
        journal.finish_run(run, "ok", 0)
        failback = journal.start_run("failback", ["cloud"])  # a failback's backup on the fallback
        taken = journal.begin_keyed_step(failback, "backup:cloud@vps", action="backup", target="cloud", host="vps",
                                         inputs={"service": "cloud", "host": "vps"})
        journal.end_keyed_step(taken, "changed", outputs={"snapshots": {"main": "9f8e7d6c5b4a"}})
        journal.finish_run(failback, "ok", 0)
        drill = journal.start_run("drill", ["www"])
        journal.record_step(drill, "www", "drill result", "ok", {"service": "www", "host": "vps", "mb_per_s": 87.4})
        journal.finish_run(drill, "ok", 0)
        rehearsal = journal.start_run("rehearsal", ["--to", "vps"], plan={"command": "rehearsal", "steps": [
            {"key": "restore:www@vps", "action": "restore", "title": "www", "target": "www", "inputs": {}}]})
        step = journal.begin_keyed_step(rehearsal, "rto", action="measure", target="run", host=None, inputs={})
        journal.end_keyed_step(step, "ok", outputs={"rto_seconds": 94.2})
        journal.finish_run(rehearsal, "ok", 0)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_service_has_its_restore_failover_and_failback_commands_and_no_secret_value(inventory, tmp_path, fmt):
    out = tmp_path / f"runbook.{fmt}"

    assert main(["-i", str(inventory), "runbook", "--format", fmt, "--to", str(out)]) == 0

    text = out.read_text()
    plain = html.unescape(text) if fmt == "html" else text
    loaded = load_inventory(inventory)
    where = str(inventory.resolve())
    for name, service in loaded.inventory.services.items():
        assert f"chaton -i {where} restore {name}" in plain
        assert f"chaton -i {where} drill {name}" in plain
        if service.fallback:
            assert f"chaton -i {where} failover --to {service.fallback} {name}" in plain
            assert f"chaton -i {where} failback {name}" in plain
        for path in service.data:
            assert path in plain
    for value in (*KNOWN.values(), FILE_SECRET):
        assert value not in text
    assert "environment variable CHATON_PVE_TOKEN" in plain
    assert f"file {tmp_path / 'restic-main.pass'}" in plain
    assert "output of the command `pass show chaton/tsig`" in plain
    assert "contact@cigales.example" in plain and "admins@ti-nuage.example" in plain
    if fmt == "html":
        assert "<script" not in text and "http://" not in text.split("<body>")[0]


def test_last_backup_drill_and_rehearsal_come_from_the_journal(inventory, tmp_path):
    write_history(tmp_path / "journal.sqlite3")
    out = tmp_path / "runbook.md"

    assert main(["-i", str(inventory), "runbook", "--to", str(out)]) == 0

    text = out.read_text()
    www = text.split("### www", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"\| last backup \| \d{4}-\d\d-\d\d \d\d:\d\d UTC: ok \(snapshot 1a2b3c4d, to main\) \|", www)
    assert re.search(r"\| last drill \| .* UTC: ok \(on vps, 87 MB/s\) \|", www)
    assert re.search(r"\| last rehearsal \| .* UTC: ok \(RTO 94 s\) \|", www)
    assert "| last backup | never (nothing in the journal) |" in text.split("### mx", 1)[1].split("\n### ", 1)[0]
    cloud = text.split("### cloud", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"\| last backup \| .* UTC: ok \(snapshot 9f8e7d6c, to main\) \|", cloud)


def test_bare_restic_commands_take_the_password_from_where_it_is_kept(inventory, tmp_path):
    out = tmp_path / "runbook.md"
    assert main(["-i", str(inventory), "runbook", "--to", str(out)]) == 0

    text = out.read_text()
    assert (f"restic -r sftp:backup@backup.ti-nuage.example:/srv/restic/main --password-file "
            f"{tmp_path / 'restic-main.pass'} snapshots --tag service:www") in text


def test_a_bad_format_or_an_unwritable_place_is_a_usage_error(inventory, tmp_path):
    assert main(["-i", str(inventory), "runbook", "--format", "pdf", "--to", str(tmp_path / "x")]) == 2
    assert main(["-i", str(inventory), "runbook", "--to", str(tmp_path / "no" / "such" / "x.md")]) == 2


def test_the_document_is_dated_and_names_its_inventory(inventory, tmp_path):
    from chaton_ops.ops.breakglass import make_runbook

    text = make_runbook(load_inventory(inventory), tmp_path / "none.sqlite3", journal=None,
                        now=dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))
    assert text.startswith("# Break-glass runbook: Ti Nuage\n")
    assert "Generated 2026-11-22 03:00 UTC by chaton" in text and str(inventory.resolve()) in text
