"""The local transport: commands on the machine running chaton (host address localhost/127.0.0.1)."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
        not kept in the result as well)."""
        full_env = {**os.environ, **(env or {}), **(secret_env or {})}
        shown = tuple(mask_argv(list(argv)))
        started = time.monotonic()
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=full_env)
        except FileNotFoundError:
            raise CommandFailed(self.host, list(shown), 127, f"{argv[0]}: command not found") from None
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(process.stderr.read()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        feeder = threading.Thread(target=_feed, args=(process.stdin, stdin or b""), daemon=True)
        feeder.start()
        timer = threading.Timer(timeout, process.kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        output: list[bytes] = []
        try:
            while chunk := os.read(process.stdout.fileno(), 65536):
                if keep_output:
                    output.append(chunk)
                on_output(chunk)
            returncode = process.wait()
        finally:
            if timer is not None:
                timer.cancel()
        reader.join()
        if timeout is not None and time.monotonic() - started >= timeout and returncode < 0:
            raise ConnectError(self.host, f"`{shlex.join(shown)}` did not finish within {timeout} s")
        result = CommandResult(self.host, shown, returncode, b"".join(output).decode("utf-8", "replace"),
                               mask_text(b"".join(errors).decode("utf-8", "replace")), time.monotonic() - started)
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


def _feed(pipe: object, data: bytes) -> None:
    try:
        if data:
            pipe.write(data)  # type: ignore[attr-defined]
        pipe.close()  # type: ignore[attr-defined]
    except OSError:  # the command exited without reading its stdin
        pass
