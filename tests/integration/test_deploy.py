"""`chaton deploy` against the lab: static-site on vps, re-runs, dry-run diffs, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from tests.integration.deploy_helpers import (
    SITE_NAME,
    SITE_ROOT,
    chaton,
    wait_for_page,
    write_deploy_inventory,
)


@pytest.fixture
def journal_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("CHATON_JOURNAL", str(path))
    return path


def test_static_site_deployed_on_vps_serves_the_data_directory_and_a_second_run_changes_nothing(
        lab, tmp_path, journal_path, capsys):
    inventory = write_deploy_inventory(lab, tmp_path)
    index = lab.host_path("vps", f"{SITE_ROOT}/index.html")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("<h1>deployed by chaton</h1>\n")
    index.parent.chmod(0o700)  # the playbook must put the mode right

    assert chaton("-i", str(inventory), "deploy", "site", "--to", "vps") == 0
    page = "<h1>deployed by chaton</h1>\n"
    assert wait_for_page(lab.address("vps"), SITE_NAME, page) == page
    assert index.parent.stat().st_mode & 0o777 == 0o755
    config = lab.host_path("vps", "/etc/nginx/conf.d/chaton-site.conf").read_text()
    assert f"server_name {SITE_NAME};" in config and f"root {SITE_ROOT};" in config
    capsys.readouterr()

    assert chaton("-i", str(inventory), "--json", "deploy", "site", "--to", "vps") == 0
    import json

    second = json.loads(capsys.readouterr().out)
    assert second["changed"] == 0
    assert {step["status"] for step in second["steps"]} == {"ok"}

    journal = Journal(journal_path)
    runs = journal.runs(command="deploy")
    assert [run.status for run in runs] == ["ok", "ok"]
    assert {step.status for step in journal.steps(runs[1].id)} == {"ok", "changed"}


def test_dry_run_shows_a_diff_against_the_host_and_changes_nothing(lab, tmp_path, journal_path, capsys):
    services = {"dry": {"host": "vps", "playbook": "static-site", "vars": {"server_name": "old.lab.test"},
                        "data": ["/srv/deploy-dry"]}}
    inventory = write_deploy_inventory(lab, tmp_path / "first", extra_services=services)
    assert chaton("-i", str(inventory), "deploy", "dry") == 0
    config = lab.host_path("vps", "/etc/nginx/conf.d/chaton-dry.conf")
    before = config.read_text()
    capsys.readouterr()

    services["dry"]["vars"] = {"server_name": "new.lab.test"}
    inventory = write_deploy_inventory(lab, tmp_path / "second", extra_services=services)
    assert chaton("-i", str(inventory), "deploy", "dry", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "-    server_name old.lab.test;" in out
    assert "+    server_name new.lab.test;" in out
    assert "dry run, nothing changed" in out
    assert config.read_text() == before
    assert not lab.host_path("vps", "/etc/nginx/conf.d/chaton-dry.conf.chaton-prev").exists()

    assert "Runbook: deploy (dry run)" in out and "deploy dry on vps" in out  # the plan that runs
    assert chaton("-i", str(inventory), "--json", "deploy", "dry", "--dry-run") == 0
    planned = json.loads(capsys.readouterr().out)
    assert [(step["key"], step["host"]) for step in planned["plan"]["steps"]] == [("deploy:dry@vps", "vps")]
    assert "runbook" not in planned  # nothing ran

    assert chaton("-i", str(inventory), "--json", "deploy", "dry") == 0
    ran = json.loads(capsys.readouterr().out)["runbook"]
    assert (ran["command"], ran["status"]) == ("deploy", "ok")
    assert [(step["key"], step["status"]) for step in ran["steps"]] == [("deploy:dry@vps", "changed")]
    assert "new.lab.test" in config.read_text()
    assert lab.host_path("vps", "/etc/nginx/conf.d/chaton-dry.conf.chaton-prev").read_text() == before


def test_a_missing_variable_names_the_service_in_the_inventory_and_nothing_runs(lab, tmp_path, journal_path, capsys):
    services = {"novars": {"host": "vps", "playbook": "static-site", "data": ["/srv/deploy-novars"]}}
    inventory = write_deploy_inventory(lab, tmp_path, extra_services=services)
    assert chaton("-i", str(inventory), "deploy", "novars") == 2
    err = capsys.readouterr().err
    line = next(n for n, text in enumerate(inventory.read_text().splitlines(), 1) if text.strip().startswith("novars"))
    assert f"{inventory}:{line}:" in err and "at 'services.novars'" in err
    assert "playbook static-site needs the variable 'server_name'" in err
    assert not lab.host_path("vps", "/srv/deploy-novars").exists()
    assert not journal_path.exists() or Journal(journal_path).runs(command="deploy") == []


def write_playbook(folder: Path, name: str, steps: str, templates: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(f"description: test playbook\nsteps:\n{steps}")
    (folder / name).mkdir(exist_ok=True)
    for file, text in templates.items():
        (folder / name / file).write_text(text)


def test_a_template_syntax_error_names_the_file_and_line_and_nothing_runs(lab, tmp_path, journal_path, capsys,
                                                                         monkeypatch):
    playbooks = tmp_path / "playbooks"
    write_playbook(playbooks, "broken", (
        "  - directory: {path: /srv/deploy-broken}\n"
        "  - template: {src: bad.conf.j2, dest: /srv/deploy-broken/bad.conf}\n"),
        {"bad.conf.j2": "line one\n{% if %}\n"})
    monkeypatch.setenv("CHATON_PLAYBOOKS", str(playbooks))
    services = {"broken": {"host": "vps", "playbook": "broken"}}
    inventory = write_deploy_inventory(lab, tmp_path, extra_services=services)
    assert chaton("-i", str(inventory), "deploy", "broken") == 2
    err = capsys.readouterr().err
    assert "broken/bad.conf.j2:2" in err and "syntax error" in err
    assert not lab.host_path("vps", "/srv/deploy-broken").exists()


def test_a_failing_command_stops_the_run_with_its_exit_code_and_output_and_later_files_stay_untouched(
        lab, tmp_path, journal_path, capsys, monkeypatch):
    playbooks = tmp_path / "playbooks"
    write_playbook(playbooks, "failing", (
        "  - directory: {path: /srv/deploy-failing}\n"
        "  - template: {src: first.conf.j2, dest: /srv/deploy-failing/first.conf}\n"
        "  - command: [ls, /srv/deploy-failing/no-such-file]\n"
        "  - template: {src: second.conf.j2, dest: /srv/deploy-failing/second.conf}\n"),
        {"first.conf.j2": "first {{ service.name }}\n", "second.conf.j2": "second\n"})
    monkeypatch.setenv("CHATON_PLAYBOOKS", str(playbooks))
    services = {"failing": {"host": "vps", "playbook": "failing"}}
    inventory = write_deploy_inventory(lab, tmp_path, extra_services=services)
    assert chaton("-i", str(inventory), "deploy", "failing") == 1
    captured = capsys.readouterr()
    assert "ls /srv/deploy-failing/no-such-file" in captured.err
    assert "exited with 2" in captured.err
    assert "No such file or directory" in captured.err
    assert "failed" in captured.out
    assert lab.host_path("vps", "/srv/deploy-failing/first.conf").read_text() == "first failing\n"
    assert not lab.host_path("vps", "/srv/deploy-failing/second.conf").exists()
    run = Journal(journal_path).runs(command="deploy")[0]
    assert (run.status, run.exit_code) == ("failed", 1)
    assert [step.status for step in Journal(journal_path).steps(run.id)] == ["changed", "changed", "failed"]
