"""`chaton ping` against the lab: every host, and every way a host can fail to answer.

Each fault is a lab host given bad SSH settings in the lab's own inventory (addresses must stay
unique), or an added host on 127.0.0.1: the run must show the other hosts as ok, give one clear
stderr line for the faulty one, exit 4, no traceback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode

CONNECT_TIMEOUT = 2

pytestmark = pytest.mark.timeout(60)  # a hang is a failure, not a wait


def write_inventory(lab, folder: Path, faults: dict[str, dict[str, Any]]) -> Path:
    """The lab's generated inventory with a small connect timeout; `faults` change the `ssh` settings
    of lab hosts, or add hosts (given with their address)."""
    data = yaml.safe_load(lab.inventory.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = CONNECT_TIMEOUT
    for name, fault in faults.items():
        if name in data["hosts"]:
            data["hosts"][name]["ssh"] = fault
        else:
            data["hosts"][name] = fault
    path = folder / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def new_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True, capture_output=True)
    return key


def known_hosts_without(lab, folder: Path, address: str) -> Path:
    lines = [line for line in lab.known_hosts.read_text().splitlines() if not line.startswith(address + ",")]
    path = folder / "known_hosts-without"
    path.write_text("\n".join(lines) + "\n")
    return path


def known_hosts_with_other_key(lab, folder: Path, address: str) -> Path:
    impostor = new_key(folder, "impostor_host_key").with_suffix(".pub").read_text().split()
    lines = [line for line in lab.known_hosts.read_text().splitlines() if not line.startswith(address + ",")]
    lines.append(f"{address} {impostor[0]} {impostor[1]}")
    path = folder / "known_hosts-changed"
    path.write_text("\n".join(lines) + "\n")
    return path


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never says a word."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.server.close()
        for connection in self.connections:
            connection.close()
        self.thread.join(timeout=5)


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def ping(inventory: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = main(["-i", str(inventory), "ping", *args])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def assert_healthy_hosts_shown_ok(lab, out: str, *faulty: str) -> None:
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    for name, address in lab.hosts.items():
        if name not in faulty:
            assert rows[name][1:3] == [address, "ok"], out
    for name in faulty:
        assert name in rows and rows[name][2] != "ok", out


def test_every_lab_host_answers(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(lab, tmp_path, {})

    code, out, err = ping(inventory, capsys)

    assert code == ExitCode.OK
    assert err == []
    assert_healthy_hosts_shown_ok(lab, out)


def test_json_lists_every_host_with_its_latency(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(lab, tmp_path, {})

    code, out, _ = ping(inventory, capsys, "--json")

    report = json.loads(out)
    assert code == ExitCode.OK and report["ok"] is True
    assert [h["host"] for h in report["hosts"]] == list(lab.hosts)
    assert all(h["result"] == "ok" and h["latency_ms"] > 0 for h in report["hosts"])


def test_named_hosts_only_and_unknown_names_exit_2(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(lab, tmp_path, {})

    code, out, _ = ping(inventory, capsys, "--json", "vps", "dns")
    assert code == ExitCode.OK
    assert [h["host"] for h in json.loads(out)["hosts"]] == ["vps", "dns"]

    code, out, err = ping(inventory, capsys, "vps", "nosuch")
    assert code == ExitCode.USAGE
    assert out == ""
    assert err == [f"error: unknown host nosuch (known hosts: {', '.join(sorted(lab.hosts))})"]


def check_fault(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, fault: dict[str, Any],
                cause: str) -> None:
    inventory = write_inventory(lab, tmp_path, {host: fault})

    code, out, err = ping(inventory, capsys)

    assert code == ExitCode.PARTIAL  # the other hosts answered
    assert err == [f"error: {host}: {cause}"]
    assert "Traceback" not in out + "\n".join(err)
    assert_healthy_hosts_shown_ok(lab, out, host)


def test_an_unknown_host_key_is_refused(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    known_hosts = known_hosts_without(lab, tmp_path, lab.address("primary"))
    check_fault(lab, tmp_path, capsys, "primary", {"known_hosts": str(known_hosts)},
                f"host key verification failed (unknown host key for {lab.address('primary')} in {known_hosts})")
    assert lab.address("primary") not in known_hosts.read_text()  # never added


def test_a_changed_host_key_is_refused_as_a_possible_attack(lab, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    known_hosts = known_hosts_with_other_key(lab, tmp_path, lab.address("vps"))
    inventory = write_inventory(lab, tmp_path, {"vps": {"known_hosts": str(known_hosts)}})

    code, out, err = ping(inventory, capsys)

    assert code == ExitCode.PARTIAL  # the other hosts answered
    assert len(err) == 1
    assert err[0].startswith(f"error: vps: host key CHANGED for {lab.address('vps')} (known_hosts {known_hosts} has "
                             "another ssh-ed25519 key; got SHA256:")
    assert err[0].endswith("— possible man-in-the-middle; refusing")
    assert_healthy_hosts_shown_ok(lab, out, "vps")


def test_a_refused_connection_is_named(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_fault(lab, tmp_path, capsys, "primary", {"port": 2},
                f"connection refused ({lab.address('primary')} port 2)")


def test_a_key_the_host_does_not_accept_fails_authentication(lab, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    key = new_key(tmp_path, "id_stranger")
    check_fault(lab, tmp_path, capsys, "backup", {"identity": str(key)},
                f"authentication failed for root (key {key})")


def test_a_user_without_our_key_fails_authentication(lab, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    check_fault(lab, tmp_path, capsys, "dns", {"user": "nobody"},
                f"authentication failed for nobody (key {lab.identity})")


def test_a_listener_that_never_speaks_ssh_ends_within_the_timeout(lab, tmp_path: Path, silent_listener,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    check_fault(lab, tmp_path, capsys, "silent", {"address": "127.0.0.1", "ssh": {"port": silent_listener.port}},
                f"no SSH banner within {CONNECT_TIMEOUT} s (something listens but does not speak SSH)")


def test_every_fault_at_once_gives_one_line_per_faulty_host(lab, tmp_path: Path, silent_listener,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    unknown = known_hosts_without(lab, tmp_path, lab.address("primary"))
    changed = known_hosts_with_other_key(lab, tmp_path, lab.address("vps"))
    inventory = write_inventory(lab, tmp_path, {
        "primary": {"known_hosts": str(unknown)},
        "vps": {"known_hosts": str(changed)},
        "backup": {"port": 2},
        "silent": {"address": "127.0.0.1", "ssh": {"port": silent_listener.port}},
    })

    code, out, err = ping(inventory, capsys, "--jobs", "16")

    assert code == ExitCode.PARTIAL  # the other hosts answered
    causes = dict(line.removeprefix("error: ").split(": ", 1) for line in err)
    assert list(causes) == ["primary", "vps", "backup", "silent"]
    assert causes["primary"].startswith("host key verification failed")
    assert causes["vps"].startswith("host key CHANGED")
    assert causes["backup"] == f"connection refused ({lab.address('backup')} port 2)"
    assert causes["silent"].startswith("no SSH banner")
    assert_healthy_hosts_shown_ok(lab, out, "primary", "vps", "backup", "silent")


def test_quiet_prints_only_the_failures(lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(lab, tmp_path, {"primary": {"port": 2}})

    code, out, err = ping(inventory, capsys, "-q")

    assert code == ExitCode.PARTIAL  # the other hosts answered
    assert out == ""
    assert err == [f"error: primary: connection refused ({lab.address('primary')} port 2)"]
