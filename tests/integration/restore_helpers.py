"""Helpers of the restore tests: listings of a tree on a lab host, databases on a host."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from tests.integration.backup_lab import BackupLab


def listing(lab: Any, host: str, folder: str) -> list[str]:
    """Every entry under `folder` on `host`: type, mode, owner, mtime (ns), size, path, link target, and the
    sha256 of each file's content — what a byte-for-byte comparison needs."""
    script = (f"cd {shlex.quote(folder)} && find . -printf '%y %m %U:%G %T@ %s %p %l\\n' | sort && "
              "find . -type f -exec sha256sum {} + | sort")
    done = lab.ssh(host, script)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def set_host_restic(blab: BackupLab, host: str, binary: str) -> None:
    data = yaml.safe_load(blab.inventory.read_text())
    data["hosts"][host]["restic"] = binary
    blab.inventory.write_text(yaml.safe_dump(data, sort_keys=False))


def psql(lab: Any, host: str, database: str, sql: str) -> str:
    done = lab.ssh(host, "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", database, "-c", sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def mysql(lab: Any, host: str, sql: str) -> str:
    done = lab.ssh(host, "mysql", "--batch", "--skip-column-names", "-e", sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
