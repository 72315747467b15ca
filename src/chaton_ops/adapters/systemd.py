"""The machine's systemd, through its own tools (systemd-analyze, systemctl), for schedules.

`systemd-analyze calendar` and `verify` read files and need no running systemd; `systemctl --root=DIR`
enables a timer by writing its symlink under DIR, without one either. Only a real install (no root)
on a machine whose systemd runs reloads the daemon and starts the timers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence

from chaton_ops.errors import ChatonError

TIMEOUT = 60


class SystemdError(ChatonError):
    """systemctl refused a change (its own message)."""


class Systemd:
    """adapters for core.ports.ServiceManager."""

    def __init__(self, *, analyze: str = "systemd-analyze", systemctl: str = "systemctl") -> None:
        self.analyze = shutil.which(analyze)
        self.systemctl = shutil.which(systemctl)

    def available(self) -> bool:
        return self.analyze is not None

    def running(self) -> bool:
        return os.path.isdir("/run/systemd/system")

    def calendar_problem(self, expression: str) -> str | None:
        """None when systemd reads `expression` (or cannot be asked: `available()` says), else its message."""
        if self.analyze is None:
            return None
        done = _run([self.analyze, "calendar", "--iterations=1", "--", expression])
        if done.returncode == 0:
            return None
        return _last_line(done.stderr) or f"systemd-analyze cannot read {expression!r}"

    def verify(self, unit_files: Sequence[str]) -> str | None:
        """None when `systemd-analyze verify` accepts the units, else what it says (or None without it)."""
        if self.analyze is None or not unit_files:
            return None
        done = _run([self.analyze, "verify", "--man=no", *unit_files])
        if done.returncode == 0:
            return None
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return "; ".join(lines[-4:]) or "systemd-analyze verify failed"

    def enable(self, timers: Sequence[str], *, root: str | None) -> None:
        self._systemctl(["enable", *([] if root else ["--now"]), *timers], root)

    def disable(self, timers: Sequence[str], *, root: str | None) -> None:
        self._systemctl(["disable", *([] if root else ["--now"]), *timers], root)

    def is_enabled(self, timer: str, *, root: str | None) -> bool:
        if self.systemctl is None:
            return False
        done = _run([self.systemctl, *_root(root), "is-enabled", timer])
        return done.stdout.strip() == "enabled"

    def reload(self) -> None:
        if self.systemctl is not None and self.running():
            self._systemctl(["daemon-reload"], None)

    def _systemctl(self, args: list[str], root: str | None) -> None:
        if self.systemctl is None:
            raise SystemdError("systemctl is not installed: use --kind cron")
        if root is None and not self.running() and args[0] != "daemon-reload":
            raise SystemdError("systemd does not run on this machine: use --kind cron (or --root DIR to "
                               "prepare an image)")
        done = _run([self.systemctl, *_root(root), *args])
        if done.returncode != 0:
            raise SystemdError(f"`{shlex.join(['systemctl', *args])}`: {_last_line(done.stderr) or 'failed'}")


def _root(root: str | None) -> list[str]:
    return [f"--root={root}"] if root else []


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as failure:
        return subprocess.CompletedProcess(argv, 1, "", str(failure))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
