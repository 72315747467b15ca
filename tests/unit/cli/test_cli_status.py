"""`chaton status` without the lab: this machine as host `localhost` (the facts script runs for real
through the local transport), a real HTTP server and a closed port on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode


def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = b"<h1>Ti Nuage</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "state"


def write_inventory(tmp_path: Path, web: int, *, broken: bool = False, unreachable: bool = False) -> Path:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    services = f"  site: {{host: localhost, check: {{http: {{url: 'http://127.0.0.1:{web}/', contains: Ti Nuage}}}}}}\n"
    if broken:
        services += f"  chat: {{host: localhost, check: {{tcp: {{host: 127.0.0.1, port: {closed_port()}}}}}}}\n"
    hosts = "  localhost: {address: localhost}\n"
    if unreachable:
        hosts += f"  gone: {{address: 127.0.0.1, ssh: {{port: {closed_port()}}}}}\n"
        services += f"  gone-site: {{host: gone, check: {{tcp: {{host: 127.0.0.1, port: {closed_port()}}}}}}}\n"
    path = tmp_path / "inventory.yml"
    path.write_text(
        "version: 1\n"
        "collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}\n"
        f"defaults: {{ssh: {{known_hosts: {known_hosts}, connect_timeout: 1}}, resolver_lookup: localhost,\n"
        "           thresholds: {disk_percent: 99.9, disk_critical_percent: 100, memory_percent: 100,\n"
        "                        load_per_cpu: 1000, uptime_days: 100000}}\n"
        f"hosts:\n{hosts}services:\n{services}")
    return path


def test_a_healthy_machine_exits_0_with_a_table_per_section(tmp_path: Path, web: int,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(write_inventory(tmp_path, web)), "status"])

    out, err = capsys.readouterr()
    assert code == ExitCode.OK, out + err
    assert "Hosts" in out and "Services" in out
    assert "localhost" in out and "site" in out and "HTTP 200" in out
    assert out.rstrip().splitlines()[-1].startswith("ok: ")


def test_json_has_every_finding_and_the_exit_code(tmp_path: Path, web: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(write_inventory(tmp_path, web, broken=True)), "status", "--json"])

    data = json.loads(capsys.readouterr().out)
    assert code == ExitCode.FAILED == data["exit_code"]
    assert data["level"] == "critical"
    checks = {(f["subject"], f["check"]): f["level"] for f in data["findings"]}
    assert checks[("chat", "tcp")] == "critical" and checks[("site", "http")] == "ok"
    assert checks[("localhost", "resolver")] == "ok" and ("localhost", "disk") in checks


def test_quiet_prints_only_problems(tmp_path: Path, web: int, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(tmp_path, web, broken=True)

    code = main(["-i", str(inventory), "-q", "status"])

    out, _ = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert "chat" in out and "connection refused" in out
    assert "site" not in out and "Hosts" not in out
    inventory = write_inventory(tmp_path, web)
    assert main(["-i", str(inventory), "status", "-q"]) == ExitCode.OK
    assert capsys.readouterr().out == ""


def test_an_unreachable_host_exits_4_and_is_one_finding(tmp_path: Path, web: int,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(write_inventory(tmp_path, web, unreachable=True)), "status", "--json"])

    data = json.loads(capsys.readouterr().out)
    assert code == ExitCode.UNREACHABLE
    assert data["unreachable_hosts"] == ["gone"]
    problems = [f for f in data["findings"] if f["level"] != "ok"]
    assert [(f["subject"], f["check"]) for f in problems] == [("gone", "reachable")]
    assert problems[0]["affects"] == ["gone-site"] and "connection refused" in problems[0]["summary"]


def test_nagios_format_prints_one_line_and_plugin_exit_codes(tmp_path: Path, web: int,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", str(write_inventory(tmp_path, web)), "status", "--format", "nagios"]) == 0
    ok_line = capsys.readouterr().out
    assert main(["-i", str(write_inventory(tmp_path, web, broken=True)), "status", "--format", "nagios"]) == 2
    critical_line = capsys.readouterr().out

    assert ok_line.startswith("CHATON OK - ") and len(ok_line.splitlines()) == 1
    assert critical_line.startswith("CHATON CRITICAL - 1 critical") and "chat tcp" in critical_line
    assert "'site_http_http://127.0.0.1:" in critical_line.split(" | ")[1]


def test_html_page_and_metrics_file(tmp_path: Path, web: int, capsys: pytest.CaptureFixture[str]) -> None:
    page, metrics = tmp_path / "www" / "status.html", tmp_path / "metrics" / "chaton_status.prom"
    page.parent.mkdir()
    metrics.parent.mkdir()  # chaton writes into folders that exist; it does not make them

    code = main(["-i", str(write_inventory(tmp_path, web, broken=True)), "-q", "status", "--html", str(page),
                 "--metrics-file", str(metrics)])

    assert code == ExitCode.FAILED
    html = page.read_text()
    assert "<li class=\"service down\"><div class=\"head\"><span class=\"name\">chat</span>" in html
    assert "<span class=\"name\">site</span><span class=\"state\">Working normally</span>" in html
    text = metrics.read_text()
    assert 'chaton_status_level{section="services",subject="chat",check="tcp",item="127.0.0.1:' in text
    assert "# TYPE chaton_status_level gauge" in text and "chaton_status_last_run_timestamp_seconds " in text
    assert any(line.startswith('chaton_status_value{section="hosts",subject="localhost",check="disk"')
               for line in text.splitlines())


def test_silence_is_kept_between_runs_and_marks_the_findings(tmp_path: Path, web: int, state: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(tmp_path, web, broken=True)

    main(["-i", str(inventory), "status", "--silence", "chat", "2h"])
    capsys.readouterr()
    main(["-i", str(inventory), "status", "--json"])

    data = json.loads(capsys.readouterr().out)
    [chat] = [f for f in data["findings"] if f["subject"] == "chat"]
    assert chat["silenced"].startswith("chat silenced until")
    assert "chat" in json.loads((state / "status.json").read_text())["silences"]
    main(["-i", str(inventory), "status", "--silence", "chat", "0"])
    assert json.loads((state / "status.json").read_text())["silences"] == {}


@pytest.mark.parametrize(("args", "message"), [
    (["--silence", "nobody", "2h"], "no host or service called 'nobody'"),
    (["--silence", "site", "two hours"], "not a duration"),
    (["--host", "nope"], "unknown host: nope"),
    (["--service", "nope"], "unknown service: nope"),
    (["--format", "xml"], "xml"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, web: int, args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(write_inventory(tmp_path, web)), "status", *args])

    _, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert message in err and "Traceback" not in err
