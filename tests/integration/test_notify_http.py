"""Notifications against real HTTP: a recording server on 127.0.0.1, httpx pings and apprise json://."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.ops.backup_run import notify_run, ping_start

TOKEN = "9f2c1d7e-hc-token-5b8a"
APPRISE_TOKEN = "apprise-token-7c41e0"
STARTED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    body: str


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                recorded.append(Received("POST", self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def apprise_messages(self) -> list[dict[str, str]]:
        return [json.loads(request.body) for request in self.requests if request.path.startswith("/apprise/")]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer()
    recording.thread.start()
    yield recording
    recording.server.shutdown()
    recording.server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, port: int) -> LoadedInventory:
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HC_RUN_URL", f"http://127.0.0.1:{port}/ping/{TOKEN}")
    monkeypatch.setenv("HC_WWW_URL", f"http://127.0.0.1:{port}/ping/www-{TOKEN}")
    monkeypatch.setenv("APPRISE_URL", f"json://127.0.0.1:{port}/apprise/{APPRISE_TOKEN}")
    (tmp_path / "inventory.yml").write_text("""
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
secrets:
  restic-main: {env: RESTIC_UNUSED}
  hc-run: {env: HC_RUN_URL}
  hc-www: {env: HC_WWW_URL}
  admins-chat: {env: APPRISE_URL}
repositories:
  main: {url: /srv/restic/main, password: restic-main}
hosts:
  web: {address: 127.0.0.1}
notify:
  healthchecks: [hc-run]
  apprise: [admins-chat]
services:
  www: {host: web, data: [/srv/www], notify: {healthchecks: [hc-www]}}
  mail: {host: web, data: [/srv/mail]}
""", encoding="utf-8")
    return load_inventory(tmp_path / "inventory.yml")


def make_run(**statuses: str) -> RunReport:
    results = tuple(
        TargetResult(service=service, host="web", repository="main", status=status,  # type: ignore[arg-type]
                     message="Fatal: unable to open repository" if status == "failed" else "",
                     snapshot_id=None if status == "failed" else "1a2b3c4d")
        for service, status in statuses.items()
    )
    return RunReport(command="backup", started=STARTED, ended=STARTED + timedelta(seconds=30), results=results)


def test_start_pings_reach_the_run_and_service_urls(server: RecordingServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, server.port)

    problems = ping_start(loaded, ["www", "mail"])

    assert problems == []
    assert sorted(server.paths()) == sorted([f"/ping/{TOKEN}/start", f"/ping/www-{TOKEN}/start"])


def test_a_failed_service_pings_fail_and_names_the_service_in_the_message(
        server: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, server.port)

    problems = notify_run(loaded, make_run(www="failed", mail="ok"))

    assert problems == []
    assert f"/ping/{TOKEN}/fail" in server.paths()
    assert f"/ping/www-{TOKEN}/fail" in server.paths()
    run_ping = next(r for r in server.requests if r.path == f"/ping/{TOKEN}/fail")
    assert "www on web → main: failed: Fatal: unable to open repository" in run_ping.body
    [message] = server.apprise_messages()
    assert message["type"] == "failure"
    assert "Ti Nuage" in message["title"] and "failed: www" in message["title"]
    assert "www on web → main: failed: Fatal: unable to open repository" in message["message"]
    assert "mail" not in message["title"]


def test_steady_success_pings_success_and_sends_no_message(
        server: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, server.port)
    notify_run(loaded, make_run(www="ok", mail="ok"))
    server.requests.clear()

    problems = notify_run(loaded, make_run(www="ok", mail="ok"))

    assert problems == []
    assert sorted(server.paths()) == sorted([f"/ping/{TOKEN}", f"/ping/www-{TOKEN}"])
    assert server.apprise_messages() == []


def test_a_service_that_failed_last_time_sends_a_recovery(
        server: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, server.port)
    notify_run(loaded, make_run(www="failed", mail="ok"))
    server.requests.clear()

    problems = notify_run(loaded, make_run(www="ok", mail="ok"))

    assert problems == []
    [message] = server.apprise_messages()
    assert message["type"] == "success"
    assert "recovered: www" in message["title"]
    assert "Recovered:\n- www on web → main: ok: snapshot 1a2b3c4d" in message["message"]
    assert f"/ping/{TOKEN}" in server.paths()


def test_the_recovery_is_told_once(server: RecordingServer, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, server.port)
    notify_run(loaded, make_run(www="failed"))
    notify_run(loaded, make_run(www="ok"))
    server.requests.clear()

    notify_run(loaded, make_run(www="ok"))

    assert server.apprise_messages() == []


def test_a_server_that_is_down_gives_problems_without_the_urls(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    loaded = write_inventory(tmp_path, monkeypatch, closed_port())
    caplog.set_level(logging.DEBUG)

    problems = notify_run(loaded, make_run(www="failed", mail="ok"))

    assert len(problems) == 3  # run ping, www's ping, the apprise message
    assert any("healthchecks ping 'hc-run' (fail, run) failed" in problem for problem in problems)
    assert any("apprise 'admins-chat' (failure) failed" in problem for problem in problems)
    everything = "\n".join(problems) + "\n" + caplog.text
    assert TOKEN not in everything
    assert APPRISE_TOKEN not in everything
    assert "127.0.0.1:" not in "\n".join(problems)


def test_the_run_still_records_statuses_when_delivery_fails(
        server: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_inventory(tmp_path, monkeypatch, server.port)
    down = write_inventory(tmp_path, monkeypatch, closed_port())
    notify_run(down, make_run(www="failed"))
    up = write_inventory(tmp_path, monkeypatch, server.port)

    notify_run(up, make_run(www="ok"))

    [message] = server.apprise_messages()
    assert "recovered: www" in message["title"]
