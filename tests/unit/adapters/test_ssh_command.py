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
