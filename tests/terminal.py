"""Run a command under a pseudo-terminal, as a person at a terminal (or tmux) runs it.

CI has no terminal: without this, rich's terminal-only paths (progress displays, live tables,
colours) never run in a test. The child gets the pty as stdin, stdout, stderr and controlling
terminal, a window of the size asked for, and its own session; everything it writes is captured.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# What a crash on a terminal looks like (the progress display's crash printed all three).
CRASH_MARKERS = ("Traceback (most recent call last)", "Exception ignored", "lost sys.stderr")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@dataclass(frozen=True)
class TerminalRun:
    argv: tuple[str, ...]
    returncode: int
    raw: str  # everything written to the terminal, escape sequences included

    @property
    def text(self) -> str:
        """The output without escape sequences and carriage returns."""
        return _ANSI.sub("", self.raw)

    def crash_markers(self) -> list[str]:
        return [marker for marker in CRASH_MARKERS if marker in self.raw]


def _become_terminal_session() -> None:  # runs in the child, between fork and exec
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_in_terminal(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
    columns: int = 80,
    lines: int = 24,
    typed: str | None = None,
) -> TerminalRun:
    """Run argv on a fresh pty of `columns` × `lines`; return its exit code and what it printed.
    `typed` is what the person types (answers to prompts), buffered by the terminal until read.

    On timeout the child's whole session is killed and TimeoutError names what it printed last."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    full_env = {**os.environ, **(env or {}), "TERM": "xterm-256color", "COLUMNS": str(columns),
                "LINES": str(lines)}
    try:
        process = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=full_env, cwd=cwd,
                                   close_fds=True, preexec_fn=_become_terminal_session)
    finally:
        os.close(slave)
    if typed:
        os.write(master, typed.encode())
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                _kill_session(process)
                tail = _ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))[-2000:]
                raise TimeoutError(f"{' '.join(argv)} did not finish within {timeout:g} s; last output:\n{tail}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other side has closed it
                break
            if not data:
                break
            chunks.append(data)
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            _kill_session(process)
    return TerminalRun(tuple(argv), returncode, b"".join(chunks).decode("utf-8", "replace"))


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the child leads its own session: only what it started
    except ProcessLookupError:
        pass
    process.wait(timeout=10)
