"""The local transport: commands on the machine running chaton (host address localhost/127.0.0.1)."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from chaton_ops.adapters.atomic import read_regular_file, write_file_atomically
from chaton_ops.core.masking import mask_argv, mask_text
from chaton_ops.core.ports import CommandResult
from chaton_ops.errors import CommandFailed, ConnectError, PathError

GET_LIMIT = 64 * 1024 * 1024  # a file read back from a host (a config file to compare): bounded


class LocalTransport:
    """Runs argv lists with subprocess (never a shell); writes files atomically."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

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
        full_env = {**os.environ, **(env or {}), **(secret_env or {})}
        shown = tuple(mask_argv(list(argv)))
        started = time.monotonic()
        try:
            done = subprocess.run(list(argv), input=stdin if stdin is not None else b"", capture_output=True,
                                  env=full_env, timeout=timeout, check=False)
        except FileNotFoundError:
            raise CommandFailed(self.host, list(shown), 127, f"{argv[0]}: command not found") from None
        except subprocess.TimeoutExpired:
            raise ConnectError(self.host, f"`{shlex.join(shown)}` did not finish within {timeout} s") from None
        result = CommandResult(
            host=self.host,
            argv=shown,
            returncode=done.returncode,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=mask_text(done.stderr.decode("utf-8", "replace")),
            duration=time.monotonic() - started,
        )
        if check and not result.ok:
            raise CommandFailed(self.host, list(shown), result.returncode, result.stderr_tail())
        return result

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        """Like the SSH transport: missing folders are made, the file is replaced atomically, and only a
        regular file is ever replaced (never a device, through a symlink or not)."""
        target = Path(remote_path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomically(target, data, mode=mode)
        except OSError as error:
            raise CommandFailed(self.host, ["put", remote_path], 1, error.strerror or str(error)) from None
        except PathError as error:
            raise CommandFailed(self.host, ["put", remote_path], 1, error.message) from None

    def get(self, remote_path: str) -> bytes:
        try:
            return read_regular_file(Path(remote_path), limit=GET_LIMIT)
        except OSError as error:
            raise CommandFailed(self.host, ["get", remote_path], 1, error.strerror or str(error)) from None
        except PathError as error:
            raise CommandFailed(self.host, ["get", remote_path], 1, error.message) from None

    def close(self) -> None:
        return None
