"""`chaton backup`, `snapshots`, `check` against the lab: restic on primary/vps, repository on backup."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.backup_lab import BackupLab, service


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def test_backup_of_a_service_on_primary_lands_in_the_sftp_repository_on_backup(blab):
    blab.empty_folder("primary", "/srv/site")
    blab.make_files("primary", "/srv/site", {"index.html": "hello", "img/logo.svg": "<svg/>"})
    blab.write_inventory({"site": service("primary", ["/srv/site"], exclude=["*.tmp"])})
    blab.make_files("primary", "/srv/site", {"scratch.tmp": "excluded"})

    run = blab.chaton("--json", "backup", "site", "--init")

    assert run.returncode == 0, run.output
    result = run.json()["results"][0]
    assert result["status"] == "ok" and result["files_new"] == 2
    (snapshot,) = blab.snapshots()
    assert snapshot["hostname"] == "primary"
    assert set(snapshot["tags"]) == {"chaton", "service:site", "tenant:lab"}
    assert snapshot["short_id"] == result["snapshot_id"][:8]
    assert blab.files_in(snapshot["id"]) >= {"/srv/site/index.html", "/srv/site/img/logo.svg"}
    assert "/srv/site/scratch.tmp" not in blab.files_in(snapshot["id"])
    assert (blab.repo_path / "config").exists()
    assert ("backup", "site@main", "backup", "ok") in blab.journal_steps()


def test_second_run_adds_nothing_and_a_deleted_file_is_absent_from_the_next_snapshot(blab):
    root = blab.make_files("primary", "/srv/site", {"a.txt": "a", "b.txt": "b"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    assert blab.chaton("backup", "site", "--init").returncode == 0

    again = blab.chaton("--json", "backup", "site").json()["results"][0]
    assert (again["files_new"], again["files_changed"]) == (0, 0)
    quiet = blab.chaton("-q", "backup", "site")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""

    (root / "b.txt").unlink()
    assert blab.chaton("backup", "site").returncode == 0
    latest = blab.snapshots()[-1]
    assert "/srv/site/b.txt" not in blab.files_in(latest["id"])
    assert "/srv/site/a.txt" in blab.files_in(latest["id"])


def test_retention_keeps_exactly_what_the_policy_says(blab):
    blab.make_files("primary", "/srv/site", {"a.txt": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"], retention={"daily": 3})})
    blab.init_repository()
    today = dt.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    for days_ago in (5, 4, 3, 2, 1):
        when = (today - dt.timedelta(days=days_ago)).strftime("%Y-%m-%d %H:%M:%S")
        blab.restic("primary", "backup", "--host", "primary", "--tag", "chaton", "--tag", "service:site",
                    "--tag", "tenant:lab", "--time", when, "/srv/site")
    dated = {s["id"]: s["time"][:10] for s in blab.snapshots()}

    run = blab.chaton("--json", "backup", "site")

    assert run.returncode == 0, run.output
    kept = blab.snapshots()
    new_id = [s["id"] for s in kept if s["id"] not in dated]
    days_kept = sorted(dated[s["id"]] for s in kept if s["id"] in dated)
    two_newest_days = sorted(dated.values())[-2:]
    assert len(kept) == 3 and len(new_id) == 1  # today's, and the newest of the two previous days
    assert days_kept == two_newest_days
    assert ("backup", "main", "forget", "ok") in blab.journal_steps()


def test_two_services_on_one_host_keep_their_own_snapshots_under_different_policies(blab):
    blab.make_files("primary", "/srv/one", {"1": "1"})
    blab.make_files("primary", "/srv/two", {"2": "2"})
    blab.write_inventory({
        "one": service("primary", ["/srv/one"], retention={"last": 1}),
        "two": service("primary", ["/srv/two"], retention={"last": 3}),
    })
    assert blab.chaton("backup", "--host", "primary", "--init").returncode == 0
    for _ in range(3):
        run = blab.chaton("backup", "--all")
        assert run.returncode == 0, run.output

    assert len(blab.snapshots("service:one")) == 1
    assert len(blab.snapshots("service:two")) == 3


def test_postgres_dump_is_one_snapshot_that_restores_the_table_rows(blab):
    blab.write_inventory({"db": {"host": "primary", "tenant": "lab", "repositories": ["main"],
                                 "databases": [{"engine": "postgres", "name": "site"}]}})

    run = blab.chaton("--json", "backup", "db", "--init")

    assert run.returncode == 0, run.output
    (snapshot,) = blab.snapshots("service:db")
    assert snapshot["paths"] == ["/postgres-site.sql"]
    assert "database:postgres:site" in snapshot["tags"]
    dump = blab.restic("primary", "dump", snapshot["id"], "/postgres-site.sql").stdout
    assert "CREATE TABLE public.pages" in dump
    assert "/about\tAbout" in dump and "/contact\tContact" in dump


def test_services_on_two_hosts_are_backed_up_in_parallel_and_recorded_in_the_journal(blab):
    blab.make_files("primary", "/srv/site", {"p": "primary"})
    blab.make_files("vps", "/srv/site", {"v": "vps"})
    blab.write_inventory({"web": service("primary", ["/srv/site"]), "mirror": service("vps", ["/srv/site"])})
    blab.init_repository()

    run = blab.chaton("--json", "backup", "--all", "--jobs", "2")

    assert run.returncode == 0, run.output
    hosts = {s["hostname"]: s for s in blab.snapshots()}
    assert set(hosts) == {"primary", "vps"}
    assert blab.files_in(hosts["vps"]["id"]) >= {"/srv/site/v"}
    steps = blab.journal_steps()
    assert ("backup", "web@main", "backup", "ok") in steps and ("backup", "mirror@main", "backup", "ok") in steps


def test_snapshots_and_check_report_fresh_backups_and_free_space(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    assert blab.chaton("backup", "site", "--init").returncode == 0

    listed = blab.chaton("--json", "snapshots", "site")
    checked = blab.chaton("--json", "check")

    assert listed.returncode == 0, listed.output
    (repository,) = listed.json()
    assert [s["service"] for s in repository["snapshots"]] == ["site"]
    assert checked.returncode == 0, checked.output
    (report,) = checked.json()["repositories"]
    assert report["integrity"] == "ok" and report["free_percent"] > 0
    assert report["services"][0]["stale"] is False


def test_check_fails_when_a_service_has_no_recent_snapshot(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"]), "never": service("primary", ["/srv/site"])})
    assert blab.chaton("backup", "site", "--init").returncode == 0

    checked = blab.chaton("check")

    assert checked.returncode == 1
    assert "never: no snapshot" in checked.stderr


def test_a_run_pings_healthchecks_and_writes_the_prometheus_textfile(blab, tmp_path):
    import http.server
    import threading

    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    blab.env["CHATON_TEST_HC"] = f"http://127.0.0.1:{server.server_address[1]}/ping/site-run"
    blab.make_files("primary", "/srv/site", {"a": "a"})
    path = blab.write_inventory({"site": service("primary", ["/srv/site"])})
    text = path.read_text() + "notify:\n  healthchecks: [hc]\n"
    path.write_text(text.replace("secrets:\n", "secrets:\n  hc:\n    env: CHATON_TEST_HC\n", 1))
    metrics = tmp_path / "chaton.prom"
    try:
        run = blab.chaton("backup", "site", "--init", "--metrics-file", str(metrics))
    finally:
        server.shutdown()

    assert run.returncode == 0, run.output
    assert seen[0] == "/ping/site-run/start" and seen[-1] == "/ping/site-run"
    textfile = metrics.read_text()
    assert 'chaton_backup_last_success_timestamp_seconds{service="site",host="primary",repository="main"}' in textfile
