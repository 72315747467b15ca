"""Bad input and faults of `chaton backup`: clear messages, right exit codes, no traceback, no secret."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.integration.backup_lab import BackupLab, service, wait_for
from tests.lab.lab import NETNS_PREFIX


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def test_wrong_repository_password_fails_clearly_without_printing_any_password(blab, tmp_path):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-the-password-42\n")
    wrong.chmod(0o600)
    blab.write_inventory({"site": service("primary", ["/srv/site"])}, password_file=wrong)

    run = blab.chaton("backup", "site")

    assert run.returncode == 1
    assert "wrong repository password" in run.stderr
    assert "not-the-password-42" not in run.output
    assert blab.snapshots() == []


def test_missing_repository_is_an_error_unless_init_is_asked(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})

    run = blab.chaton("backup", "site")

    assert run.returncode == 1
    assert "repository does not exist" in run.stderr and "--init" in run.stderr
    assert not blab.repo_path.exists()


def test_missing_source_path_fails_that_service_and_makes_no_snapshot(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"]), "gone": service("primary", ["/srv/gone"])})
    blab.init_repository()

    run = blab.chaton("backup", "--all")

    assert run.returncode == 3  # partial: site ok, gone failed
    assert "source path missing on primary: /srv/gone" in run.stderr
    assert blab.snapshots("service:gone") == [] and len(blab.snapshots("service:site")) == 1


def test_backup_is_refused_when_the_repository_disk_is_below_the_threshold(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])}, defaults={"min_free_percent": 99.99})
    blab.init_repository()

    run = blab.chaton("backup", "site")

    assert run.returncode == 1
    assert "below min_free_percent 99.99 %" in run.stderr
    assert blab.snapshots() == []


def test_free_space_is_asked_over_sftp_when_the_repository_host_is_not_in_the_inventory(blab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])}, defaults={"min_free_percent": 99.99},
                         without_hosts=("backup",))
    blab.init_repository()

    refused = blab.chaton("backup", "site")
    blab.write_inventory({"site": service("primary", ["/srv/site"])}, without_hosts=("backup",))
    accepted = blab.chaton("--json", "backup", "site")

    assert refused.returncode == 1 and "below min_free_percent 99.99 %" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert "free space" not in accepted.json()["results"][0]["message"], accepted.stdout


def test_unreadable_file_gives_exit_3_and_is_listed(blab, lab):
    # restic runs as root, which reads any file whatever its mode; a 0200 sysctl file is one that
    # root cannot read (procfs checks the owner bits for root too): bind-mounted into the data
    blab.make_files("primary", "/srv/site", {"ok.txt": "fine", "blocked": ""})
    lab.ssh("primary", "mount --bind /proc/sys/vm/drop_caches /srv/site/blocked", check=True)
    try:
        blab.write_inventory({"site": service("primary", ["/srv/site"])})
        blab.init_repository()

        run = blab.chaton("backup", "site")
    finally:
        lab.ssh("primary", "umount /srv/site/blocked")

    assert run.returncode == 3, run.output
    assert "/srv/site/blocked" in run.stderr and "unreadable" in run.stderr
    (snapshot,) = blab.snapshots()
    assert "/srv/site/ok.txt" in blab.files_in(snapshot["id"])


def test_a_run_waits_for_or_refuses_another_run_on_the_same_repository(blab):
    from chaton_ops.adapters.run_locks import repository_locks

    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()
    with repository_locks(["main"], directory=blab.state / "locks"):
        refused = blab.chaton("backup", "site")
        waiting = blab.popen_chaton("backup", "site", "--lock-wait", "60")
        time.sleep(1.0)
    out, err = waiting.communicate(timeout=120)

    assert refused.returncode == 1
    assert "in use by another chaton run" in refused.stderr and "--lock-wait" in refused.stderr
    assert waiting.returncode == 0, out + err
    assert len(blab.snapshots()) == 1


def test_restic_lock_of_another_process_is_reported_and_a_stale_one_removed_only_with_unlock(blab, lab):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()
    # `key passwd` takes restic's exclusive lock, then waits for a new password on stdin forever
    holder = subprocess.Popen(
        lab.ssh_argv("primary", f"sleep 600 | RESTIC_PASSWORD_FILE={lab.host_restic_password_file} "
                                f"restic -r {blab.repo_url} key passwd"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: any((blab.repo_path / "locks").iterdir()), timeout=60)
        live = blab.chaton("backup", "site", "--unlock")
        assert live.returncode == 1
        assert "repository main is locked" in live.stderr and "on primary" in live.stderr

        pids = subprocess.run(["pgrep", "-f", f"restic -r {blab.repo_url} key passwd"], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:  # SIGKILL: restic cannot remove its lock, which becomes stale
            os.kill(int(pid), signal.SIGKILL)
        stale = blab.chaton("backup", "site")
        assert stale.returncode == 1 and "--unlock" in stale.stderr
        assert blab.snapshots() == []

        unlocked = blab.chaton("backup", "site", "--unlock")
        assert unlocked.returncode == 0, unlocked.output
        assert len(blab.snapshots()) == 1
    finally:
        holder.kill()
        holder.wait()


def _kill_host(lab, host: str) -> None:
    # this lab's namespace (CHATON_LAB_ID): never another lab's processes
    pids = subprocess.run(["ip", "netns", "pids", f"{NETNS_PREFIX}{host}"], capture_output=True,
                          text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _restart_host(lab, host: str) -> None:
    lab.raw._start_host(lab.raw.specs[host])

    def listening() -> bool:
        try:
            with socket.create_connection((lab.address(host), 22), timeout=0.2):
                return True
        except OSError:
            return False

    assert wait_for(listening, timeout=30)


def test_repository_host_down_mid_run_fails_clearly_and_the_next_run_succeeds(blab, lab):
    big = lab.host_path("primary", "/srv/big")
    big.mkdir(parents=True, exist_ok=True)
    for index in range(150):
        (big / f"blob-{index:03d}.bin").write_bytes(os.urandom(1024 * 1024))
    blab.write_inventory({"big": service("primary", ["/srv/big"])})
    blab.init_repository()
    try:
        running = blab.popen_chaton("backup", "big")
        pattern = f"restic --repo {blab.repo_url} backup"
        assert wait_for(lambda: subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0,
                        timeout=60)
        time.sleep(0.5)  # let it upload
        # the password is in restic's environment only: in no command line of any process
        processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        for password_file in (lab.host_restic_password_file, str(lab.restic_password_file)):
            processes = processes.replace(password_file, "")  # file names, not the password
        assert lab.restic_password not in processes
        _kill_host(lab, "backup")
        out, err = running.communicate(timeout=300)
        assert running.returncode == 1
        assert "failed" in err and "big" in err and "Traceback" not in out + err
        assert lab.restic_password not in out + err
    finally:
        _restart_host(lab, "backup")

    retry = blab.chaton("backup", "big", "--unlock")  # the dead restic left a stale lock
    assert retry.returncode == 0, retry.output
    check = blab.restic("primary", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(blab.snapshots()) == 1


def test_a_failing_database_dump_fails_the_service_and_leaves_no_snapshot(blab):
    blab.write_inventory({"db": {"host": "primary", "tenant": "lab", "repositories": ["main"],
                                 "databases": [{"engine": "postgres", "name": "nosuchdb"}]}})
    blab.init_repository()

    run = blab.chaton("backup", "db")

    assert run.returncode == 1
    assert "dump of postgres database nosuchdb on primary failed" in run.stderr
    assert 'database "nosuchdb" does not exist' in run.stderr
    assert blab.snapshots() == []
