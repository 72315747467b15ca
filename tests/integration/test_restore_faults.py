"""Bad input and faults of `chaton restore`: one clear message each, the documented exit code, no
traceback, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.backup_lab import BackupLab, service, wait_for
from tests.integration.restore_helpers import listing, set_host_restic


def kill_restic_on(lab, host: str) -> list[int]:
    """SIGKILL the restic processes of one lab host (its network namespace's pids; never another's)."""
    from tests.lab.lab import NETNS_PREFIX

    pids = subprocess.run(["ip", "netns", "pids", NETNS_PREFIX + host], capture_output=True, text=True).stdout.split()
    killed = []
    for pid in map(int, pids):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "restic":
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        except (OSError, ProcessLookupError):
            pass
    return killed


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


@pytest.fixture
def backed_up(blab, lab) -> BackupLab:
    lab.ssh("primary", "rm -rf /srv/site && mkdir -p /srv/site && echo home > /srv/site/index.html")
    lab.ssh("primary", "rm -rf /srv/blog && mkdir -p /srv/blog && echo post > /srv/blog/post.html")
    blab.write_inventory({"site": service("primary", ["/srv/site"], fallback="vps"),
                          "blog": service("primary", ["/srv/blog"]),
                          "empty": service("primary", ["/srv/empty"])})
    assert blab.chaton("backup", "site", "blog", "--init").returncode == 0
    return blab


def test_an_unknown_snapshot_id_is_a_usage_error(backed_up):
    run = backed_up.chaton("restore", "site", "--snapshot", "deadbeef", "--to", "vps")
    assert run.returncode == 2 and run.stderr.strip() == "error: no snapshot deadbeef in repository main"


def test_a_snapshot_of_another_service_is_refused_naming_both(backed_up):
    (blog,) = [s for s in backed_up.snapshots() if "service:blog" in s["tags"]]
    run = backed_up.chaton("restore", "site", "--snapshot", blog["short_id"], "--to", "vps")
    assert run.returncode == 2
    assert f"snapshot {blog['short_id']} belongs to service blog, not to site" in run.stderr


def test_a_service_without_snapshots_is_refused(backed_up):
    run = backed_up.chaton("restore", "empty", "--to", "vps")
    assert run.returncode == 1 and "service empty has no snapshot in repository main" in run.stderr


def test_an_unknown_host_is_a_usage_error(backed_up):
    run = backed_up.chaton("restore", "site", "--to", "nosuch")
    assert run.returncode == 2 and "unknown host: nosuch" in run.stderr


def test_restic_missing_on_the_target_host_is_said_so(backed_up):
    set_host_restic(backed_up, "vps", "/usr/local/bin/no-restic-here")
    run = backed_up.chaton("restore", "site", "--to", "vps")
    assert run.returncode == 1 and "vps: restic is not installed" in run.stderr


def test_a_repository_unreachable_from_the_target_host_exits_4(backed_up, lab):
    known = lab.host_path("vps", "/root/.ssh/known_hosts")
    saved = known.read_text()
    before = sorted(p.name for p in lab.host_path("vps", "/srv").iterdir())
    known.write_text("")  # vps no longer knows the backup host's key: its ssh (restic's sftp) refuses
    try:
        run = backed_up.chaton("restore", "site", "--to", "vps")
    finally:
        known.write_text(saved)
    assert run.returncode == 4, run.output
    assert "vps: repository main cannot be reached from vps" in run.stderr
    assert sorted(p.name for p in lab.host_path("vps", "/srv").iterdir()) == before  # nothing written


def test_a_target_disk_too_small_is_refused_before_writing_with_both_numbers(blab, lab):
    lab.ssh("primary", "rm -rf /srv/small && mkdir -p /srv/small/data && head -c 3000000 /dev/urandom > "
                       "/srv/small/data/blob")
    blab.write_inventory({"big": service("primary", ["/srv/small/data"])})
    assert blab.chaton("backup", "big", "--init").returncode == 0
    assert lab.ssh("vps", "mkdir -p /srv/small && mount -t tmpfs -o size=1m tmpfs /srv/small").returncode == 0
    try:
        run = blab.chaton("restore", "big", "--to", "vps")
        left = lab.ssh("vps", "ls -A /srv/small").stdout
    finally:
        lab.ssh("vps", "umount /srv/small")
    assert run.returncode == 1, run.output
    assert "not enough free space on vps:/srv/small: the snapshot needs 2.9 MiB (300" in run.stderr
    assert "KiB (1048576 bytes) are free" in run.stderr or "bytes) are free" in run.stderr
    assert left == ""  # nothing was written


def test_a_restore_killed_half_way_leaves_the_old_data_and_says_where_the_partial_copy_is(blab, lab):
    lab.ssh("primary", "rm -rf /srv/big && mkdir -p /srv/big && for i in $(seq 1 60); do "
                       "head -c 2000000 /dev/urandom > /srv/big/f$i; done")
    blab.write_inventory({"big": service("primary", ["/srv/big"])})
    assert blab.chaton("backup", "big", "--init").returncode == 0
    lab.ssh("vps", "rm -rf /srv/big && mkdir -p /srv/big && echo 'previous version' > /srv/big/old.txt")
    before = listing(lab, "vps", "/srv/big")

    process = blab.popen_chaton("restore", "big", "--to", "vps")
    # restic writes into the staging folder: stop it half-way, by pid, among the processes of vps only
    srv = lab.host_path("vps", "/srv")
    assert wait_for(lambda: any(srv.glob(".chaton-restore-*/srv/big/f*")), timeout=60, interval=0.01)
    killed = kill_restic_on(lab, "vps")
    assert killed, "restic was not running on vps"
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert "nothing was swapped; the partial copy is in vps:/srv/.chaton-restore-" in stderr
    assert listing(lab, "vps", "/srv/big") == before
    partial = lab.ssh("vps", "ls -d /srv/.chaton-restore-*").stdout.strip()
    assert partial and partial in stderr
    time.sleep(0.1)
    steps = [(step, status) for command, _, step, status in blab.journal_steps() if command == "restore"]
    assert ("restore", "failed") in steps and ("swap", "ok") not in steps
    subprocess.run(lab.ssh_argv("vps", f"rm -rf {partial}"), check=False)
