"""The SSH transport against the lab's real sshd: commands, stdin, secrets, files, reuse, timeouts."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from chaton_ops.adapters.hosts import HostPool
from chaton_ops.adapters.ssh import SshTransport
from chaton_ops.core.loader import load_inventory
from chaton_ops.errors import CommandFailed, ConnectError


@pytest.fixture
def pool(lab) -> Iterator[HostPool]:
    with HostPool(load_inventory(lab.inventory)) as hosts:
        yield hosts


def test_every_lab_host_runs_a_command_under_its_own_name(lab, pool: HostPool) -> None:
    for name in lab.hosts:
        result = pool.transport(name).run(["uname", "-n"])

        assert result.ok
        assert result.stdout.strip() == name


def test_the_pool_gives_one_transport_per_host_and_reuses_its_connection(pool: HostPool) -> None:
    transport = pool.transport("primary")
    first = transport.run(["sh", "-c", 'echo "$SSH_CONNECTION"']).stdout
    transport.put(b"x", f"/tmp/reuse-{uuid.uuid4().hex}")
    second = pool.transport("primary").run(["sh", "-c", 'echo "$SSH_CONNECTION"']).stdout

    assert pool.transport("primary") is transport
    # same client address *and port*: the same TCP connection served both commands
    assert first == second and first.strip()


def test_argv_reaches_the_host_intact_without_a_shell_interpreting_it(pool: HostPool) -> None:
    tricky = ["a b", "$HOME", "`id`", "it's", "; rm -rf /nothing", "*", ""]
    result = pool.transport("primary").run(["printf", "[%s]\\n", *tricky])

    assert result.stdout.splitlines() == [f"[{arg}]" for arg in tricky]


def test_binary_stdin_reaches_the_command_byte_for_byte(pool: HostPool) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB with every byte value
    result = pool.transport("vps").run(["sha256sum"], stdin=data)

    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_without_stdin_the_command_sees_end_of_file_at_once(pool: HostPool) -> None:
    result = pool.transport("vps").run(["cat"], timeout=10)

    assert result.stdout == ""


def test_plain_environment_reaches_the_command(pool: HostPool) -> None:
    result = pool.transport("primary").run(["sh", "-c", 'echo "$GREETING"'], env={"GREETING": "salut à tous"})

    assert result.stdout == "salut à tous\n"


def test_a_non_zero_exit_is_returned_without_check_and_raised_with_it(pool: HostPool) -> None:
    transport = pool.transport("primary")
    result = transport.run(["sh", "-c", "echo out; echo problem >&2; exit 3"], check=False)

    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "problem\n")
    with pytest.raises(CommandFailed) as raised:
        transport.run(["sh", "-c", "echo problem >&2; exit 3"])
    assert raised.value.returncode == 3
    assert raised.value.stderr_tail == "problem"
    assert raised.value.host == "primary"


def test_secret_env_reaches_the_command_but_never_its_command_line(lab, pool: HostPool) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    transport = pool.transport("primary")
    outcome: dict[str, object] = {}

    def long_command() -> None:
        outcome["result"] = transport.run(
            ["sh", "-c", 'printf %s "$TOKEN" | sha256sum; sleep 3', marker],
            secret_env={"TOKEN": secret}, stdin=b"", timeout=30)

    worker = threading.Thread(target=long_command)
    worker.start()
    try:
        process_lists: list[str] = []
        for _ in range(100):
            listing = lab.ssh("primary", "ps", "-eo", "args", check=True).stdout
            process_lists.append(listing)
            if marker in listing:
                break
            time.sleep(0.05)
    finally:
        worker.join(timeout=30)

    assert any(marker in listing for listing in process_lists), "the command never showed up in ps"
    assert not any(secret in listing for listing in process_lists)
    result = outcome["result"]
    assert result.stdout.split()[0] == hashlib.sha256(secret.encode()).hexdigest()  # type: ignore[attr-defined]
    assert secret not in (lab.state_dir / "hosts" / "primary" / "init.log").read_text(errors="replace")


def test_secret_env_is_followed_by_the_callers_stdin(pool: HostPool) -> None:
    result = pool.transport("primary").run(
        ["sh", "-c", 'printf "%s|" "$ONE" "$TWO"; cat'],
        secret_env={"ONE": "first-secret", "TWO": "second secret"}, stdin=b"payload\n")

    assert result.stdout == "first-secret|second secret|payload\n"


def test_a_failing_command_never_shows_the_secret_in_the_error(pool: HostPool) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    with pytest.raises(CommandFailed) as raised:
        pool.transport("primary").run(["sh", "-c", 'echo "cannot use $TOKEN" >&2; exit 12'],
                                      secret_env={"TOKEN": secret})

    assert secret not in str(raised.value)
    assert secret not in " ".join(raised.value.argv)
    assert "cannot use ******" in str(raised.value)


def test_a_command_past_its_timeout_is_stopped_and_the_connection_stays_usable(pool: HostPool) -> None:
    transport = pool.transport("vps")
    with pytest.raises(ConnectError) as raised:
        transport.run(["sleep", "30"], timeout=1)

    assert raised.value.cause == "`sleep 30` did not finish within 1 s"
    assert transport.run(["true"]).ok


def test_put_writes_atomically_with_the_mode_and_creates_folders(lab, pool: HostPool) -> None:
    folder = f"/srv/put-{uuid.uuid4().hex[:8]}"
    transport = pool.transport("primary")
    transport.put(b"first\n", f"{folder}/conf/app.conf", mode=0o600)
    transport.put(b"second\n", f"{folder}/conf/app.conf", mode=0o640)

    on_host = lab.host_path("primary", f"{folder}/conf/app.conf")
    assert on_host.read_bytes() == b"second\n"
    assert on_host.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in on_host.parent.iterdir()] == ["app.conf"]  # no temporary left behind
    assert not lab.host_path("vps", f"{folder}/conf/app.conf").exists()


def test_get_reads_a_file_and_names_a_missing_one(lab, pool: HostPool) -> None:
    data = bytes(range(256)) * 300
    path = lab.host_path("vps", "/srv/get-me.bin")
    path.write_bytes(data)
    transport = pool.transport("vps")

    assert transport.get("/srv/get-me.bin") == data
    with pytest.raises(CommandFailed) as raised:
        transport.get("/srv/does-not-exist")
    assert raised.value.argv == ["get", "/srv/does-not-exist"]
    assert "No such file" in raised.value.stderr_tail


def test_a_closed_transport_reconnects_on_next_use(pool: HostPool) -> None:
    transport = pool.transport("dns")
    before = transport.run(["sh", "-c", 'echo "$SSH_CONNECTION"']).stdout
    transport.close()
    after = transport.run(["sh", "-c", 'echo "$SSH_CONNECTION"']).stdout

    assert before != after  # a new connection, from a new client port


def test_the_host_key_must_match_the_inventory_known_hosts(lab, tmp_path) -> None:
    others = [line for line in lab.known_hosts.read_text().splitlines() if not line.startswith(f"{lab.address('primary')},")]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("\n".join(others) + "\n")
    transport = SshTransport("primary", lab.address("primary"), identity=lab.identity,
                             known_hosts=known_hosts, connect_timeout=2)

    with pytest.raises(ConnectError) as raised:
        transport.run(["true"])

    assert raised.value.cause == f"host key verification failed (unknown host key for {lab.address('primary')} in {known_hosts})"
    assert known_hosts.read_text() == "\n".join(others) + "\n"  # nothing was added


class PortForward:
    """127.0.0.1:<port> → a lab host's sshd, to reach it on a port other than 22."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def forward_to_primary(lab) -> Iterator[PortForward]:
    forward = PortForward((lab.address("primary"), 22))
    yield forward
    forward.close()


def primary_host_key(lab) -> str:
    line = next(line for line in lab.known_hosts.read_text().splitlines() if line.startswith(f"{lab.address('primary')},"))
    return " ".join(line.split()[1:3])


def test_on_a_port_other_than_22_the_host_key_is_looked_up_as_bracketed_address_and_port(
        lab, tmp_path, forward_to_primary: PortForward) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{forward_to_primary.port} {primary_host_key(lab)}\n")
    transport = SshTransport("primary", "127.0.0.1", port=forward_to_primary.port, identity=lab.identity,
                             known_hosts=known_hosts, connect_timeout=2)
    try:
        assert transport.run(["uname", "-n"]).stdout == "primary\n"
    finally:
        transport.close()


def test_on_another_port_a_key_listed_for_the_bare_address_does_not_count(
        lab, tmp_path, forward_to_primary: PortForward) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"127.0.0.1 {primary_host_key(lab)}\n")
    transport = SshTransport("primary", "127.0.0.1", port=forward_to_primary.port, identity=lab.identity,
                             known_hosts=known_hosts, connect_timeout=2)

    with pytest.raises(ConnectError) as raised:
        transport.run(["true"])

    assert raised.value.cause == (f"host key verification failed (unknown host key for "
                                  f"[127.0.0.1]:{forward_to_primary.port} in {known_hosts})")
