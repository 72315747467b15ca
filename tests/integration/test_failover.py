"""`chaton failover` and `chaton failback` end to end, through the installed chaton, on the lab:
www (nginx) and the mail relay (postfix) on primary, vps as the fallback, DNS in the lab's knot."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.backup_lab import wait_for
from tests.integration.failover_lab import FailoverLab, save_sites, tidy_lab
from tests.integration.restore_helpers import mysql, psql


@pytest.fixture
def flab(lab, tmp_path):
    helper = FailoverLab(lab, tmp_path)
    original = {name: helper.record(name) for name in ("www", "mail")}
    sites = save_sites(lab, tmp_path / "sites")
    yield helper
    tidy_lab(lab, original, sites)


@pytest.fixture
def collective(flab, lab):
    """www and mail deployed on primary, a message queued by the relay, backed up once."""
    flab.write_collective()
    flab.deploy_on_primary("www", "mail")
    lab.ssh("primary", f"printf 'Subject: held\\n\\nfor a member\\n' | sendmail -f a@{lab.zone} member@{lab.zone}",
            check=True)
    assert wait_for(lambda: f"member@{lab.zone}" in lab.ssh("primary", "postqueue -p").stdout, timeout=30)
    backup = flab.chaton("backup", "--all", "--init")
    assert backup.returncode == 0, backup.output
    return flab


def test_failover_with_the_primary_dead_brings_site_and_relay_back_on_vps_under_their_names(collective, lab):
    flab = collective
    vps = lab.address("vps")
    lab.raw.stop_host("primary")

    run = flab.failover("--json")

    assert run.returncode == 0, run.output
    report = run.json()
    assert [s["result"] for s in report["services"]] == ["ok", "ok"]  # mail (critical) first, then www
    assert [s["service"] for s in report["services"]] == ["mail", "www"]
    assert report["rto_seconds"] > 0
    assert (report["runbook"]["run"], report["runbook"]["status"]) == (report["run_id"], "ok")
    assert {s["key"] for s in report["runbook"]["steps"]} >= {"dns:www", "dns:mail", "verify:www", "verify:mail"}
    assert flab.record("www") == ([vps], 60) and flab.record("mail") == ([vps], 60)
    assert "members pages" in flab.http(vps)
    assert flab.smtp_banner(vps).startswith("220 mail.lab.test")
    assert f"member@{lab.zone}" in lab.ssh("vps", "postqueue -p", check=True).stdout  # the queue came along
    assert flab.placement("www") == flab.placement("mail") == "vps"
    run_id, status, code = flab.last_run("failover")
    assert (status, code) == ("ok", 0)
    steps = flab.keyed_steps(run_id)
    assert steps["final-backup:www@primary"][0] == "noop"  # the dead primary was never touched
    for key in ("restore:www@vps", "deploy:www@vps", "check-local:www@vps", "place:www", "dns:www", "verify:www",
                "restore:mail@vps", "dns:mail", "verify:mail"):
        assert steps[key][0] in ("ok", "changed"), (key, steps[key])

    # during the outage the nightly backup runs where the services run now
    backup = flab.chaton("--json", "backup", "--all")
    assert backup.returncode == 0, backup.output
    assert {r["host"] for r in backup.json()["results"]} == {"vps"}
    assert flab.snapshots("service:www")[-1]["hostname"] == "vps"
    inventory = flab.chaton("--json", "inventory").json()
    www = next(s for s in inventory["services"] if s["name"] == "www")
    assert (www["host"], www["home"]) == ("vps", "primary")


def test_failback_brings_home_what_was_written_during_the_outage_and_the_records_as_they_were(collective, lab):
    flab = collective
    before = flab.record("www")
    lab.raw.stop_host("primary")
    assert flab.failover().returncode == 0
    lab.ssh("vps", "echo 'written during the outage' > /srv/www/outage.html", check=True)

    still_down = flab.chaton("failback", "--yes")
    assert still_down.returncode == 4, still_down.output
    assert "home host primary does not answer" in still_down.stderr

    lab.raw.start_host("primary")
    run = flab.chaton("failback", "--yes")

    assert run.returncode == 0, run.output
    assert lab.host_path("primary", "/srv/www/outage.html").read_text() == "written during the outage\n"
    assert flab.record("www") == before
    assert "written during the outage" in flab.http(lab.address("primary"), path="/outage.html")
    assert flab.placement("www") == "primary"
    assert lab.ssh("vps", "postfix status").returncode != 0  # the relay no longer runs on vps


def test_a_failover_killed_between_two_services_resumes_without_redoing_anything(collective, lab):
    flab = collective
    lab.raw.stop_host("primary")
    process = flab.popen_chaton("failover", "--to", "vps", "--yes")
    # mail goes first (critical): kill the run once its DNS is switched, before www is restored
    placed = wait_for(lambda: process.poll() is not None or (flab.journal.exists() and any(
        key == "place:mail" and status in ("ok", "changed") for key, (status, _) in _steps_of_last(flab).items())),
        timeout=240)
    if process.poll() is not None or not placed:  # it ended (or hangs) before mail was placed: say how
        process.kill()
        out, err = process.communicate(timeout=30)
        pytest.fail(f"the failover ended (exit {process.returncode}) or hung before placing mail:\n{out}\n{err}\n"
                    f"steps: {_steps_of_last(flab)}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    refused = flab.failover()
    assert refused.returncode == 2 and "did not finish" in refused.stderr and "--resume" in refused.stderr

    resumed = flab.chaton("failover", "--resume", "--yes")

    assert resumed.returncode == 0, resumed.output
    run_id, status, _ = flab.last_run("failover")
    assert status == "ok"
    steps = flab.keyed_steps(run_id)
    assert steps["restore:mail@vps"][1] == 1 and steps["place:mail"][1] == 1  # done once, not again
    assert steps["restore:www@vps"][0] == "changed" and steps["verify:www"][0] in ("ok", "changed")
    assert len(flab.journal_rows("SELECT 1 FROM steps WHERE run_id = ? AND step_key = 'restore:mail@vps'", run_id)) == 1


def _steps_of_last(flab: FailoverLab) -> dict[str, tuple[str, int]]:
    try:
        run_id = flab.last_run("failover")[0]
    except (IndexError, Exception):  # noqa: BLE001 - the journal may not have its first run yet
        return {}
    return flab.keyed_steps(run_id)


def test_a_dns_server_down_at_the_switch_stops_before_success_and_resume_finishes(collective, lab):
    flab = collective
    vps = lab.address("vps")
    lab.raw.stop_host("primary")
    process = flab.popen_chaton("failover", "--to", "vps", "--yes")
    assert wait_for(lambda: "restore:mail@vps" in _steps_of_last(flab), timeout=120)
    lab.raw.stop_host("dns")  # the preflight passed; the server vanishes before the switch
    out, err = process.communicate(timeout=600)
    lab.raw.start_host("dns")

    assert process.returncode == 1, out + err
    assert "runs on vps but DNS was not switched" in err and "--resume" in err
    assert flab.placement("www") == "vps"  # it does run there
    assert flab.record("www")[0] != [vps]

    resumed = flab.chaton("failover", "--resume", "--yes")

    assert resumed.returncode == 0, resumed.output
    assert flab.record("www") == ([vps], 60) and flab.record("mail") == ([vps], 60)


def test_a_planned_migration_takes_a_final_backup_with_what_was_written_a_second_before(collective, lab):
    flab = collective
    lab.ssh("primary", "echo 'last minute' > /srv/www/last.html", check=True)
    time.sleep(1)

    run = flab.failover("www")

    assert run.returncode == 0, run.output
    assert lab.host_path("vps", "/srv/www/last.html").read_text() == "last minute\n"
    run_id, _, _ = flab.last_run("failover")
    assert flab.keyed_steps(run_id)["final-backup:www@primary"][0] == "changed"


def test_a_rehearsal_leaves_vps_as_it_was_and_records_an_rto(collective, lab):
    flab = collective
    before = lab.ssh("vps", "find /srv/www /etc/nginx/conf.d /etc/postfix -printf '%p %s %m\\n' | sort; "
                            "postfix status >/dev/null 2>&1 && echo postfix-running; true", check=True).stdout
    records = {name: flab.record(name) for name in ("www", "mail")}

    run = flab.chaton("failover", "--to", "vps", "--rehearse", "--yes", "--json")

    assert run.returncode == 0, run.output
    assert run.json()["rto_seconds"] > 0
    after = lab.ssh("vps", "find /srv/www /etc/nginx/conf.d /etc/postfix -printf '%p %s %m\\n' | sort; "
                           "postfix status >/dev/null 2>&1 && echo postfix-running; true", check=True).stdout
    assert after == before
    assert {name: flab.record(name) for name in ("www", "mail")} == records
    assert flab.placement("www") is None
    run_id, status, _ = flab.last_run("rehearsal")
    assert status == "ok"
    assert flab.journal_rows("SELECT status FROM steps WHERE run_id = ? AND step_key = 'rto'", run_id) == [("ok",)]


def test_a_rehearsal_puts_the_fallbacks_own_databases_back(flab, lab):
    """www with a PostgreSQL and a MariaDB database: the rehearsal loads them on vps, whose own older
    databases of the same names are kept aside, then puts those back and leaves no copy behind."""
    lab.ssh("primary", "runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS notes' -c 'CREATE DATABASE notes'")
    psql(lab, "primary", "notes", "CREATE TABLE notes (id int); INSERT INTO notes VALUES (1)")
    mysql(lab, "primary", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop; CREATE TABLE shop.items (id int); "
                          "INSERT INTO shop.items VALUES (1)")
    lab.ssh("vps", "runuser -u postgres -- psql -q -c 'DROP DATABASE IF EXISTS notes' -c 'CREATE DATABASE notes'")
    psql(lab, "vps", "notes", "CREATE TABLE old (x int); INSERT INTO old VALUES (42)")
    mysql(lab, "vps", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop; CREATE TABLE shop.old (x int); "
                      "INSERT INTO shop.old VALUES (7)")
    postgres_before = psql(lab, "vps", "postgres", "SELECT datname FROM pg_database ORDER BY 1")
    mariadb_before = mysql(lab, "vps", "SHOW DATABASES")
    flab.write_collective(services=("www",), changes={"www": {"databases": [
        {"engine": "postgres", "name": "notes"}, {"engine": "mariadb", "name": "shop"}]}})
    flab.deploy_on_primary("www")
    assert flab.chaton("backup", "www", "--init").returncode == 0

    run = flab.chaton("failover", "--to", "vps", "--rehearse", "--yes", "--json")

    assert run.returncode == 0, run.output
    assert psql(lab, "vps", "notes", "SELECT x FROM old") == "42"
    assert mysql(lab, "vps", "SHOW TABLES FROM shop") == "old"
    assert mysql(lab, "vps", "SELECT x FROM shop.old") == "7"
    assert psql(lab, "vps", "postgres", "SELECT datname FROM pg_database ORDER BY 1") == postgres_before
    assert mysql(lab, "vps", "SHOW DATABASES") == mariadb_before
    run_id, status, _ = flab.last_run("rehearsal")
    assert status == "ok"
    assert flab.keyed_steps(run_id)["undo:www@vps"][0] in ("ok", "changed")


# ---------------------------------------------------------------------------------------------
# Bad input and faults: one clear message, the documented exit code, nothing changed
# ---------------------------------------------------------------------------------------------


def test_an_unreachable_fallback_fails_the_preflight_and_changes_nothing(collective, lab):
    flab = collective
    lab.raw.stop_host("vps")
    records = flab.record("www")

    run = flab.failover()

    assert run.returncode == 4, run.output
    assert "the fallback vps cannot be reached" in run.stderr and "nothing was changed" in run.stderr
    assert flab.record("www") == records and flab.placement("www") is None
    assert flab.journal_rows("SELECT count(*) FROM runs WHERE command = 'failover'") == [(0,)]


def test_a_fallback_too_small_is_refused_with_the_numbers(flab, lab):
    flab.write_collective(services=("www",), hosts={"vps": {"capacity": {"disk_gb": 0.0001, "memory_gb": 2}}})
    flab.deploy_on_primary("www")
    lab.ssh("primary", "head -c 1048576 /dev/urandom > /srv/www/big.bin", check=True)
    assert flab.chaton("backup", "--all", "--init").returncode == 0

    run = flab.failover()

    assert run.returncode == 1, run.output
    assert "vps cannot take 1.0 MiB of data: its inventory capacity is 104.9 KiB" in run.stderr
    assert "nothing was changed" in run.stderr


def test_a_service_without_snapshot_is_refused_while_its_host_is_dead(flab, lab):
    flab.write_collective(services=("www",))
    flab.restic("primary", "init")
    lab.raw.stop_host("primary")

    run = flab.failover()

    assert run.returncode == 1, run.output
    assert "service www has no snapshot to restore" in run.stderr


def test_a_wrong_tsig_key_changes_nothing(collective, lab, tmp_path):
    flab = collective
    wrong = tmp_path / "wrong.key"
    wrong.write_text("d3JvbmcgYnV0IHZhbGlkIGJhc2U2NCBzZWNyZXQgISE=\n")
    wrong.chmod(0o600)
    data = flab.inventory.read_text().replace(str(lab.tsig_key_file), str(wrong))
    flab.inventory.write_text(data)
    records = flab.record("www")

    run = flab.failover()

    assert run.returncode == 1, run.output
    assert "TSIG" in run.stderr and "nothing was changed" in run.stderr
    assert flab.record("www") == records and flab.placement("www") is None


def test_the_repository_unreachable_from_the_fallback_fails_the_preflight(collective, lab):
    flab = collective
    lab.raw.stop_host("backup")

    run = flab.failover(timeout=300)

    assert run.returncode == 1, run.output
    assert "repository main cannot be" in run.stderr and "from vps" in run.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "nowhere"), "unknown host: nowhere"),
    (("nosuch",), "unknown service: nosuch"),
])
def test_bad_arguments_are_usage_errors(flab, args, message):
    flab.write_collective()
    run = flab.failover(*args)
    assert run.returncode == 2 and message in run.stderr


def test_a_service_without_fallback_is_named(flab):
    flab.write_collective(changes={"mail": {"fallback": None}})
    run = flab.failover("mail")
    assert run.returncode == 2 and "not failed over to vps: mail (no fallback)" in run.stderr


def test_failover_without_a_terminal_and_without_yes_is_refused_and_changes_nothing(collective):
    flab = collective
    records = flab.record("www")

    run = flab.chaton("failover", "--to", "vps")

    assert run.returncode == 2, run.output
    assert "add --yes" in run.stderr
    assert flab.record("www") == records and flab.placement("www") is None
