"""`chaton restore` against the lab: exact restores in place and onto the fallback with both restic
versions, PostgreSQL and MariaDB databases loaded and queried, --target for inspection."""

from __future__ import annotations

import pytest

from tests.integration.backup_lab import BackupLab, service
from tests.integration.restore_helpers import listing, mysql, psql, set_host_restic
from tests.lab.lab import NEW_RESTIC


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def make_mailbox(lab, host: str, root: str = "/srv/mail") -> None:
    script = f"""set -e
rm -rf {root}; mkdir -p {root}/cur {root}/new {root}/tmp
for i in $(seq 1 40); do printf 'From: member%s@lab.test\\nSubject: %s\\n\\nhello %s\\n' $i $i $i > {root}/cur/$i.mail; done
for i in $(seq 1 5); do echo "unread $i" > {root}/new/n$i.mail; done
chmod 600 {root}/cur/1.mail; chmod 2770 {root}/tmp; chown -R 33:33 {root}/new
ln -s cur/1.mail {root}/first
touch -d '2020-02-02 02:02:02' {root}/cur/2.mail
"""
    assert lab.ssh(host, script).returncode == 0


def test_the_seed_story_restore_gives_back_exactly_the_snapshot_and_keeps_newer_files_aside(blab, lab):
    make_mailbox(lab, "primary")
    blab.write_inventory({"mail": service("primary", ["/srv/mail"])})
    assert blab.chaton("backup", "mail", "--init").returncode == 0
    at_backup = listing(lab, "primary", "/srv/mail")
    # since the backup: mails read and deleted, new ones arrived, one changed, a mode changed
    change = ("rm /srv/mail/cur/3.mail /srv/mail/cur/4.mail /srv/mail/new/n1.mail && "
              "echo 'arrived later' > /srv/mail/new/late.mail && mkdir /srv/mail/cur/.Archive && "
              "echo kept > /srv/mail/cur/.Archive/a.mail && echo 'edited' > /srv/mail/cur/5.mail && "
              "chmod 644 /srv/mail/cur/1.mail")
    assert lab.ssh("primary", change).returncode == 0

    run = blab.chaton("--json", "restore", "mail", "--yes")

    assert run.returncode == 0, run.output
    assert listing(lab, "primary", "/srv/mail") == at_backup
    report = run.json()
    (aside,) = [swap["kept_aside"] for swap in report["swaps"]]
    assert aside.startswith("/srv/.mail.chaton-prev-")
    kept = lab.host_path("primary", aside)
    assert (kept / "new/late.mail").read_text() == "arrived later\n"
    assert (kept / "cur/.Archive/a.mail").exists() and (kept / "cur/5.mail").read_text() == "edited\n"
    assert report["verified"] is True and report["paths"] == [{"path": "/srv/mail", "state": "restored"}]
    steps = [(step, status) for command, _, step, status in blab.journal_steps() if command == "restore"]
    assert ("restore", "ok") in steps and ("swap", "ok") in steps
    assert not [p for p in lab.host_path("primary", "/srv").iterdir() if p.name.startswith(".chaton-restore-")]


def test_a_live_restore_without_a_terminal_needs_yes_and_changes_nothing(blab, lab):
    make_mailbox(lab, "primary")
    blab.write_inventory({"mail": service("primary", ["/srv/mail"])})
    assert blab.chaton("backup", "mail", "--init").returncode == 0
    lab.ssh("primary", "echo later > /srv/mail/new/later.mail")

    run = blab.chaton("restore", "mail")

    assert run.returncode == 2
    assert "this needs a confirmation and there is no terminal to ask on; add --yes to go ahead" in run.stderr
    assert lab.host_path("primary", "/srv/mail/new/later.mail").exists()


@pytest.mark.parametrize("binary", ["restic", str(NEW_RESTIC)], ids=["restic-0.14", "restic-0.18"])
def test_restore_of_the_primarys_service_onto_the_fallback_with_each_restic_version(blab, lab, binary):
    make_mailbox(lab, "primary")
    lab.ssh("vps", "rm -rf /srv/mail && mkdir -p /srv/mail && echo stale > /srv/mail/stale.mail")
    blab.write_inventory({"mail": service("primary", ["/srv/mail"], fallback="vps")})
    set_host_restic(blab, "vps", binary)
    assert blab.chaton("backup", "mail", "--init").returncode == 0
    at_backup = listing(lab, "primary", "/srv/mail")

    run = blab.chaton("--json", "restore", "mail", "--to", "vps")

    assert run.returncode == 0, run.output
    report = run.json()
    assert report["plan"]["restic_version"] == ("0.14.0" if binary == "restic" else "0.18.0")
    assert report["plan"]["host"] == "vps" and report["plan"]["live"] is False
    assert listing(lab, "vps", "/srv/mail") == at_backup
    kept = lab.host_path("vps", report["swaps"][0]["kept_aside"])
    assert (kept / "stale.mail").read_text() == "stale\n"


def test_databases_are_restored_onto_the_fallback_and_the_previous_ones_kept_under_another_name(blab, lab):
    lab.ssh("primary", "runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS notes' -c 'CREATE DATABASE notes'")
    psql(lab, "primary", "notes", "CREATE TABLE notes (id int PRIMARY KEY, body text); "
                                  "INSERT INTO notes VALUES (1, 'first'), (2, 'second')")
    mysql(lab, "primary", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop; "
                          "CREATE TABLE shop.items (id int PRIMARY KEY, name varchar(20)); "
                          "INSERT INTO shop.items VALUES (1, 'bread'), (2, 'wine')")
    # the fallback holds older databases of the same names
    lab.ssh("vps", "runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS notes' -c 'CREATE DATABASE notes'")
    psql(lab, "vps", "notes", "CREATE TABLE old (x int); INSERT INTO old VALUES (42)")
    mysql(lab, "vps", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop; CREATE TABLE shop.old (x int); "
                      "INSERT INTO shop.old VALUES (7)")
    lab.ssh("primary", "mkdir -p /srv/app && echo code > /srv/app/index.php")
    blab.write_inventory({"app": service("primary", ["/srv/app"], databases=[
        {"engine": "postgres", "name": "notes"}, {"engine": "mariadb", "name": "shop"}])})
    assert blab.chaton("backup", "app", "--init").returncode == 0
    psql(lab, "primary", "notes", "INSERT INTO notes VALUES (3, 'after the backup')")

    run = blab.chaton("--json", "restore", "app", "--to", "vps")

    assert run.returncode == 0, run.output
    assert psql(lab, "vps", "notes", "SELECT id, body FROM notes ORDER BY id") == "1|first\n2|second"
    assert mysql(lab, "vps", "SELECT id, name FROM shop.items ORDER BY id") == "1\tbread\n2\twine"
    kept = {db["engine"]: db["kept_aside"] for db in run.json()["databases"]}
    assert psql(lab, "vps", kept["postgres"], "SELECT x FROM old") == "42"
    assert mysql(lab, "vps", f"SELECT x FROM `{kept['mariadb']}`.old") == "7"
    assert mysql(lab, "vps", "SHOW TABLES FROM shop") == "items"  # the old table moved aside, not mixed in
    assert psql(lab, "primary", "notes", "SELECT count(*) FROM notes") == "3"  # the primary untouched


def test_target_restores_for_inspection_and_leaves_the_live_data_untouched(blab, lab):
    make_mailbox(lab, "primary")
    blab.write_inventory({"mail": service("primary", ["/srv/mail"], databases=[{"engine": "postgres", "name": "site"}])})
    assert blab.chaton("backup", "mail", "--init").returncode == 0
    at_backup = listing(lab, "primary", "/srv/mail")
    lab.ssh("primary", "rm /srv/mail/cur/7.mail && echo new > /srv/mail/new/x.mail")
    live = listing(lab, "primary", "/srv/mail")

    run = blab.chaton("restore", "mail", "--target", "/tmp/inspect")

    assert run.returncode == 0, run.output
    assert listing(lab, "primary", "/srv/mail") == live
    assert listing(lab, "primary", "/tmp/inspect/srv/mail") == at_backup
    assert "CREATE TABLE public.pages" in lab.host_path("primary", "/tmp/inspect/postgres-site.sql").read_text()
    again = blab.chaton("restore", "mail", "--target", "/tmp/inspect")
    assert again.returncode == 1 and "/tmp/inspect on primary is not empty" in again.stderr
