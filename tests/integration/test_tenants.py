"""Tenants' lifecycle against the lab: sizes and silence, an export that unpacks to exactly the tenant's
data (restic 0.14 on primary, 0.18 on vps), and a removal refused inside the limit, journaled when done."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from chaton_ops.adapters.journal import Journal
from tests.integration.backup_lab import BackupLab, service

DB = "cigales_notes"


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    blab = BackupLab(lab, tmp_path)
    blab.make_files("primary", "/srv/cigales-site", {"index.html": "<h1>Les Cigales</h1>\n",
                                                      "img/logo.svg": "<svg/>", "empty.txt": ""})
    os.chmod(lab.host_path("primary", "/srv/cigales-site/index.html"), 0o640)
    (lab.host_path("primary", "/srv/cigales-site/big.bin")).write_bytes(os.urandom(300_000))
    blab.make_files("vps", "/srv/cigales-notes", {"notes/2026.md": "# notes\n"})
    lab.ssh("primary", f"runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS {DB}' -c 'CREATE DATABASE {DB}'",
            check=True)
    lab.ssh("primary", f"runuser -u postgres -- psql -q -d {DB} -c \"CREATE TABLE members (name text); "
                       "INSERT INTO members VALUES ('Zoé')\"", check=True)
    two_years_ago = (dt.date.today() - dt.timedelta(days=730)).isoformat()
    blab.write_inventory({
        "cigales-site": service("primary", ["/srv/cigales-site"], tenant="cigales", playbook="static-site",
                                vars={"server_name": "cigales.lab.test"},
                                databases=[{"engine": "postgres", "name": DB}]),
        "cigales-notes": service("vps", ["/srv/cigales-notes"], tenant="cigales"),
        "www": service("primary", ["/srv/www"]),
    }, defaults={"inactive_after": 365})
    data = yaml.safe_load(blab.inventory.read_text())
    data["tenants"]["cigales"] = {"contact": "bureau@cigales.example", "last_contact": two_years_ago,
                                  "repository": "main"}
    blab.inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    blab.make_files("primary", "/srv/www", {"index.html": "lab"})
    assert blab.chaton("backup", "--all", "--init").returncode == 0
    return blab


def tree(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every file and folder under root: relative path → (content or None, mode bits)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*"))}


def test_list_shows_each_tenant_with_data_size_and_who_is_past_the_limit(blab):
    run = blab.chaton("--json", "tenant", "list")

    assert run.returncode == 0, run.output
    listed = {t["tenant"]: t for t in run.json()["tenants"]}
    assert listed["cigales"]["past_limit"] and listed["cigales"]["days_since_contact"] == 730
    assert not listed["lab"]["past_limit"]
    assert sorted(listed["cigales"]["services"]) == ["cigales-notes", "cigales-site"]
    files = 300_000 + len("<h1>Les Cigales</h1>\n") + len("<svg/>") + len("# notes\n")
    assert files < listed["cigales"]["data_bytes"] < files + 50_000  # the files and the database dump
    assert run.json()["inactive_after_days"] == 365
    text = blab.chaton("tenant", "list")
    assert "PAST THE LIMIT: 730 days ago, past the limit of 365" in text.stdout


def test_export_unpacks_to_exactly_the_services_data_with_dumps_and_a_manifest(blab, tmp_path):
    archive = tmp_path / "cigales.tar.gz"

    run = blab.chaton("tenant", "export", "cigales", "--to", str(archive))

    assert run.returncode == 0, run.output
    out = tmp_path / "unpacked"
    with tarfile.open(archive) as opened:
        opened.extractall(out, filter="data")
    assert sorted(p.name for p in (out / "cigales").iterdir()) == ["README.txt", "cigales-notes", "cigales-site",
                                                                   "manifest.json"]
    site = blab.lab.host_path("primary", "/srv/cigales-site")
    notes = blab.lab.host_path("vps", "/srv/cigales-notes")
    assert tree(out / "cigales/cigales-site/data/srv/cigales-site") == tree(site)
    assert tree(out / "cigales/cigales-notes/data/srv/cigales-notes") == tree(notes)
    assert sorted(p.name for p in (out / "cigales/cigales-site/data").rglob("*") if p.is_file()) == \
        ["big.bin", "empty.txt", "index.html", "logo.svg"]
    dump = out / f"cigales/cigales-site/databases/postgres-{DB}.sql"
    assert "CREATE TABLE public.members" in dump.read_text() and "Zoé" in dump.read_text()
    manifest = json.loads((out / "cigales/manifest.json").read_text())
    assert manifest["tenant"] == "cigales" and set(manifest["services"]) == {"cigales-site", "cigales-notes"}
    (recorded,) = manifest["services"]["cigales-site"]["databases"]
    assert recorded["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert manifest["services"]["cigales-notes"]["data"]["files"] == 1
    assert manifest["services"]["cigales-notes"]["host"] == "vps"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert blab.lab.restic_password not in archive.read_bytes().decode("latin-1")
    again = blab.chaton("tenant", "export", "cigales", "--to", str(archive))
    assert again.returncode == 2 and "exists" in again.stderr  # never replaced


def test_remove_is_refused_inside_the_limit_and_nothing_is_journaled(blab):
    run = blab.chaton("--yes", "tenant", "remove", "lab")

    assert run.returncode == 2
    assert "within the collective's limit of 365 days; --force if the member asked to leave" in run.stderr
    assert blab.lab.host_path("primary", "/srv/www/index.html").exists()
    with Journal(blab.journal) as journal:
        assert journal.runs(command="tenant remove") == []


def test_remove_past_the_limit_exports_undeploys_removes_data_and_snapshots_and_is_journaled(blab, tmp_path):
    assert blab.chaton("deploy", "cigales-site").returncode == 0
    conf = blab.lab.host_path("primary", "/etc/nginx/conf.d/chaton-cigales-site.conf")
    assert conf.exists()
    export = tmp_path / "kept" / "cigales.tar.gz"
    (tmp_path / "kept").mkdir()

    refused = blab.chaton("tenant", "remove", "cigales", "--export-to", str(export))  # no terminal, no --yes
    assert refused.returncode == 2 and not export.exists()
    run = blab.chaton("--yes", "tenant", "remove", "cigales", "--export-to", str(export))

    assert run.returncode == 0, run.output
    assert "now remove tenants.cigales and services" in run.stdout
    assert export.exists() and tarfile.open(export).getmember("cigales/manifest.json")
    assert not blab.lab.host_path("primary", "/srv/cigales-site").exists()
    assert not blab.lab.host_path("vps", "/srv/cigales-notes").exists()
    assert not conf.exists()
    databases = blab.lab.ssh("primary", "runuser -u postgres -- psql -At -c 'SELECT datname FROM pg_database'").stdout
    assert DB not in databases.split()
    assert blab.snapshots("service:cigales-site") == [] and blab.snapshots("service:cigales-notes") == []
    assert blab.snapshots("service:www") != []  # another tenant's snapshots stay
    assert blab.lab.host_path("primary", "/srv/www/index.html").exists()
    with Journal(blab.journal) as journal:
        (removal,) = journal.runs(command="tenant remove")
        steps = journal.keyed_steps(removal.id)
    assert removal.status == "ok"
    assert steps["export"].status == "changed"
    assert steps["undeploy:cigales-site@primary"].status == "changed"
    assert steps["undeploy:cigales-notes@vps"].status == "noop"  # no playbook
    assert steps["remove-data:cigales-site@primary"].status == "changed"
    assert steps["forget:cigales-notes@main"].detail["outputs"]["forgotten"] == 1
