"""The SSH transport: commands and files on a host over fabric 3 / paramiko.

Security choices (DESIGN.md, LAB-NOTES.md):
- host keys are checked against the inventory's known_hosts only, loaded read-only into paramiko,
  with a reject policy: an unknown or changed key ends the connection, nothing is ever added;
- no agent forwarding, no TTY, no password prompts (paramiko never prompts; an identity from the
  inventory is the only key offered, like `IdentitiesOnly yes`);
- fabric's config files and ~/.ssh/config are not read: the inventory is the one source of truth;
- secret environment values travel through the command's stdin to a tiny `sh` wrapper, so they
  never appear in the remote command line, `ps`, logs or errors.

Commands run on a raw paramiko channel rather than through fabric's `Connection.run`: invoke's
runner feeds stdin one byte per 10 ms and decodes it as text, which would corrupt binary stdin
(tar, dumps) and crawl on anything large. With that, fabric added nothing but its import (and
invoke's: unittest.mock, asyncio, ≈ 35 ms at every start), so the client is paramiko's own.
"""

from __future__ import annotations

import errno
import logging
import re
import select
import shlex
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from chaton_ops.adapters.paramiko_import import paramiko
from chaton_ops.core.masking import mask_argv, mask_text, register_secret
from chaton_ops.core.ports import CommandResult
from chaton_ops.core.yaml_source import describe_file_kind
from chaton_ops.errors import CommandFailed, ConnectError, SecretError, UsageError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# SFTP reads and writes have no timeout parameter in the port; bound them anyway so that a host
# that stops answering mid-transfer cannot hang a run forever.
SFTP_TIMEOUT = 120.0
READ_CHUNK = 65536
EXIT_DRAIN_SECONDS = 1.0  # after the exit status, how long to wait for the output's end (EOF)
# paramiko's transport thread logs every failed handshake at ERROR, with a traceback. We report the
# failure once, as a ConnectError; its own lines are demoted to DEBUG (shown with -vv).
WIRE_LOG_CHANNEL = "chaton_ops.ssh.paramiko"


class DemoteToDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger(WIRE_LOG_CHANNEL).addFilter(DemoteToDebug())


class UnknownHostKey(paramiko.SSHException):
    """The server's key is not in known_hosts (raised by the reject policy instead of adding it)."""


class RejectUnknownHostKey(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, with an exception we can tell apart from other SSH failures."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(f"{hostname} {key.get_name()} {key.fingerprint}")


def secret_wrapper(names: Sequence[str]) -> list[str]:
    """argv prefix reading one line per secret from stdin, exporting it, then exec'ing the command."""
    reads = " && ".join(f"IFS= read -r {name} && export {name}" for name in names)
    return ["sh", "-c", f'{reads} && exec "$@"', "sh"]


def build_remote_command(
    argv: Sequence[str], env: Mapping[str, str] | None, secret_env: Mapping[str, str] | None
) -> tuple[str, bytes]:
    """The remote command line and the stdin prefix that carries the secrets (empty if none)."""
    if not argv:
        raise UsageError("empty command")
    for name in [*(env or {}), *(secret_env or {})]:
        if not ENV_NAME.match(name):
            raise UsageError(f"invalid environment variable name {name!r}")
    command = list(argv)
    if env:
        command = ["env", *(f"{name}={value}" for name, value in env.items()), *command]
    prefix = b""
    if secret_env:
        for name, value in secret_env.items():
            if "\n" in value or "\0" in value:
                raise SecretError(f"the value of {name} contains a newline or NUL; it cannot be passed over stdin")
        command = [*secret_wrapper(list(secret_env)), *command]
        prefix = "".join(f"{value}\n" for value in secret_env.values()).encode()
    return shlex.join(command), prefix


class SshTransport:
    """One SSH connection to one host, opened on first use and reused by every run/put/get."""

    def __init__(
        self,
        host: str,
        address: str,
        *,
        user: str = "root",
        port: int = 22,
        identity: Path | None = None,
        known_hosts: Path,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.address = address
        self.user = user
        self.port = port
        self.identity = identity
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self._connection: paramiko.SSHClient | None = None
        self._sftp_client: paramiko.SFTPClient | None = None
        # a failure of `connect()` run ahead of time, handed to the first user instead of connecting
        # again (which would double the wait for a host that does not answer)
        self._early_failure: ConnectError | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._sftp_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SshTransport({self.host!r}, {self.user}@{self.address}:{self.port})"

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        """Open the connection now (e.g. in a background thread while the caller prepares its work).

        A failure is kept and raised by every later run/put/get, which then do not wait out the
        connection timeout again. Nothing is opened once the owner has closed this transport.
        """
        with self._lock:
            if self._closed or (self._connection is not None and _is_connected(self._connection)):
                return
            try:
                self._connection = self._open()
            except ConnectError as failure:
                self._early_failure = failure
            except Exception as failure:  # noqa: BLE001 - a background thread must not print a traceback
                self._early_failure = ConnectError(self.host, mask_text(f"{type(failure).__name__}: {failure}"))

    def _connected(self) -> paramiko.SSHClient:
        with self._lock:
            self._closed = False
            if self._early_failure is not None:
                raise self._early_failure
            if self._connection is not None and _is_connected(self._connection):
                return self._connection
            if self._connection is not None:
                self._close_connection(self._connection)
                self._sftp_client = None
            self._connection = self._open()
            return self._connection

    def _open(self) -> paramiko.SSHClient:
        host_keys = self._host_key_file()
        identity = self._identity_file()
        sock = self._open_socket()
        connect_kwargs: dict[str, Any] = {
            "hostname": self.address,
            "port": self.port,
            "username": self.user,
            "sock": sock,
            # the handshake wait outlasts the banner wait by a little, so that a silent peer is
            # reported by the banner timeout (clean) rather than by a race between the two
            "timeout": self.connect_timeout + 1,
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "channel_timeout": self.connect_timeout,
            # with an identity from the inventory, offer that key only (IdentitiesOnly);
            # without one, fall back to the agent and ~/.ssh keys like ssh does
            "allow_agent": identity is None,
            "look_for_keys": identity is None,
        }
        if identity is not None:
            connect_kwargs["key_filename"] = [str(identity)]
        # no ssh_config is read and no agent is forwarded: the inventory is the one source of truth
        connection = paramiko.SSHClient()
        # never accept a key that is not in known_hosts
        connection.set_missing_host_key_policy(RejectUnknownHostKey())
        connection.set_log_channel(WIRE_LOG_CHANNEL)
        try:
            connection.load_system_host_keys(str(host_keys))
        except (OSError, paramiko.SSHException) as error:
            sock.close()
            raise ConnectError(self.host, f"host key verification failed (cannot read {host_keys}: {error})") from None
        started = time.monotonic()
        try:
            connection.connect(**connect_kwargs)
        except Exception as error:  # noqa: BLE001 - every failure becomes one ConnectError
            transport = connection.get_transport()
            got_banner = bool(transport is not None and transport.remote_version)
            self._close_connection(connection)
            sock.close()
            raise ConnectError(self.host, self._explain(error, got_banner, time.monotonic() - started)) from None
        return connection

    def _host_key_file(self) -> Path:
        if not self.known_hosts.is_file():
            raise ConnectError(self.host, f"host key verification failed (known_hosts file {self.known_hosts} does not exist)")
        return self.known_hosts

    def _identity_file(self) -> Path | None:
        if self.identity is not None and not self.identity.is_file():
            raise ConnectError(self.host, f"identity file {self.identity} does not exist")
        return self.identity

    def _open_socket(self) -> socket.socket:
        # The TCP part is done here so that its failures are told apart cleanly from SSH ones.
        try:
            sock = socket.create_connection((self.address, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise ConnectError(self.host, f"timed out after {self.connect_timeout:g} s "
                                          f"(no answer from {self.address} port {self.port})") from None
        except socket.gaierror as error:
            raise ConnectError(self.host, f"cannot resolve {self.address}: {error.strerror}") from None
        except OSError as error:
            if error.errno == errno.ECONNREFUSED:
                raise ConnectError(self.host, f"connection refused ({self.address} port {self.port})") from None
            if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise ConnectError(self.host, f"no route to {self.address}") from None
            raise ConnectError(self.host, f"cannot connect to {self.address} port {self.port}: "
                                          f"{error.strerror or error}") from None
        # Like OpenSSH: no Nagle. A command is sent as a few small packets (exec request, the
        # secrets on stdin, EOF); with Nagle each waits for the peer's delayed ACK, ≈ 40 ms apiece.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _QuickAckSocket.adopt(sock)

    def _explain(self, error: Exception, got_banner: bool, elapsed: float) -> str:
        timeout = f"{self.connect_timeout:g} s"
        if isinstance(error, UnknownHostKey):
            return (f"host key verification failed (unknown host key for {self._key_name()} "
                    f"in {self.known_hosts})")
        if isinstance(error, paramiko.BadHostKeyException):
            return (f"host key CHANGED for {self._key_name()} (known_hosts {self.known_hosts} has another "
                    f"{error.expected_key.get_name()} key; got {error.key.fingerprint}) — "
                    "possible man-in-the-middle; refusing")
        if isinstance(error, paramiko.PasswordRequiredException):
            return f"key {self.identity} is protected by a passphrase (load it into an agent)"
        if isinstance(error, paramiko.AuthenticationException):
            key = f"key {self.identity}" if self.identity else "agent or ~/.ssh keys"
            return f"authentication failed for {self.user} ({key})"
        if not got_banner:
            if elapsed >= self.connect_timeout * 0.9:
                return f"no SSH banner within {timeout} (something listens but does not speak SSH)"
            return f"connection closed by {self.address} port {self.port} before the SSH banner"
        if isinstance(error, TimeoutError | socket.timeout) or "No existing session" in str(error):
            return f"SSH handshake did not finish within {timeout}"
        return f"SSH handshake failed: {error}"

    def _key_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @staticmethod
    def _close_connection(connection: paramiko.SSHClient) -> None:
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._close_connection(self._connection)
                self._connection = None
                self._sftp_client = None

    # ------------------------------------------------------------------ commands
    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        return self._execute(argv, env=env, secret_env=secret_env, stdin=stdin, timeout=timeout, check=check)

    def run_streaming(
        self,
        argv: Sequence[str],
        on_output: Callable[[bytes], None],
        *,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        keep_output: bool = True,
    ) -> CommandResult:
        """`run`, handing stdout to `on_output` chunk by chunk while the command runs (`keep_output=False`:
        not kept in the result as well, for output larger than memory such as an archive)."""
        return self._execute(argv, env=env, secret_env=secret_env, stdin=stdin, timeout=timeout, check=check,
                             on_output=on_output, keep_output=keep_output)

    def _execute(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        secret_env: Mapping[str, str] | None,
        stdin: bytes | None,
        timeout: float | None,
        check: bool,
        on_output: Callable[[bytes], None] | None = None,
        keep_output: bool = True,
    ) -> CommandResult:
        for value in (secret_env or {}).values():
            register_secret(value)
        shown = tuple(mask_argv(list(argv)))
        command, secret_lines = build_remote_command(argv, env, secret_env)
        connection = self._connected()
        started = time.monotonic()
        try:
            channel = connection.get_transport().open_session(timeout=self.connect_timeout)  # type: ignore[union-attr]
        except Exception as error:  # noqa: BLE001 - a dead connection is reported like a failed one
            self.close()
            raise ConnectError(self.host, f"cannot open an SSH session: {mask_text(str(error)) or type(error).__name__}") from None
        try:
            channel.exec_command(command)
            feeder = _start_stdin_feeder(channel, secret_lines + (stdin or b""))
            returncode, stdout, stderr = _collect(channel, started, timeout, on_output, keep_output)
            feeder.join(timeout=1)
        except TimeoutError:
            raise ConnectError(self.host, f"`{shlex.join(shown)}` did not finish within {timeout:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            self.close()
            raise ConnectError(self.host, f"connection lost while running `{shlex.join(shown)}`: "
                                          f"{mask_text(str(error)) or type(error).__name__}") from None
        finally:
            channel.close()
        result = CommandResult(
            host=self.host,
            argv=shown,
            returncode=returncode,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=mask_text(stderr.decode("utf-8", "replace")),
            duration=time.monotonic() - started,
        )
        if check and not result.ok:
            raise CommandFailed(self.host, list(shown), result.returncode, result.stderr_tail())
        return result

    # ------------------------------------------------------------------ files
    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        """Write a file atomically: a temporary name in the same folder, chmod, then posix-rename."""
        target = PurePosixPath(remote_path)
        temporary = str(target.parent / f".{target.name}.chaton-{uuid.uuid4().hex[:12]}")
        with self._sftp_lock:
            sftp = self._sftp()
            try:
                _make_parents(sftp, target.parent)
                _refuse_unless_regular(sftp, str(target), "put")
                with sftp.open(temporary, "wb") as handle:
                    handle.set_pipelined(True)
                    handle.write(data)
                sftp.chmod(temporary, mode)
                sftp.posix_rename(temporary, str(target))
            except OSError as error:
                _remove_quietly(sftp, temporary)
                raise CommandFailed(self.host, ["put", remote_path], 1, _sftp_reason(error)) from None

    def get(self, remote_path: str) -> bytes:
        with self._sftp_lock:
            sftp = self._sftp()
            try:
                size = _refuse_unless_regular(sftp, remote_path, "get")
                if size is not None and size > GET_LIMIT:
                    raise OSError(f"{size} bytes, more than the {GET_LIMIT} chaton reads")
                with sftp.open(remote_path, "rb") as handle:
                    handle.prefetch()
                    return handle.read(GET_LIMIT)
            except OSError as error:
                raise CommandFailed(self.host, ["get", remote_path], 1, _sftp_reason(error)) from None

    def _sftp(self) -> paramiko.SFTPClient:
        connection = self._connected()
        if self._sftp_client is not None:
            return self._sftp_client
        try:
            sftp = connection.open_sftp()
        except Exception as error:  # noqa: BLE001
            raise ConnectError(self.host, f"cannot start SFTP: {error or type(error).__name__}") from None
        channel = sftp.get_channel()
        if channel is not None:
            channel.settimeout(SFTP_TIMEOUT)
        self._sftp_client = sftp
        return sftp


def _is_connected(connection: paramiko.SSHClient) -> bool:
    transport = connection.get_transport()
    return transport is not None and transport.is_active()


class _QuickAckSocket(socket.socket):
    """A TCP socket that acknowledges what it receives at once (Linux TCP_QUICKACK, else a plain socket).

    sshd keeps Nagle on for sessions without a TTY. Right after authentication it sends messages
    that need no answer (`hostkeys-00@openssh.com`, debug lines); our delayed ACK of those (≈ 40 ms)
    then holds back its confirmation of our first channel, so every run's first command waited
    ≈ 40 ms for nothing. An immediate ACK releases it.
    """

    @classmethod
    def adopt(cls, plain: socket.socket) -> socket.socket:
        if not hasattr(socket, "TCP_QUICKACK"):
            return plain
        timeout = plain.gettimeout()
        adopted = cls(plain.family, plain.type, plain.proto, fileno=plain.detach())
        adopted.settimeout(timeout)
        return adopted

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = super().recv(size, flags)
        if data:
            # not sticky: the kernel returns to delayed ACKs, so it is asked again after each read
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data


def _start_stdin_feeder(channel: paramiko.Channel, data: bytes) -> threading.Thread:
    """Write stdin in a thread (a large stdin must not block reading the output), then send EOF."""

    def feed() -> None:
        try:
            if data:
                channel.sendall(data)
            channel.shutdown_write()
        except (OSError, paramiko.SSHException, EOFError):
            pass  # the command exited without reading all of its stdin; its exit code tells the story

    feeder = threading.Thread(target=feed, name="chaton-ssh-stdin", daemon=True)
    feeder.start()
    return feeder


def _collect(channel: paramiko.Channel, started: float, timeout: float | None,
             on_output: Callable[[bytes], None] | None = None, keep_output: bool = True) -> tuple[int, bytes, bytes]:
    """Read stdout and stderr until the command exits; TimeoutError past `timeout` seconds."""
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    deadline = None if timeout is None else started + timeout
    # sshd may send the exit status before the last of the output (it reports the child's exit as soon
    # as it happens, and drains the pipes after): after the status, read on until EOF. A command that
    # leaves a daemon holding its stdout open never sends EOF, so that wait is bounded.
    drain_until: float | None = None
    while True:
        while channel.recv_ready():
            chunk = channel.recv(READ_CHUNK)
            if on_output is not None:
                on_output(chunk)
            if keep_output:
                stdout.append(chunk)
        while channel.recv_stderr_ready():
            stderr.append(channel.recv_stderr(READ_CHUNK))
        pending = channel.recv_ready() or channel.recv_stderr_ready()
        if channel.closed and not pending:
            break
        if channel.exit_status_ready() and not pending:
            if channel.eof_received:
                break
            if drain_until is None:
                drain_until = time.monotonic() + EXIT_DRAIN_SECONDS
            elif time.monotonic() >= drain_until:
                break
        wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if wait <= 0:
            raise TimeoutError
        if drain_until is not None:
            select.select([channel], [], [], min(wait, 0.02))
        elif channel.eof_received:
            # after EOF the fileno stays readable: wait for the exit status instead of spinning
            channel.status_event.wait(wait)
        else:
            # the channel's fileno is signalled by both its stdout and stderr buffers and by EOF
            select.select([channel], [], [], wait)
    status = channel.recv_exit_status() if channel.exit_status_ready() else -1
    return status, b"".join(stdout), b"".join(stderr)


def _make_parents(sftp: paramiko.SFTPClient, folder: PurePosixPath) -> None:
    missing: list[PurePosixPath] = []
    current = folder
    while str(current) not in ("/", "."):
        try:
            sftp.stat(str(current))
            break
        except FileNotFoundError:
            missing.append(current)
            current = current.parent
    for path in reversed(missing):
        sftp.mkdir(str(path))


def _refuse_unless_regular(sftp: paramiko.SFTPClient, path: str, what: str) -> int | None:
    """The size of the regular file `path`, None if it does not exist; OSError for anything else (a
    device, a FIFO, a folder): put never replaces one, get never reads one (it could hang or never end)."""
    try:
        attributes = sftp.stat(path)
    except FileNotFoundError:
        return None
    if attributes.st_mode is not None and not stat.S_ISREG(attributes.st_mode):
        raise OSError(f"{path} is {describe_file_kind(attributes.st_mode)}, not a regular file: {what} refused")
    return attributes.st_size


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except OSError:
        pass


def _sftp_reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


GET_LIMIT = 64 * 1024 * 1024  # a file read back from a host (a config file to compare): bounded
