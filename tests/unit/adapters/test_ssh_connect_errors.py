"""Connection failures the SSH transport can meet without any sshd: each is one ConnectError."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaton_ops.adapters.ssh import SshTransport
from chaton_ops.errors import ConnectError, ExitCode


class Listener:
    """A TCP listener on 127.0.0.1 that accepts, then stays silent or hangs up at once."""

    def __init__(self, hang_up: bool) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.hang_up = hang_up
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        if self.hang_up:
            connection.close()
        else:
            self.accepted.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.accepted:
            connection.close()
        self.thread.join(timeout=5)


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


@pytest.fixture
def silent_listener() -> Iterator[Listener]:
    listener = Listener(hang_up=False)
    yield listener
    listener.close()


@pytest.fixture
def hanging_up_listener() -> Iterator[Listener]:
    listener = Listener(hang_up=True)
    yield listener
    listener.close()


def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def transport(port: int, known_hosts: Path, **settings: object) -> SshTransport:
    return SshTransport("test-host", "127.0.0.1", port=port, known_hosts=known_hosts,
                        connect_timeout=0.5, **settings)  # type: ignore[arg-type]


def test_a_closed_port_is_reported_as_connection_refused(known_hosts: Path) -> None:
    port = closed_port()
    with pytest.raises(ConnectError) as raised:
        transport(port, known_hosts).run(["true"])

    assert raised.value.host == "test-host"
    assert raised.value.cause == f"connection refused (127.0.0.1 port {port})"
    assert raised.value.exit_code == ExitCode.UNREACHABLE


def test_a_listener_that_never_speaks_ssh_ends_with_no_banner(known_hosts: Path, silent_listener: Listener) -> None:
    with pytest.raises(ConnectError) as raised:
        transport(silent_listener.port, known_hosts).run(["true"])

    assert raised.value.cause == "no SSH banner within 0.5 s (something listens but does not speak SSH)"


def test_a_listener_that_hangs_up_is_told_apart_from_a_silent_one(known_hosts: Path,
                                                                  hanging_up_listener: Listener) -> None:
    with pytest.raises(ConnectError) as raised:
        transport(hanging_up_listener.port, known_hosts).run(["true"])

    assert "before the SSH banner" in raised.value.cause


def test_a_missing_known_hosts_file_fails_host_key_verification(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "known_hosts"
    with pytest.raises(ConnectError) as raised:
        transport(22, missing).run(["true"])

    assert raised.value.cause == f"host key verification failed (known_hosts file {missing} does not exist)"


def test_a_missing_identity_file_is_named(known_hosts: Path, tmp_path: Path) -> None:
    identity = tmp_path / "id_missing"
    with pytest.raises(ConnectError) as raised:
        transport(22, known_hosts, identity=identity).run(["true"])

    assert raised.value.cause == f"identity file {identity} does not exist"


def test_a_failed_connection_leaves_no_transport_open(known_hosts: Path, silent_listener: Listener) -> None:
    ssh = transport(silent_listener.port, known_hosts)
    with pytest.raises(ConnectError):
        ssh.run(["true"])

    assert ssh._connection is None
    # paramiko's reader thread notices its closed socket within its 0.1 s poll; give it a moment
    for thread in [t for t in threading.enumerate() if type(t).__module__.startswith("paramiko")]:
        thread.join(timeout=5)
        assert not thread.is_alive()
