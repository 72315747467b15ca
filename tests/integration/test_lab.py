"""Tests of the lab itself: real sshd, restic over SFTP, nginx, knot with TSIG, PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
import yaml


def test_every_host_answers_ssh_with_its_own_name(lab):
    for name in lab.hosts:
        cp = lab.ssh(name, "hostname")
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout.strip() == name


def test_ssh_uses_verified_host_keys(lab, tmp_path):
    # an empty known_hosts must make the login fail (StrictHostKeyChecking yes, BatchMode)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    argv = [
        a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={empty}"
        for a in lab.ssh_argv("primary", "true")
    ]
    cp = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert cp.returncode == 255
    assert "Host key verification failed" in cp.stderr


def test_hosts_have_separate_srv(lab):
    marker = f"only-on-primary-{uuid.uuid4().hex[:8]}"
    lab.ssh("primary", f"echo {marker} > /srv/{marker}", check=True)
    assert lab.host_path("primary", f"/srv/{marker}").read_text().strip() == marker
    assert not lab.host_path("vps", f"/srv/{marker}").exists()
    cp = lab.ssh("vps", "test", "-e", f"/srv/{marker}")
    assert cp.returncode == 1
    # and nothing leaked into the machine's own /srv
    cp = subprocess.run(["test", "-e", f"/srv/{marker}"])
    assert cp.returncode == 1


def test_hosts_resolve_each_other(lab):
    cp = lab.ssh("primary", "getent hosts backup dns vps", check=True)
    got = {line.split()[1]: line.split()[0] for line in cp.stdout.splitlines()}
    assert got == {"backup": lab.hosts["backup"], "dns": lab.hosts["dns"], "vps": lab.hosts["vps"]}


def test_restic_from_primary_to_backup_over_sftp(lab, fresh_repo):
    pw = fresh_repo.host_password_file
    lab.ssh("primary", "mkdir -p /srv/www/lab-test && echo restic-me > /srv/www/lab-test/f.txt", check=True)
    init = lab.ssh("primary", "restic", "-r", fresh_repo.url, "--password-file", pw, "init")
    assert init.returncode == 0, init.stderr
    assert fresh_repo.path.joinpath("config").exists()
    backup = lab.ssh(
        "primary",
        "restic",
        "-r",
        fresh_repo.url,
        "--password-file",
        pw,
        "backup",
        "--json",
        "/srv/www/lab-test",
    )
    assert backup.returncode == 0, backup.stderr
    summary = [
        json.loads(line)
        for line in backup.stdout.splitlines()
        if line.startswith("{") and '"summary"' in line
    ][-1]
    site = lab.host_path("primary", "/srv/www/lab-test")  # other tests on this lab may have added files
    assert summary["files_new"] == sum(1 for p in site.rglob("*") if p.is_file()) >= 1
    snaps = lab.ssh("primary", "restic", "-r", fresh_repo.url, "--password-file", pw, "snapshots", "--json")
    assert snaps.returncode == 0, snaps.stderr
    [snap] = json.loads(snaps.stdout)
    assert snap["hostname"] == "primary"
    assert snap["paths"] == ["/srv/www/lab-test"]
    # the vps reads the same repository and restores the primary's snapshot
    restore = lab.ssh(
        "vps",
        "restic",
        "-r",
        fresh_repo.url,
        "--password-file",
        pw,
        "restore",
        "latest",
        "--host",
        "primary",
        "--target",
        "/srv/restore",
    )
    assert restore.returncode == 0, restore.stderr
    assert lab.host_path("vps", "/srv/restore/srv/www/lab-test/f.txt").read_text() == "restic-me\n"


def test_nginx_serves_srv_www_and_reloads(lab):
    token = uuid.uuid4().hex
    lab.ssh("primary", f"echo {token} > /srv/www/lab-{token}.html", check=True)
    url = f"http://{lab.hosts['primary']}/lab-{token}.html"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        assert resp.read().decode().strip() == token
    cp = lab.ssh("primary", "nginx -t && nginx -s reload")
    assert cp.returncode == 0, cp.stderr
    with urllib.request.urlopen(f"http://{lab.hosts['vps']}/", timeout=5) as resp:
        assert "vps" in resp.read().decode()


def test_postgres_site_database(lab):
    cp = lab.ssh(
        "primary", "cd /tmp && runuser -u postgres -- psql -At -d site -c 'select count(*) from pages'"
    )
    assert cp.returncode == 0, cp.stderr
    assert int(cp.stdout.strip()) >= 3
    # the data directory is private to the host
    assert (
        lab.host_path("primary", "/var/lib/postgresql").resolve()
        != lab.host_path("vps", "/var/lib/postgresql").resolve()
    )


def test_postfix_starts_inside_a_host(lab):
    cp = lab.ssh("vps", "postfix status >/dev/null 2>&1 && postfix stop; "
                       "postfix check && postfix start && postfix status; rc=$?; postfix stop; exit $rc")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert lab.host_path("vps", "/var/spool/postfix").exists()


def _update(lab, secret: str, address: str):
    keyring = dns.tsigkeyring.from_text({lab.tsig_key_name: secret})
    msg = dns.update.UpdateMessage(
        lab.zone, keyring=keyring, keyname=lab.tsig_key_name, keyalgorithm=dns.tsig.HMAC_SHA256
    )
    msg.replace("www", 60, "A", address)
    return dns.query.tcp(msg, lab.hosts["dns"], timeout=5)


def _query_a(lab, name: str) -> list[str]:
    q = dns.message.make_query(f"{name}.{lab.zone}", "A")
    resp = dns.query.udp(q, lab.hosts["dns"], timeout=5)
    return sorted(rr.address for rrset in resp.answer for rr in rrset)


def test_dns_tsig_update(lab):
    assert _query_a(lab, "www") == [lab.hosts["primary"]]
    assert _query_a(lab, "ns") == [lab.hosts["dns"]]
    try:
        resp = _update(lab, lab.tsig_secret, lab.hosts["vps"])
        assert resp.rcode() == dns.rcode.NOERROR
        assert _query_a(lab, "www") == [lab.hosts["vps"]]
        # a wrong key is refused and changes nothing
        wrong = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1sYWItc2VjcmV0LTEyMzQ1Njc4OQ=="
        with pytest.raises((dns.tsig.PeerBadSignature, dns.tsig.PeerError)):
            _update(lab, wrong, "10.77.0.99")
        assert _query_a(lab, "www") == [lab.hosts["vps"]]
    finally:
        _update(lab, lab.tsig_secret, lab.hosts["primary"])
    assert _query_a(lab, "www") == [lab.hosts["primary"]]


def test_inventory_describes_the_lab(lab):
    data = yaml.safe_load(lab.inventory.read_text())
    assert data["version"] == 1
    assert {n: h["address"] for n, h in data["hosts"].items()} == lab.hosts
    assert data["hosts"]["vps"]["kind"] == "fallback"
    assert data["defaults"]["ssh"]["identity"] == str(lab.identity)
    for ref in data["secrets"].values():
        path = ref["file"]
        assert (lab.state_dir / "secrets") in Path(path).parents
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert lab.tsig_key_file.read_text().strip() == lab.tsig_secret


def test_inventory_passes_chaton_inventory_check(lab):
    cp = subprocess.run(
        [sys.executable, "-m", "chaton_ops", "-i", str(lab.inventory), "inventory", "check"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr


@pytest.mark.lab_rebuild
def test_up_twice_then_down_twice(lab):
    """Rebuilds the lab (fresh host data): conftest moves it to the end of the session."""
    raw = lab.raw
    raw.up()
    raw.up()
    assert lab.ssh("backup", "hostname").stdout.strip() == "backup"
    raw.down()
    raw.down()
    assert not any(r["sshd"] for r in raw.status())
    cp = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    from tests.lab.lab import NETNS_PREFIX

    assert f"{NETNS_PREFIX}primary" not in cp.stdout
    raw.up()  # leave the lab up for other tests of the session
    assert lab.ssh("primary", "hostname").stdout.strip() == "primary"


def test_lab_py_up_keeps_the_lab_locked_until_down_and_never_ends_another_holder(tmp_path):
    """`lab.py up` on a lab of its own (never this session's): the lock stays held after `up` has
    exited, by a keeper that `up` again and `down` end; a lock held by another user is left alone."""
    from tests.lab import lab as lab_module

    other = str((lab_module.LAB_ID + 30) % 100)
    lock_path = lab_module.LOCK_FILE.with_name(f"chaton-lab-{other}.lock" if other != "0" else "chaton-lab.lock")
    env = {**os.environ, "CHATON_LAB_ID": other, "CHATON_LAB_DIR": str(tmp_path / "state")}
    lab_py = [sys.executable, str(Path(lab_module.__file__)), "--wait", "0"]

    def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*lab_py, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    def lock_is_free() -> bool:
        probe = lab_module.LabLock(lock_path)
        try:
            probe.acquire(timeout=0, who="test probe")
        except lab_module.LabError:
            return False
        probe.release()
        return True

    try:
        first = lab_cli("up")
        assert first.returncode == 0, first.stderr
        assert not lock_is_free()  # `up` has exited; its keeper holds the lock
        keeper = lab_module.LabLock(lock_path).holder()
        assert keeper.startswith("pid ") and "keeper of lab" in keeper

        again = lab_cli("up")  # up after up: the old keeper is ended, a new one keeps the new lab
        assert again.returncode == 0, again.stderr
        assert lab_module.LabLock(lock_path).holder() != keeper and not lock_is_free()

        down = lab_cli("down")
        assert down.returncode == 0, down.stderr
        assert lock_is_free()
        assert subprocess.run(["ip", "link", "show", f"lab{other}"], capture_output=True).returncode != 0

        someone = lab_module.LabLock(lock_path)
        someone.acquire(timeout=0, who="pytest")  # another user's lab: `down` must refuse, not end it
        try:
            refused = lab_cli("down")
            assert refused.returncode == 1 and "in use by another process (pid" in refused.stderr
        finally:
            someone.release()
    finally:
        lab_cli("down")
