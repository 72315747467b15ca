"""`chaton inventory`, `check`, `show NAME`, `schema`: tables, JSON and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode

EXAMPLE = str(Path(__file__).parents[3] / "inventory" / "example.yml")


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    code = main(["-i", EXAMPLE, "--json", *args])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    return json.loads(out)


def test_check_of_the_example_counts_what_it_holds(capsys: pytest.CaptureFixture[str]) -> None:
    summary = run_json(["inventory", "check"], capsys)

    assert summary == {"ok": True, "files": [EXAMPLE], "hosts": 6, "services": 12, "tenants": 4,
                       "repositories": 2, "warnings": []}


def test_check_prints_one_line_when_the_inventory_is_good(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "check", EXAMPLE]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("inventory OK: 6 hosts, 12 services")


def test_check_warns_about_a_secret_file_readable_by_others(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "repo.pass"
    secret.write_text("s3cret-value\n")
    os.chmod(secret, 0o644)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\n"
        "secrets:\n  repo: {file: repo.pass}\n"
        "repositories:\n  main: {url: /srv/restic, password: repo}\n")

    assert main(["inventory", "check", str(inventory), "--json"]) == ExitCode.OK

    out, err = capsys.readouterr()
    warnings = json.loads(out)["warnings"]
    assert len(warnings) == 1 and "mode 0644" in warnings[0] and "chmod 600" in warnings[0]
    assert "readable by group or others" in err
    assert "s3cret-value" not in out + err


def test_overview_json_has_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    tables = run_json(["inventory"], capsys)

    assert isinstance(tables, dict)
    assert set(tables) == {"hosts", "services", "tenants", "repositories", "dns"}
    assert [h["name"] for h in tables["hosts"]][:2] == ["hutte1", "mail"]


def test_overview_tables_keep_names_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    from chaton_ops.cli import output

    output._console.cache_clear()
    try:
        assert main(["-i", EXAMPLE, "inventory"]) == ExitCode.OK
    finally:
        output._console.cache_clear()

    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    first_cells = {line.split()[0] for line in lines if line.strip()}
    assert {"cigales-cloud", "jardins-site", "radio-stream", "cigales-vm", "jardins-partages"} <= first_cells


def test_show_a_service_gives_its_host_repositories_and_retention(capsys: pytest.CaptureFixture[str]) -> None:
    found = run_json(["inventory", "show", "imap"], capsys)

    assert isinstance(found, list) and len(found) == 1
    imap = found[0]
    assert imap["type"] == "service"
    imap_line = Path(EXAMPLE).read_text().splitlines().index("  imap:") + 1
    assert imap["defined_at"].endswith(f"example.yml:{imap_line}")
    assert imap["host"] == {"name": "mail", "address": "192.0.2.21"}
    assert imap["repositories"] == ["main", "offsite"]
    assert imap["retention"] == {"last": 5, "daily": 14, "weekly": 8, "monthly": 24}


def test_show_a_name_that_is_both_host_and_service_gives_both(capsys: pytest.CaptureFixture[str]) -> None:
    found = run_json(["inventory", "show", "cloud"], capsys)

    assert isinstance(found, list)
    assert [item["type"] for item in found] == ["host", "service"]


def test_show_a_repository_names_the_secret_not_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    found = run_json(["inventory", "show", "main"], capsys)

    assert isinstance(found, list)
    assert found[0]["settings"]["password"] == "restic-main"
    assert "cigales" in found[0]["tenants"]


def test_show_a_tenant_or_repository_lists_the_services_that_refer_to_it(capsys: pytest.CaptureFixture[str]) -> None:
    tenant = run_json(["inventory", "show", "cigales"], capsys)
    repository = run_json(["inventory", "show", "offsite"], capsys)

    assert isinstance(tenant, list) and isinstance(repository, list)
    assert tenant[0]["services"] == ["cigales-site", "cigales-cloud"]
    # only the services listing offsite themselves: cigales' services follow their tenant's repository
    assert repository[0]["services"] == ["mx", "imap"]


def test_show_an_unknown_name_exits_2_listing_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", EXAMPLE, "inventory", "show", "nothing"]) == ExitCode.USAGE

    err = capsys.readouterr().err
    assert "no host, service, tenant or repository named 'nothing'" in err
    assert "imap" in err


def test_show_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", EXAMPLE, "inventory", "show", "vps"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "host vps" in out and "fallback_for" in out


def test_schema_is_a_json_schema_with_a_description_for_every_property(
        capsys: pytest.CaptureFixture[str]) -> None:
    schema = run_json(["inventory", "schema"], capsys)

    assert isinstance(schema, dict) and schema["title"] == "Inventory"
    missing = [
        f"{name}.{prop}"
        for name, model in {"Inventory": schema, **schema["$defs"]}.items()
        for prop, spec in model.get("properties", {}).items()
        if "description" not in spec
    ]
    assert missing == []
