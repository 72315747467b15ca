"""Ports: the small interfaces use cases talk to. Adapters implement them; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    """How a command ended on a host. `argv` is masked (no secret values)."""

    host: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def stderr_tail(self, lines: int = 10) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-lines:])


class Transport(Protocol):
    """Runs commands and moves files on one host.

    `run` takes an argv list (quoted with shlex.join on the remote side, never a shell string).
    `secret_env` values reach the command's environment without appearing in argv, in the remote
    command line or in logs (the SSH transport feeds them through stdin to a tiny wrapper).
    With `check=True` a non-zero exit raises CommandFailed (masked argv, exit code, stderr tail).
    Connection problems raise ConnectError naming the host.
    """

    host: str

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult: ...

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None: ...

    def get(self, remote_path: str) -> bytes: ...

    def close(self) -> None: ...
