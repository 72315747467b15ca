"""A lock per repository on the machine running chaton, so two runs for one repository never overlap.

restic's own locks cannot do this job: a backup takes a shared lock and `forget --prune` an
exclusive one, so two chaton runs would make each other fail halfway. `fcntl.flock` on a file in
the state directory is released by the kernel when the process dies: no stale chaton locks.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chaton_ops.adapters.atomic import ensure_state_folder, open_lock_file, read_regular_file
from chaton_ops.adapters.run_state import default_state_dir
from chaton_ops.errors import LockError, PathError

POLL_SECONDS = 0.2


def lock_dir() -> Path:
    return default_state_dir() / "locks"


def _holder(path: Path) -> str:
    try:
        text = read_regular_file(path, limit=64).decode("ascii", "replace").strip()
    except (OSError, PathError):
        return ""
    return f" (held by pid {text})" if text.isdigit() else ""


@contextmanager
def repository_locks(repositories: Iterable[str], *, wait: float = 0.0,
                     directory: Path | None = None) -> Iterator[None]:
    """Hold the locks of `repositories` (taken in name order, so two runs cannot deadlock)."""
    folder = ensure_state_folder(directory or lock_dir())
    handles: list[int] = []
    deadline = time.monotonic() + max(0.0, wait)
    try:
        for name in sorted(set(repositories)):
            path = folder / f"{name}.lock"
            fd = open_lock_file(path)
            handles.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        waited = f" after waiting {wait:g} s" if wait > 0 else ""
                        raise LockError(
                            f"repository {name} is in use by another chaton run{_holder(path)}{waited}; "
                            f"try again later or wait for it with --lock-wait SECONDS") from None
                    time.sleep(POLL_SECONDS)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        for fd in reversed(handles):
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
