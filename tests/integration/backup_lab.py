"""Helpers of the backup tests: an inventory per test, the installed `chaton`, restic on a lab host."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHATON = Path(sys.executable).with_name("chaton")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


class BackupLab:
    """One test's view: a fresh repository on `backup`, its own inventory, journal and state dir."""

    def __init__(self, lab: Any, tmp_path: Path) -> None:
        self.lab = lab
        self.tmp = tmp_path
        self.repo_name = f"t-{uuid.uuid4().hex[:10]}"
        self.repo_url = f"sftp:root@{lab.address('backup')}:/srv/restic/{self.repo_name}"
        self.repo_path = lab.host_path("backup", f"/srv/restic/{self.repo_name}")
        self.inventory = tmp_path / "inventory.yml"
        self.journal = tmp_path / "journal.sqlite3"
        self.state = tmp_path / "state"
        self.env = {**os.environ, "CHATON_JOURNAL": str(self.journal), "CHATON_STATE_DIR": str(self.state),
                    "COLUMNS": "200"}

    def write_inventory(self, services: dict[str, Any], *, defaults: dict[str, Any] | None = None,
                        password_file: Path | None = None, without_hosts: tuple[str, ...] = ()) -> Path:
        data = json.loads(json.dumps(self.lab.raw.inventory_data(), default=str))
        for host in without_hosts:
            del data["hosts"][host]
        data["repositories"] = {"main": {"url": self.repo_url, "password": "restic-lab"}}
        if password_file is not None:
            data["secrets"]["restic-lab"] = {"file": str(password_file)}
        data["defaults"].update(defaults or {})
        data["services"] = services
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.inventory

    def chaton(self, *args: str, timeout: float = 300) -> Run:
        done = subprocess.run([str(CHATON), "-i", str(self.inventory), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)
        run = Run(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in run.output, run.output
        assert self.lab.restic_password not in run.output
        return run

    def popen_chaton(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(CHATON), "-i", str(self.inventory), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env, stdin=subprocess.DEVNULL)

    def restic(self, host: str, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = (f"RESTIC_PASSWORD_FILE={self.lab.host_restic_password_file} "
                   f"restic -r {shlex.quote(self.repo_url)} {shlex.join(args)}")
        done = self.lab.ssh(host, command, timeout=timeout)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def init_repository(self) -> None:
        self.restic("primary", "init")

    def snapshots(self, *tags: str) -> list[dict[str, Any]]:
        args = ["--no-lock", "snapshots", "--json"] + [a for tag in tags for a in ("--tag", tag)]
        return json.loads(self.restic("primary", *args).stdout) or []

    def files_in(self, snapshot: str) -> set[str]:
        lines = self.restic("primary", "ls", "--json", snapshot).stdout.splitlines()
        return {json.loads(line)["path"] for line in lines[1:] if line.startswith("{")}

    def empty_folder(self, host: str, folder: str) -> Path:
        """`folder` on `host` emptied: files left there by tests of other files that ran before on this lab."""
        root = self.lab.host_path(host, folder)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root

    def make_files(self, host: str, folder: str, files: dict[str, str]) -> Path:
        root = self.lab.host_path(host, folder)
        root.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        return root

    def journal_steps(self) -> list[tuple[str, str, str, str]]:
        with sqlite3.connect(self.journal) as db:
            return db.execute("SELECT runs.command, steps.target, steps.step, steps.status FROM steps "
                              "JOIN runs ON runs.id = steps.run_id ORDER BY steps.id").fetchall()


def service(host: str, data: list[str], **extra: Any) -> dict[str, Any]:
    return {"host": host, "tenant": "lab", "data": data, "repositories": ["main"], **extra}


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
