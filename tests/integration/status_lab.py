"""Helpers of the status tests: an inventory per test (www on primary, falling back to vps), its own journal
and state, the installed `chaton`, a recording HTTP server for apprise `json://` messages, DNS changes
through the lab's knot with TSIG."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from chaton_ops.adapters.dns import Rfc2136Dns
from chaton_ops.adapters.journal import Journal
from chaton_ops.core.dns import RecordSet, put_back
from chaton_ops.core.loader import load_inventory
from tests.integration.backup_lab import CHATON, Run

APPRISE_TOKEN = "status-apprise-token-5e1f"


class Receiver:
    """Records what apprise's json:// plugin posts (title, message, type)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        messages = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                messages.append(json.loads(self.rfile.read(length).decode("utf-8")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/apprise/{APPRISE_TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class StatusRun(Run):
    def findings(self) -> dict[str, dict[str, Any]]:
        """Findings by title (`primary disk /srv/full`, `www http http://…/`)."""
        return {" ".join(p for p in (f["subject"], f["check"], f["item"]) if p): f for f in self.json()["findings"]}

    def level(self, title: str) -> str:
        return str(self.findings()[title]["level"])


class StatusLab:
    """One test's view: its own inventory, journal and state directory."""

    def __init__(self, lab: Any, tmp_path: Path) -> None:
        self.lab = lab
        self.tmp = tmp_path
        self.inventory = tmp_path / "inventory.yml"
        self.journal = tmp_path / "journal.sqlite3"
        self.state = tmp_path / "state"
        self.env = {**os.environ, "CHATON_JOURNAL": str(self.journal), "CHATON_STATE_DIR": str(self.state),
                    "COLUMNS": "200"}
        self.www_url = f"http://{lab.address('primary')}/"
        self.write_inventory()

    def write_inventory(self, *, services: dict[str, Any] | None = None, notify_url: str | None = None,
                        **top: Any) -> Path:
        data = json.loads(json.dumps(self.lab.raw.inventory_data(), default=str))
        data["defaults"]["ssh"]["connect_timeout"] = 3
        # the lab's hosts share this machine's /proc/loadavg, which other work on the machine drives: the
        # load finding is tested on captured /proc files (tests/unit/core/test_host_facts.py)
        data["defaults"]["thresholds"] = {"load_per_cpu": 1000}
        www = data["services"]["www"]
        www["check"] = {"http": {"url": self.www_url, "status": 200, "contains": "chaton lab", "timeout": 3}}
        data["services"] = services if services is not None else {"www": www}
        if notify_url is not None:
            self.env["STATUS_CHAT_URL"] = notify_url
            data["secrets"]["chat"] = {"env": "STATUS_CHAT_URL"}
            data["notify"] = {"apprise": ["chat"], "events": ["failure", "warning", "recovery"]}
        data.update(top)
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.inventory

    def chaton(self, *args: str, timeout: float = 120) -> StatusRun:
        done = subprocess.run([str(CHATON), "-i", str(self.inventory), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return StatusRun(done.returncode, done.stdout, done.stderr)

    def status(self, *args: str) -> StatusRun:
        return self.chaton("status", "--json", *args)

    # ------------------------------------------------------------------ the journal, as commands write it
    def record(self, action: str, target: str, status: str, hours_ago: float = 0.0, **detail: Any) -> None:
        with Journal(self.journal) as journal:
            run = journal.start_run(action, [target])
            journal.record_step(run, target, action, status, detail)
            journal.finish_run(run, status, 0 if status == "ok" else 1)
        if hours_ago:
            self.age_steps(action, hours_ago)

    def age_steps(self, action: str, hours: float) -> None:
        """Move every `action` step `hours` into the past (journal time)."""
        import sqlite3

        with sqlite3.connect(self.journal) as db:
            db.execute("UPDATE steps SET started_at = datetime(started_at, ?), ended_at = datetime(ended_at, ?) "
                       "WHERE step = ?", (f"-{hours} hours", f"-{hours} hours", action))

    def healthy_journal(self) -> None:
        """A recent backup and a recent drill of www, as `chaton backup` and `chaton drill` journal them."""
        self.record("backup", "www@main", "ok", 1, service="www", host="primary", repository="main",
                    snapshot="4f1c2b3a", total_bytes=40_000)
        self.record("drill", "www@main", "ok", 2, service="www", host="vps", snapshot="4f1c2b3a", bytes=40_000,
                    duration=0.4, mb_per_s=0.1, verified=True)


class LabDns:
    """The lab zone's records, changed with TSIG updates and put back afterwards."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.port = Rfc2136Dns(load_inventory(lab.inventory).inventory.dns, {lab.zone: lab.tsig_secret}, timeout=3)

    def read(self, name: str = "www") -> RecordSet:
        return self.port.read(self.lab.zone, name, "A")

    def set(self, name: str = "www", *, address: str | None = None, ttl: int | None = None) -> None:
        current = self.read(name)
        wanted = RecordSet(name, "A", ttl or current.ttl, (address,) if address else current.values)
        self.port.update(self.lab.zone, [put_back(current, wanted)])

    @contextmanager
    def changed(self, name: str = "www", **change: Any) -> Iterator[None]:
        original = self.read(name)
        self.set(name, **change)
        try:
            yield
        finally:
            self.port.update(self.lab.zone, [put_back(self.read(name), original)])


@contextmanager
def on_host(lab: Any, host: str, do: str, undo: str) -> Iterator[None]:
    """Run `do` on a lab host, and `undo` afterwards whatever happens."""
    done = lab.ssh(host, do)
    try:
        assert done.returncode == 0, done.stderr
        yield
    finally:
        lab.ssh(host, undo)
