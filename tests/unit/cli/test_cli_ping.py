"""`chaton ping` without the lab: a local host and a refused port on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode


def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    path = tmp_path / "inventory.yml"
    path.write_text(
        "version: 1\n"
        "collective: {name: T, domain: t.example, contact: a@t.example}\n"
        f"defaults: {{ssh: {{known_hosts: {known_hosts}, connect_timeout: 1}}}}\n"
        "hosts:\n"
        "  localhost: {address: localhost}\n"
        f"  closed: {{address: 127.0.0.1, ssh: {{port: {closed_port()}}}}}\n")
    return path


def test_ping_of_a_local_host_exits_0_with_a_table(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(inventory), "ping", "localhost"])

    out, err = capsys.readouterr()
    assert code == ExitCode.OK
    assert err == ""
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("localhost")] == [
        ["localhost", "localhost", "ok"]]


def test_an_unreachable_host_next_to_an_answering_one_exits_3_and_both_are_reported(
        inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(inventory), "ping", "--json"])

    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == ExitCode.PARTIAL
    assert report["ok"] is False
    assert [(h["host"], h["ok"], h["reachable"]) for h in report["hosts"]] == [
        ("localhost", True, True), ("closed", False, False)]
    assert report["hosts"][1]["result"].startswith("connection refused (127.0.0.1 port ")
    assert err.splitlines() == [f"error: closed: {report['hosts'][1]['result']}"]


def test_only_unreachable_hosts_exit_4(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(inventory), "-q", "ping", "closed"])

    out, err = capsys.readouterr()
    assert code == ExitCode.UNREACHABLE
    assert out == ""
    assert err.startswith("error: closed: connection refused")


def test_an_unknown_host_name_exits_2_listing_the_known_ones(inventory: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-i", str(inventory), "ping", "nope"])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert out == ""
    assert err.strip() == "error: unknown host nope (known hosts: closed, localhost)"


def test_a_jobs_value_below_one_is_a_usage_error(inventory: Path) -> None:
    assert main(["-i", str(inventory), "ping", "--jobs", "0"]) == ExitCode.USAGE
