"""`check` and `backup` on one repository from two machines: restic's lock is waited for, and a backup
that made its snapshot is never reported failed because another process held the lock for retention.

The other process is real restic on `vps` (another machine, as an admin's `check` would be): `key
passwd` takes restic's exclusive lock and then waits for a new password on stdin; closing its stdin
makes it exit cleanly, releasing the lock.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from tests.integration.backup_lab import BackupLab, service, wait_for


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


class ExclusiveLock:
    """restic's exclusive lock on the test's repository, held by a live process on vps."""

    def __init__(self, blab: BackupLab) -> None:
        self.blab = blab
        self.process: subprocess.Popen[bytes] | None = None

    def take(self) -> None:
        lab = self.blab.lab
        self.process = subprocess.Popen(
            lab.ssh_argv("vps", f"RESTIC_PASSWORD_FILE={lab.host_restic_password_file} "
                                f"restic -r {self.blab.repo_url} key passwd"),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: any((self.blab.repo_path / "locks").iterdir()), timeout=60)

    def release(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # restic reads the end of input, fails and removes its lock
            self.process.wait(timeout=60)
        assert wait_for(lambda: not any((self.blab.repo_path / "locks").iterdir()), timeout=30)

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer


@pytest.fixture
def other_machine_lock(blab: BackupLab):
    lock = ExclusiveLock(blab)
    yield lock
    if lock.process is not None:
        lock.process.kill()
        lock.process.wait()


def run_taking_the_lock_after_the_snapshot(blab: BackupLab, lock: ExclusiveLock, *, release_after: float | None,
                                           **options: Any):
    """The backup use case on the lab, with `lock` taken right after the snapshot is made (before
    retention), as a `check` started on another machine at that moment would; released `release_after`
    seconds later (None: held)."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.core.backup_plan import plan_backup
    from chaton_ops.core.loader import load_inventory
    from chaton_ops.ops.backup import BackupSettings, RunNotes, run_backup

    class LockAfterSnapshot(RunNotes):
        def record(self, target: str, step: str, status: str, detail: dict[str, object]) -> None:
            if step == "backup" and status == "ok":
                lock.take()
                if release_after is not None:
                    lock.release_after(release_after)

    loaded = load_inventory(blab.inventory)
    plan = plan_backup(loaded.inventory, ["site"])
    with HostPool(loaded) as pool:
        return run_backup(loaded, plan, transports=pool.transport, settings=BackupSettings(**options),
                          journal=LockAfterSnapshot(None, None), secrets=InventorySecrets(loaded))


def test_retention_waits_for_a_lock_taken_after_the_snapshot_and_the_backup_succeeds(blab, other_machine_lock):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()
    started = time.monotonic()

    report = run_taking_the_lock_after_the_snapshot(blab, other_machine_lock, release_after=3.0)

    (result,) = report.results
    assert (result.status, report.exit_code) == ("ok", 0), result.message
    assert time.monotonic() - started >= 3.0  # it waited for the lock
    assert len(blab.snapshots("service:site")) == 1


def test_a_lock_held_past_the_wait_postpones_retention_and_keeps_the_snapshot(blab, other_machine_lock):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()

    report = run_taking_the_lock_after_the_snapshot(blab, other_machine_lock, release_after=None,
                                                    retention_lock_wait=4.0)

    (result,) = report.results
    assert result.status == "warning" and result.snapshot_id, result.message
    assert "retention (forget) postponed to the next run: main stayed locked for 4 s" in result.message
    assert "locked exclusively by PID" in result.message and "on vps" in result.message
    assert report.exit_code == 3
    other_machine_lock.release()
    assert len(blab.snapshots("service:site")) == 1


def test_backup_and_check_wait_for_restic_s_lock_with_lock_wait_and_say_so_without(blab, other_machine_lock):
    blab.make_files("primary", "/srv/site", {"a": "a"})
    blab.write_inventory({"site": service("primary", ["/srv/site"])})
    blab.init_repository()
    other_machine_lock.take()

    refused = blab.chaton("backup", "site")
    waiting = blab.popen_chaton("backup", "site", "--lock-wait", "120")
    other_machine_lock.release_after(3.0)
    out, err = waiting.communicate(timeout=300)

    assert refused.returncode == 1
    assert "repository main is locked" in refused.stderr and "--lock-wait SECONDS waits for it" in refused.stderr
    assert waiting.returncode == 0, out + err
    assert len(blab.snapshots("service:site")) == 1

    other_machine_lock.take()
    checking = blab.popen_chaton("check", "--lock-wait", "120")
    other_machine_lock.release_after(3.0)
    out, err = checking.communicate(timeout=300)
    assert checking.returncode == 0, out + err
