"""`chaton drill` against the lab: a healthy drill passes and records its speed; a damaged repository
fails the drill clearly (exit 1); scratch folders and databases are removed either way."""

from __future__ import annotations

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.ops.restore import measured_restore_speed
from tests.integration.backup_lab import BackupLab, service
from tests.integration.restore_helpers import mysql, psql


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def scratch_left(lab, host: str) -> list[str]:
    return lab.ssh(host, "ls -d /var/tmp/chaton-drill-* 2>/dev/null").stdout.split()


def test_a_drill_on_a_healthy_service_passes_and_records_its_speed(blab, lab):
    lab.ssh("primary", "rm -rf /srv/shop && mkdir -p /srv/shop && for i in $(seq 1 30); do "
                       "head -c 200000 /dev/urandom > /srv/shop/p$i.jpg; done && chmod 640 /srv/shop/p1.jpg")
    lab.ssh("primary", "runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS orders' -c 'CREATE DATABASE orders'")
    psql(lab, "primary", "orders", "CREATE TABLE orders (id int); CREATE TABLE lines (id int); "
                                   "INSERT INTO orders VALUES (1)")
    mysql(lab, "primary", "DROP DATABASE IF EXISTS stock; CREATE DATABASE stock; CREATE TABLE stock.items (id int)")
    blab.write_inventory({"shop": service("primary", ["/srv/shop"], fallback="vps", databases=[
        {"engine": "postgres", "name": "orders"}, {"engine": "mariadb", "name": "stock"}])})
    assert blab.chaton("backup", "shop", "--init").returncode == 0

    run = blab.chaton("--json", "drill", "shop")

    assert run.returncode == 0, run.output
    (drill,) = run.json()["drills"]
    assert drill["status"] == "ok" and drill["verified"] is True and drill["host"] == "vps"
    assert drill["files"] == 31 and drill["bytes"] == 30 * 200000 and drill["mb_per_s"] > 0
    assert sorted(db["tables"] for db in drill["databases"]) == [1, 2]
    assert scratch_left(lab, "vps") == []
    assert "chaton_drill" not in psql(lab, "vps", "postgres", "SELECT string_agg(datname, ' ') FROM pg_database")
    assert "chaton_drill" not in mysql(lab, "vps", "SHOW DATABASES")
    journal = Journal(blab.journal)
    speed = measured_restore_speed(journal, host="vps")
    assert speed is not None and speed > 0
    table = blab.chaton("drill", "shop", "--on", "primary")
    assert table.returncode == 0 and "verified" in table.stdout and "shop" in table.stdout


def test_a_drill_on_a_damaged_repository_fails_clearly(blab, lab):
    lab.ssh("primary", "rm -rf /srv/files && mkdir -p /srv/files && for i in $(seq 1 5); do "
                       "head -c 3000000 /dev/urandom > /srv/files/f$i; done")
    blab.write_inventory({"files": service("primary", ["/srv/files"], fallback="vps")})
    assert blab.chaton("backup", "files", "--init").returncode == 0
    packs = sorted((p for p in (blab.repo_path / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    damaged = packs[-1]  # the biggest pack holds file data
    with damaged.open("r+b") as handle:
        handle.seek(damaged.stat().st_size // 2)
        handle.write(b"\0" * 4096)

    run = blab.chaton("drill", "files")

    assert run.returncode == 1, run.output
    assert "failed: files on vps:" in run.stderr
    assert "failed" in run.stdout.splitlines()[-1]
    assert scratch_left(lab, "vps") == []
