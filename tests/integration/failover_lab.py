"""Helpers of the failover tests: the lab's collective (www and the mail relay on primary, vps as
fallback), a fresh repository and journal per test, and the lab put back as it was afterwards."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from tests.integration.backup_lab import BackupLab, Run


class FailoverLab(BackupLab):
    """One test's collective: www (static-site) and mail (postfix-relay) on primary, falling back to vps."""

    def __init__(self, lab: Any, tmp_path: Path) -> None:
        super().__init__(lab, tmp_path)
        self.zone = lab.zone
        self.dns = lab.address("dns")

    def write_collective(self, *, services: tuple[str, ...] = ("www", "mail"), changes: dict[str, Any] | None = None,
                         hosts: dict[str, Any] | None = None) -> Path:
        data = json.loads(json.dumps(self.lab.raw.inventory_data(), default=str))
        data["repositories"] = {"main": {"url": self.repo_url, "password": "restic-lab"}}
        data["services"] = {name: data["services"][name] for name in services}
        for name, change in (changes or {}).items():
            data["services"][name].update(change)
        for name, change in (hosts or {}).items():
            data["hosts"][name].update(change)
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.inventory

    def deploy_on_primary(self, *names: str) -> None:
        self.lab.ssh("primary", "mkdir -p /srv/www && echo '<h1>members pages</h1>' > /srv/www/index.html",
                     check=True)
        for name in names:
            run = self.chaton("deploy", name)
            assert run.returncode == 0, run.output

    def record(self, name: str, server: str | None = None) -> tuple[list[str], int | None]:
        """(addresses, ttl) of NAME.zone A on the zone's server."""
        done = subprocess.run(["kdig", "+noall", "+answer", "+norecurse", "+time=3", f"@{server or self.dns}",
                               f"{name}.{self.zone}", "A"], capture_output=True, text=True, check=True)
        lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
        return sorted(line[4] for line in lines), (int(lines[0][1]) if lines else None)

    def http(self, host_address: str, name: str = "www", path: str = "/") -> str:
        done = subprocess.run(["curl", "-s", "--max-time", "5", "--noproxy", "*", "--resolve",
                               f"{name}.{self.zone}:80:{host_address}", f"http://{name}.{self.zone}{path}"],
                              capture_output=True, text=True)
        return done.stdout

    def smtp_banner(self, address: str) -> str:
        with socket.create_connection((address, 25), timeout=5) as connection:
            banner = connection.recv(1024).decode("utf-8", "replace").strip()
            connection.sendall(b"QUIT\r\n")
        return banner

    def snapshots(self, *tags: str) -> list[dict[str, Any]]:
        """Snapshots listed from vps (primary may be down in these tests)."""
        args = ["--no-lock", "snapshots", "--json"] + [a for tag in tags for a in ("--tag", tag)]
        return json.loads(self.restic("vps", *args).stdout) or []

    def journal_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.journal) as db:
            return db.execute(sql, params).fetchall()

    def keyed_steps(self, run_id: int) -> dict[str, tuple[str, int]]:
        return {key: (status, attempt) for key, status, attempt in self.journal_rows(
            "SELECT step_key, status, attempt FROM steps WHERE run_id = ? AND step_key IS NOT NULL", run_id)}

    def last_run(self, command: str) -> tuple[int, str, int | None]:
        return self.journal_rows("SELECT id, status, exit_code FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1",
                                 command)[0]

    def placement(self, service: str) -> str | None:
        rows = self.journal_rows("SELECT host FROM placements WHERE service = ? ORDER BY id DESC LIMIT 1", service)
        return rows[0][0] if rows else None

    def failover(self, *args: str, timeout: float = 600) -> Run:
        return self.chaton("failover", "--to", "vps", "--yes", *args, timeout=timeout)


SITE_HOSTS = ("primary", "vps")


def save_sites(lab: Any, into: Path) -> Path:
    """A copy of the lab's site folder (/srv/www) of primary and vps, which failovers rewrite."""
    for host in SITE_HOSTS:
        shutil.copytree(lab.host_path(host, "/srv/www"), into / host, symlinks=True)
    return into


def tidy_lab(lab: Any, original_records: dict[str, tuple[list[str], int | None]], sites: Path) -> None:
    """Put the lab back as the other tests expect it: hosts up, records as before, the site folders as
    they were, no chaton site or relay left running on vps or primary."""
    for host in ("primary", "vps", "dns", "backup"):
        if lab.raw.host_is_stopped(host):
            lab.raw.start_host(host)
    for host in SITE_HOSTS:
        live = lab.host_path(host, "/srv/www")
        shutil.rmtree(live, ignore_errors=True)
        shutil.copytree(sites / host, live, symlinks=True)
    for host in ("primary", "vps"):
        lab.ssh(host, "postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1; "
                      "rm -f /etc/nginx/conf.d/chaton-*.conf /etc/nginx/conf.d/*.chaton-prev; "
                      "nginx -s reload >/dev/null 2>&1; true")
    key = lab.tsig_secret
    for name, (values, ttl) in original_records.items():
        script = "\n".join([f"server {lab.address('dns')}", f"zone {lab.zone}", f"key hmac-sha256:chaton {key}",
                            f"update delete {name}.{lab.zone} A",
                            *(f"update add {name}.{lab.zone} {ttl} A {value}" for value in values), "send", ""])
        lab.ssh("primary", "knsupdate", input=script, check=True)
    time.sleep(0.2)
