"""How the SSH transport builds remote command lines, and that the secret wrapper really works."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from chaton_ops.adapters.ssh import build_remote_command, secret_wrapper
from chaton_ops.errors import SecretError, UsageError


def run_like_sshd(command: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """sshd hands the command line to the user's shell: do the same locally."""
    return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, check=False, timeout=10)


def test_plain_argv_is_quoted_for_the_remote_shell() -> None:
    command, prefix = build_remote_command(["echo", "a b", "$HOME", "it's"], None, None)

    assert shlex.split(command) == ["echo", "a b", "$HOME", "it's"]
    assert prefix == b""
    assert run_like_sshd(command, b"").stdout == b"a b $HOME it's\n"


def test_plain_environment_is_set_through_env_on_the_command_line() -> None:
    command, _ = build_remote_command(["sh", "-c", 'echo "$GREETING"'], {"GREETING": "hello world"}, None)

    assert shlex.split(command)[:2] == ["env", "GREETING=hello world"]
    assert run_like_sshd(command, b"").stdout == b"hello world\n"


def test_secret_values_are_not_in_the_command_line_but_in_the_stdin_prefix() -> None:
    command, prefix = build_remote_command(["restic", "snapshots"], None, {"RESTIC_PASSWORD": "pa ss'wd"})

    assert "pa ss'wd" not in command
    assert prefix == b"pa ss'wd\n"
    assert shlex.split(command)[:4] == secret_wrapper(["RESTIC_PASSWORD"])


def test_the_wrapper_exports_every_secret_then_passes_the_rest_of_stdin_to_the_command() -> None:
    argv = ["sh", "-c", 'printf "%s|%s|%s|" "$ONE" "$TWO" "$PLAIN"; cat']
    command, prefix = build_remote_command(argv, {"PLAIN": "p"}, {"ONE": "first secret", "TWO": " spaced \\ "})

    done = run_like_sshd(command, prefix + b"caller's stdin\x00\xff bytes")

    assert done.returncode == 0, done.stderr
    assert done.stdout == b"first secret| spaced \\ |p|caller's stdin\x00\xff bytes"


def test_the_wrapper_keeps_the_exit_code_of_the_command() -> None:
    command, prefix = build_remote_command(["sh", "-c", "exit 7"], None, {"TOKEN": "t0ken"})

    assert run_like_sshd(command, prefix).returncode == 7


def test_a_secret_with_a_newline_is_refused_without_showing_it() -> None:
    with pytest.raises(SecretError) as raised:
        build_remote_command(["true"], None, {"TOKEN": "line1\nline2"})

    assert "line1" not in str(raised.value)
    assert "TOKEN" in str(raised.value)


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "X;rm", ""])
def test_invalid_environment_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        build_remote_command(["true"], {name: "v"}, None)
    with pytest.raises(UsageError):
        build_remote_command(["true"], None, {name: "v"})


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(UsageError):
        build_remote_command([], None, None)


class LateOutputChannel:
    """A channel whose exit status arrives before the end of its output (as sshd may send them)."""

    def __init__(self, late: bytes, *, eof: bool = True) -> None:
        import socket
        import threading
        import time

        self._pair = socket.socketpair()
        self._chunks = [b"early\n"]
        self._late, self._send_eof = late, eof
        self.closed = False
        self.eof_received = False
        self.status_event = threading.Event()
        self._started = time.monotonic()

    def _tick(self) -> None:
        import time

        if self._late is not None and time.monotonic() - self._started > 0.1:
            self._chunks.append(self._late)
            self._late = None  # type: ignore[assignment]
            self.eof_received = self._send_eof

    def fileno(self) -> int:
        return self._pair[0].fileno()

    def recv_ready(self) -> bool:
        self._tick()
        return bool(self._chunks)

    def recv(self, size: int) -> bytes:
        return self._chunks.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return True

    def recv_exit_status(self) -> int:
        return 0


def test_output_sent_after_the_exit_status_is_still_read_until_eof() -> None:
    import time

    from chaton_ops.adapters.ssh import _collect

    status, stdout, _ = _collect(LateOutputChannel(b"last line\n"), time.monotonic(), 10)  # type: ignore[arg-type]
    assert (status, stdout) == (0, b"early\nlast line\n")


def test_a_daemon_holding_stdout_open_delays_the_end_by_a_bounded_wait() -> None:
    import time

    from chaton_ops.adapters.ssh import EXIT_DRAIN_SECONDS, _collect

    started = time.monotonic()
    _, stdout, _ = _collect(LateOutputChannel(b"late\n", eof=False), started, 10)  # type: ignore[arg-type]
    assert stdout == b"early\nlate\n" and time.monotonic() - started < EXIT_DRAIN_SECONDS + 0.5
