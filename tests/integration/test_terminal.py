"""The README's tour, run under a pseudo-terminal as a person runs it (CI has no terminal otherwise).

The progress display and every other terminal-only path run here. Each command must end with its
documented exit code and print no traceback, no `Exception ignored`, no `lost sys.stderr`.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.backup_lab import CHATON, BackupLab, service
from tests.terminal import TerminalRun, run_in_terminal


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def chaton_in_terminal(blab: BackupLab, *args: str, columns: int = 80) -> TerminalRun:
    run = run_in_terminal([str(CHATON), "-i", str(blab.inventory), *args], env=blab.env, columns=columns)
    assert run.crash_markers() == [], run.text
    assert blab.lab.restic_password not in run.raw
    return run


def test_backup_on_a_terminal_shows_each_service_stage_then_the_summary(blab):
    blab.make_files("primary", "/srv/site", {"index.html": "hello"})
    blab.make_files("vps", "/srv/notes", {"a.txt": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"]), "notes": service("vps", ["/srv/notes"])})

    run = chaton_in_terminal(blab, "backup", "--all", "--init")

    assert run.returncode == 0, run.text
    # the progress display drew each service with its stage, then gave way to the summary table
    assert "site on primary → main: data" in run.text
    assert "notes on vps → main" in run.text
    assert "Backups" in run.text and run.text.rstrip().splitlines()[-1].split()[-1] == "ok"
    assert len(blab.snapshots()) == 2


@pytest.mark.parametrize("flag", ["-q", "--json"])
def test_backup_with_quiet_or_json_on_a_terminal_prints_no_progress(blab, flag):
    blab.make_files("primary", "/srv/site", {"index.html": "hello"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})

    run = chaton_in_terminal(blab, flag, "backup", "site", "--init")

    assert run.returncode == 0, run.text
    assert "→ main:" not in run.text
    if flag == "-q":
        assert run.text.strip() == ""
    else:
        assert json.loads(run.text)["results"][0]["status"] == "ok"


def test_every_command_of_the_tour_runs_on_a_terminal(blab, lab):
    blab.make_files("primary", "/srv/www", {"index.html": "<h1>Chaton Lab</h1>"})
    blab.write_inventory({"www": service("primary", ["/srv/www"], playbook="static-site",
                                         vars={"server_name": f"www.{lab.zone}"})})
    tour: list[tuple[tuple[str, ...], int]] = [
        (("inventory",), 0),
        (("inventory", "check"), 0),
        (("inventory", "show", "primary"), 0),
        (("ping",), 0),
        (("backup", "--all", "--init"), 0),
        (("backup", "--all", "--dry-run"), 0),
        (("snapshots",), 0),
        (("check",), 0),
        (("check", "--dry-run"), 0),
        (("check", "--no-integrity", "-q"), 0),
        (("repo", "unlock"), 0),
        (("repo", "unlock", "--remove-all", "--dry-run"), 0),
        (("repo", "unlock", "--remove-all", "--yes"), 0),
        (("deploy", "www", "--to", "vps", "--dry-run"), 0),
        (("deploy", "www", "--to", "vps"), 0),
        (("history",), 0),
        (("history", "1"), 0),
        (("status",), 1),  # www has never been drilled: a readiness warning
        (("status", "--html", str(blab.tmp / "status.html")), 1),
        (("restore", "www", "--dry-run"), 0),
        (("restore", "www", "--to", "vps"), 0),
        (("restore", "www", "--yes"), 0),
        (("restore", "www", "--target", "/tmp/www-inspect"), 0),
        (("drill", "www"), 0),
        (("drill", "--all", "--on", "primary"), 0),
        (("prune", "--dry-run"), 0),
        (("prune", "--yes"), 0),
        (("tenant", "list"), 0),
        (("tenant", "export", "lab", "--to", str(blab.tmp / "lab.tar.gz")), 0),
        (("tenant", "remove", "lab", "--dry-run"), 2),  # inside the limit: refused without --force
        (("tenant", "remove", "lab", "--force", "--dry-run"), 0),
        (("runbook", "--format", "html", "--to", str(blab.tmp / "runbook.html")), 0),
        (("schedule", "install", "--kind", "cron", "--root", str(blab.tmp / "root"), "--dry-run"), 0),
        (("schedule", "install", "--kind", "cron", "--root", str(blab.tmp / "root"), "--yes"), 0),
        (("schedule", "show", "--kind", "cron", "--root", str(blab.tmp / "root")), 0),
        (("--version",), 0),
        (("completion", "bash"), 0),
        (("backup", "nosuch"), 2),
        (("inventory", "check", "-i"), 2),
        (("check", "--read-data-subset", "bogus"), 2),
    ]
    for args, expected in tour:
        run = chaton_in_terminal(blab, *args)
        assert run.returncode == expected, f"chaton {' '.join(args)} exited {run.returncode}:\n{run.text}"
    assert "<title>Chaton Lab: service status</title>" in (blab.tmp / "status.html").read_text()
    runbook = (blab.tmp / "runbook.html").read_text()
    assert "chaton -i" in runbook and "restore www" in runbook and "last drill" in runbook
    assert blab.lab.restic_password not in runbook
    assert (blab.tmp / "root" / "etc" / "cron.d" / "chaton").exists()


def test_the_vm_commands_of_the_tour_run_on_a_terminal_against_a_fake_cluster(fakepve, fakepve_cafile, tmp_path):
    """`chaton vm …` as the README's tour shows it, against the `make fakepve` cluster (started here)."""
    from tests.pve.cluster import prepare_example

    inventory = prepare_example(fakepve, tmp_path, fakepve_cafile)
    env = {"CHATON_JOURNAL": str(tmp_path / "journal.sqlite3")}

    def vm(*args: str, typed: str | None = None) -> TerminalRun:
        run = run_in_terminal([str(CHATON), "-i", str(inventory), "vm", *args], env=env, typed=typed)
        assert run.crash_markers() == [], run.text
        assert (tmp_path / "pve-token").read_text().strip() not in run.raw
        return run

    tour: list[tuple[tuple[str, ...], int]] = [
        (("list",), 0),
        (("onboot",), 1),  # cloud would not start with its node
        (("snapshots", "web"), 0),
        (("snapshot", "web", "--dry-run"), 0),
        (("snapshot", "web", "--name", "before-work"), 0),
        (("backups",), 1),  # cloud's newest archive is older than 96 h, old-test has none
        (("vzdump", "--all"), 0),
        (("backups",), 0),
        (("snapshot", "--prune", "web", "--keep", "1", "--yes"), 0),
        (("rollback", "web", "--name", "nosuch"), 2),
    ]
    for args, expected in tour:
        run = vm(*args)
        assert run.returncode == expected, f"chaton vm {' '.join(args)} exited {run.returncode}:\n{run.text}"

    declined = vm("rollback", "web", "--name", "before-work", typed="n\n")
    assert declined.returncode == 1 and "Roll web back to before-work?" in declined.text
    assert "nothing changed" in declined.text

    fixed = vm("onboot", "--fix", typed="y\n")
    assert fixed.returncode == 0, fixed.text
    assert "PUT /nodes/hutte1/qemu/102/config onboot=1" in fixed.text
    assert str(fakepve.vm(102).config["onboot"]) == "1"
    assert vm("onboot").returncode == 0


def test_remove_all_asks_on_a_terminal_and_a_no_changes_nothing(blab):
    blab.make_files("primary", "/srv/site", {"index.html": "hello"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()

    declined = run_in_terminal([str(CHATON), "-i", str(blab.inventory), "repo", "unlock", "--remove-all"],
                               env=blab.env, columns=80, typed="n\n")
    accepted = run_in_terminal([str(CHATON), "-i", str(blab.inventory), "repo", "unlock", "--remove-all"],
                               env=blab.env, columns=80, typed="y\n")

    assert declined.returncode == 1 and "not confirmed: nothing was done" in declined.text, declined.text
    assert accepted.returncode == 0 and "main: 0 lock(s) removed, 0 remaining (via primary)" in accepted.text
    assert declined.crash_markers() == accepted.crash_markers() == []


def test_restore_on_a_terminal_asks_before_replacing_live_data_and_shows_the_plan(blab):
    blab.make_files("primary", "/srv/site", {"index.html": "hello"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    assert chaton_in_terminal(blab, "backup", "site", "--init").returncode == 0

    run = run_in_terminal([str(CHATON), "-i", str(blab.inventory), "restore", "site"], env=blab.env, columns=80,
                          typed="n\n")

    assert run.crash_markers() == [], run.text
    assert "kept aside: /srv/.site.chaton-prev-" in run.text
    assert "Replace the live data of site on primary (the previous content is kept aside)? [y/N]" in run.text
    assert run.returncode == 1 and "not confirmed: nothing was done" in run.text


def test_failover_rehearsal_and_failback_on_a_terminal_show_progress_plan_and_report(lab, tmp_path):
    from tests.integration.failover_lab import FailoverLab, save_sites, tidy_lab

    flab = FailoverLab(lab, tmp_path)
    original = {name: flab.record(name) for name in ("www", "mail")}
    sites = save_sites(lab, tmp_path / "sites")
    try:
        flab.write_collective(services=("www",))
        flab.deploy_on_primary("www")
        assert flab.chaton("backup", "--all", "--init").returncode == 0

        def chaton(*args: str, typed: str | None = None, timeout: float = 300) -> TerminalRun:
            run = run_in_terminal([str(CHATON), "-i", str(flab.inventory), *args], env=flab.env, columns=80,
                                  typed=typed, timeout=timeout)
            assert run.crash_markers() == [], run.text
            assert lab.restic_password not in run.raw and lab.tsig_secret not in run.raw
            return run

        plan = chaton("failover", "--to", "vps", "--dry-run")
        assert plan.returncode == 0 and "Failover to vps: 1 service" in plan.text and "restore on vps" in plan.text
        declined = chaton("failover", "--to", "vps", typed="n\n")
        assert declined.returncode == 1 and "switch their DNS records? [y/N]" in declined.text
        assert flab.placement("www") is None

        rehearsal = chaton("failover", "--to", "vps", "--rehearse", "--yes")
        assert rehearsal.returncode == 0, rehearsal.text
        assert "✓ www: put vps back as it was" in rehearsal.text and "RTO" in rehearsal.text

        lab.raw.stop_host("primary")
        moved = chaton("failover", "--to", "vps", "--yes")
        assert moved.returncode == 0, moved.text
        assert "✓ www: restore on vps" in moved.text and "✓ www: DNS records to vps" in moved.text
        assert "failover run" in moved.text and "RTO" in moved.text
        early = chaton("failback", "--yes")
        assert early.returncode == 4 and "home host primary does not answer" in early.text

        lab.raw.start_host("primary")
        home = chaton("failback", "--yes")
        assert home.returncode == 0, home.text
        assert "✓ www: DNS records back as before the failover" in home.text
        assert chaton("history").returncode == 0
    finally:
        tidy_lab(lab, original, sites)
