"""`chaton schedule install|show|remove` into a temporary root: units checked by systemd's own tools where
they are installed (systemd-analyze verify, systemctl --root enable), else read back; drift detected;
nothing but chaton's own files touched. Never the machine's /etc."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from chaton_ops.adapters.atomic import LocalFiles
from chaton_ops.adapters.journal import Journal
from chaton_ops.cli.main import main
from chaton_ops.core.schedule import MARKER

INVENTORY = """\
version: 1
collective: {name: Ti Nuage, domain: t.example, contact: admins@t.example}
secrets: {pw: {env: PW}}
repositories: {main: {url: /srv/restic/main, password: pw}}
hosts: {web: {address: 192.0.2.10}}
schedule:
  backup: "*-*-* 02:30"
  check: {on: "Sun *-*-* 05:00", randomized_delay: 2h}
  drill: null
  status: "*:0/5"
  prune: "Sat *-*-* 04:00"
  runbook: {on: daily, to: /srv/www/runbook.html}
"""
SYSTEMD = shutil.which("systemd-analyze") is not None and shutil.which("systemctl") is not None


@pytest.fixture
def world(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    inventory = tmp_path / "collective" / "inventory.yml"
    inventory.parent.mkdir()
    inventory.write_text(INVENTORY)
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATON_SCHEDULE_ROOT", str(root))
    return root, inventory


def chaton(inventory: Path, *args: str) -> int:
    return main(["-i", str(inventory), *args])


def units(root: Path) -> dict[str, str]:
    folder = root / "etc/systemd/system"
    return {p.name: p.read_text() for p in sorted(folder.glob("chaton-*")) if p.is_file()}


@pytest.mark.skipif(not SYSTEMD, reason="systemd's tools are not installed")
def test_install_writes_verified_units_enables_the_timers_and_show_finds_them_in_place(world, capsys):
    root, inventory = world

    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "systemd") == 0

    written = units(root)
    assert sorted(written) == [f"chaton-{job}.{kind}" for job in ("backup", "check", "prune", "runbook", "status")
                               for kind in ("service", "timer")]
    folder = root / "etc/systemd/system"
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, sorted(folder.glob("chaton-*")))],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    for job in ("backup", "check", "prune", "runbook", "status"):
        assert (folder / "timers.target.wants" / f"chaton-{job}.timer").is_symlink()
    timer, service = written["chaton-check.timer"], written["chaton-check.service"]
    assert "OnCalendar=Sun *-*-* 05:00" in timer and "RandomizedDelaySec=2h" in timer and "Persistent=true" in timer
    assert "RandomizedDelaySec=30m" in written["chaton-backup.timer"]
    exec_start = shlex.split(re.search(r"^ExecStart=(.*)$", service, re.MULTILINE).group(1))
    assert exec_start[:5] == ["/usr/bin/flock", "--nonblock", "--conflict-exit-code", "75", "/run/lock/chaton-check.lock"]
    assert exec_start[6:] == ["-q", "-i", str(inventory.resolve()), "check", "--lock-wait", "14400"]
    # the admin's journal and state folder: scheduled runs take the same repository locks as runs by hand
    assert f"Environment=CHATON_STATE_DIR={inventory.parent.parent / 'state'}" in service
    assert f"Environment=CHATON_JOURNAL={inventory.parent.parent / 'journal.sqlite3'}" in service
    assert shlex.split(re.search(r"^ExecStart=(.*)$", written["chaton-runbook.service"], re.MULTILINE).group(1))[-4:] \
        == ["--format", "html", "--to", "/srv/www/runbook.html"]
    assert "prune" in written["chaton-prune.service"] and "--yes" in written["chaton-prune.service"]
    capsys.readouterr()

    assert chaton(inventory, "--json", "schedule", "show", "--kind", "systemd") == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["in_place"] and {j["job"]: j["state"] for j in shown["jobs"]} == dict.fromkeys(
        ["backup", "check", "status", "prune", "runbook"], "in place")


@pytest.mark.skipif(not SYSTEMD, reason="systemd's tools are not installed")
def test_show_detects_each_kind_of_drift_and_install_puts_it_right_journaled(world, capsys):
    root, inventory = world
    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "systemd") == 0
    folder = root / "etc/systemd/system"
    (folder / "chaton-backup.timer").write_text(units(root)["chaton-backup.timer"].replace("02:30", "03:30"))
    (folder / "timers.target.wants" / "chaton-status.timer").unlink()
    inventory.write_text(INVENTORY.replace('  prune: "Sat *-*-* 04:00"\n', "  prune: null\n")
                         .replace("drill: null", 'drill: "*-*-01 06:00"'))
    capsys.readouterr()

    assert chaton(inventory, "--json", "schedule", "show", "--kind", "systemd") == 1

    import json

    states = {j["job"]: (j["state"], j["installed"]) for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert states["backup"] == ("differs", "*-*-* 03:30")
    assert states["status"] == ("not enabled", "*:0/5")
    assert states["drill"] == ("not installed", None)
    assert states["prune"] == ("not in the inventory", "Sat *-*-* 04:00")
    assert states["check"][0] == states["runbook"][0] == "in place"

    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "systemd") == 0
    assert chaton(inventory, "schedule", "show", "--kind", "systemd") == 0
    assert "chaton-prune.timer" not in units(root) and "chaton-drill.timer" in units(root)
    assert not (folder / "timers.target.wants" / "chaton-prune.timer").exists()
    with Journal(Path(__import__("os").environ["CHATON_JOURNAL"])) as journal:
        second = journal.runs(command="schedule install")[0]
        steps = journal.keyed_steps(second.id)
    assert steps["write:chaton-backup.timer"].status == "changed"
    assert steps["write:chaton-check.timer"].status == "noop"
    assert steps["remove:chaton-prune.timer"].status == "changed"


def test_a_second_install_changes_nothing_and_a_dry_run_writes_nothing(world, capsys):
    root, inventory = world
    assert chaton(inventory, "schedule", "install", "--kind", "cron", "--dry-run") == 0
    assert not (root / "etc").exists()
    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 0
    capsys.readouterr()

    assert chaton(inventory, "--yes", "--json", "schedule", "install", "--kind", "cron") == 0

    import json

    again = json.loads(capsys.readouterr().out)
    assert [s["status"] for s in again["steps"]] == ["noop"]
    assert (again["runbook"]["command"], again["runbook"]["status"]) == ("schedule install", "ok")
    assert [(s["status"], bool(s["message"])) for s in again["runbook"]["steps"]] == [("noop", True)]


def test_cron_file_runs_each_job_as_root_at_its_time_delayed_and_locked(world):
    root, inventory = world

    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 0

    text = (root / "etc/cron.d/chaton").read_text()
    assert text.startswith(MARKER)
    lines = {line.split(" root ")[0]: line.split(" root ", 1)[1] for line in text.splitlines()
             if line and not line.startswith("#") and " root " in line}
    assert set(lines) == {"30 2 * * *", "0 5 * * 0", "*/5 * * * *", "0 4 * * 6", "0 0 * * *"}
    backup = lines["30 2 * * *"]
    assert backup.startswith("sleep $(shuf -i 0-1800 -n 1); /usr/bin/flock --nonblock --conflict-exit-code 75 "
                             "/run/lock/chaton-backup.lock ")
    assert backup.endswith(f"-q -i {inventory.resolve()} backup --all --lock-wait 14400")
    assert f"CHATON_STATE_DIR={root.parent / 'state'}" in text.splitlines()
    assert lines["0 5 * * 0"].startswith("sleep $(shuf -i 0-7200 -n 1);")
    # cron hands the line to sh: it must read back into the very argv chaton planned
    words = subprocess.run(["sh", "-c", 'set -- ' + lines["0 4 * * 6"].split("; ", 1)[1] + '; printf "%s\\n" "$@"'],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert words[-5:] == [str(inventory.resolve()), "--yes", "prune", "--lock-wait", "14400"]


def test_a_job_cron_cannot_express_is_refused_before_anything_is_written(world, capsys):
    root, inventory = world
    inventory.write_text(INVENTORY.replace('"*-*-* 02:30"', '"*-*-* 02:30:15"'))

    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 2

    assert "schedule.backup: '*-*-* 02:30:15': cron runs at whole minutes" in capsys.readouterr().err
    assert not (root / "etc").exists()


def test_a_file_chaton_did_not_write_is_never_replaced_nor_removed(world, capsys):
    root, inventory = world
    (root / "etc/cron.d").mkdir(parents=True)
    (root / "etc/cron.d/chaton").write_text("# the admin's own\n0 1 * * * root /usr/local/bin/backup\n")

    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 1
    assert chaton(inventory, "--yes", "schedule", "remove", "--kind", "cron") == 0

    assert (root / "etc/cron.d/chaton").read_text().startswith("# the admin's own")
    assert "was not written by chaton: move it aside first" in capsys.readouterr().err


def test_remove_asks_first_then_removes_chatons_files_only(world, capsys):
    root, inventory = world
    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 0
    (root / "etc/cron.d/other").write_text("0 1 * * * root true\n")

    assert chaton(inventory, "schedule", "remove", "--kind", "cron") == 2  # no terminal, no --yes
    assert (root / "etc/cron.d/chaton").exists()
    assert chaton(inventory, "--yes", "schedule", "remove", "--kind", "cron") == 0

    assert sorted(p.name for p in (root / "etc/cron.d").iterdir()) == ["other"]
    assert chaton(inventory, "schedule", "show", "--kind", "cron") == 1  # nothing installed: every job missing


def test_a_relative_root_is_a_usage_error(world, monkeypatch):
    _root, inventory = world
    monkeypatch.delenv("CHATON_SCHEDULE_ROOT")

    assert chaton(inventory, "schedule", "show", "--root", "relative/dir") == 2


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock is not installed")
def test_a_run_due_while_the_last_one_still_goes_ends_at_once_and_never_overlaps(tmp_path):
    from chaton_ops.core.schedule import LOCK_CONFLICT_EXIT, Installation, Job, locked_argv

    runs = tmp_path / "runs"
    fake = tmp_path / "chaton"  # stands for chaton: notes that it started, takes a while
    fake.write_text(f"#!/bin/sh\necho started >> {runs}\nsleep 3\n")
    fake.chmod(0o755)
    where = Installation(inventory=str(tmp_path / "inventory.yml"), chaton=str(fake), journal="j", state_dir="s",
                         lock_dir=str(tmp_path))
    argv = locked_argv("backup", Job(on="daily"), where)
    argv[argv.index("/usr/bin/flock")] = shutil.which("flock") or "flock"

    first = subprocess.Popen(argv)
    for _ in range(100):  # until the first run holds the lock
        if runs.exists():
            break
        __import__("time").sleep(0.05)
    second = subprocess.run(argv, check=False, timeout=10)

    assert second.returncode == LOCK_CONFLICT_EXIT
    assert first.wait(timeout=10) == 0
    assert runs.read_text() == "started\n"
    assert subprocess.run(argv, check=False, timeout=10).returncode == 0  # the lock went with the first run


def test_every_job_is_a_command_line_chaton_accepts(world, capsys):
    from chaton_ops.core.schedule import JOBS, Installation, Job, job_argv

    _root, inventory = world
    where = Installation(inventory=str(inventory), chaton="/usr/bin/chaton", journal="j", state_dir="/var/lib/chaton")
    for name in JOBS:
        argv = job_argv(name, Job(on="daily", to="/srv/www/page.html"), where)
        # parsed by chaton's own CLI (--help: parsed, nothing run): an unknown option would be exit 2
        assert main([*argv[1:], "--help"]) == 0, (name, capsys.readouterr().err)
    assert main(["-q", "-i", str(inventory), "backup", "--all", "--no-such-option", "--help"]) == 2


def test_the_dry_run_says_when_each_job_runs_and_what_it_runs_and_with_v_shows_the_files(world, capsys):
    root, inventory = world
    assert chaton(inventory, "--yes", "schedule", "install", "--kind", "cron") == 0
    inventory.write_text(INVENTORY.replace('"*-*-* 02:30"', '"*-*-* 03:15"'))
    capsys.readouterr()

    assert chaton(inventory, "--dry-run", "schedule", "install", "--kind", "cron") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "replaces the installed one: 5 jobs: backup at *-*-* 03:15, check at Sun *-*-* 05:00" in out
    assert "dry run: nothing was changed" in out
    assert "30 2 * * *" in (root / "etc/cron.d/chaton").read_text()  # untouched

    assert chaton(inventory, "--dry-run", "-v", "schedule", "install", "--kind", "cron") == 0
    out = capsys.readouterr().out
    assert f"{root}/etc/cron.d/chaton:" in out and "15 3 * * * root sleep $(shuf -i 0-1800 -n 1);" in out


def test_a_service_is_described_by_the_chaton_command_it_runs():
    from chaton_ops.core.schedule import Installation, Job, unit_files
    from chaton_ops.ops.schedule import describe_file

    where = Installation(inventory="/etc/chaton/inventory.yml", chaton="/usr/bin/chaton", journal="j", state_dir="s")
    from chaton_ops.core.schedule import Schedule

    files = unit_files(Schedule(backup=Job(on="*-*-* 02:30", randomized_delay="5m")), where)

    assert describe_file("chaton-backup.service", files["chaton-backup.service"]) == \
        "runs chaton backup --all --lock-wait 14400"
    assert describe_file("chaton-backup.timer", files["chaton-backup.timer"]) == "at *-*-* 02:30, up to 5m later"


def _ops_world(world):
    from chaton_ops.core.loader import load_inventory
    from chaton_ops.ops.compose import journal_path, state_folder
    from chaton_ops.ops.schedule import describe_installation

    root, inventory = world
    loaded = load_inventory(inventory)
    return root, loaded, describe_installation(loaded, journal=journal_path(), state_dir=state_folder(),
                                               chaton="/usr/bin/chaton")


def test_without_systemds_tools_the_units_are_read_back_by_chaton_and_enabled_through_the_port(world, tmp_path):
    from chaton_ops.ops.schedule import apply_schedule, choose_target, compare, plan_install
    from tests.unit.ops.fake_systemd import FakeServiceManager

    root, loaded, where = _ops_world(world)
    manager = FakeServiceManager(tools=False, runs=False)
    assert choose_target("auto", None, manager).kind == "cron"  # no systemd running: cron
    assert choose_target("auto", None, FakeServiceManager(runs=True)).kind == "systemd"
    target = choose_target("systemd", str(root), manager)

    with Journal(tmp_path / "ops-journal.sqlite3") as journal:
        result = apply_schedule(plan_install(loaded, target, where, manager, files=LocalFiles()), manager, journal,
                                ["install"], files=LocalFiles())

    assert result.exit_code == 0 and manager.verified == []  # nothing to ask: chaton's own parser read them
    assert manager.enabled == {(str(root), f"chaton-{job}.timer") for job in ("backup", "check", "status", "prune",
                                                                             "runbook")}
    assert manager.reloads == 0  # under a root: no daemon to reload
    assert {s.job: s.state for s in compare(loaded, target, where, manager, files=LocalFiles())}["check"] == "in place"
    manager.disable(["chaton-check.timer"], root=str(root))
    assert {s.job: s.state for s in compare(loaded, target, where, manager, files=LocalFiles())}["check"] == "not enabled"


def test_units_systemd_analyze_refuses_are_never_written(world):
    from chaton_ops.errors import ChatonError
    from chaton_ops.ops.schedule import choose_target, plan_install
    from tests.unit.ops.fake_systemd import FakeServiceManager

    root, loaded, where = _ops_world(world)
    manager = FakeServiceManager(tools=True, verify_says="chaton-backup.service: Unknown key name 'Foo'")

    with pytest.raises(ChatonError, match="systemd-analyze verify refuses the units, nothing was written: "
                                          "chaton-backup.service: Unknown key name"):
        plan_install(loaded, choose_target("systemd", str(root), manager), where, manager, files=LocalFiles())

    assert len(manager.verified) == 1 and not (root / "etc").exists()
