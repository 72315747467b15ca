"""chaton's locks on the machine running it (the `Locks` port; which run holds which: core/locks.py).

A lock is a file under the state folder's `locks/`, held with `fcntl.flock`: the kernel releases it
when the process dies, so there are no stale chaton locks. `repository:NAME` is `locks/NAME.lock` (as
it always was), `service:NAME` is `locks/services/NAME.lock`, any other name `locks/runs/NAME.lock`.
restic's own locks cannot do the repositories' job: a backup takes a shared lock and `forget --prune`
an exclusive one, so two chaton runs would make each other fail halfway.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
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
def hold_locks(names: Iterable[str], *, wait: float = 0.0, directory: Path | None = None,
               wait_option: bool = True) -> Iterator[None]:
    """Hold the locks `names` (taken in name order, so two runs cannot deadlock), waiting up to `wait`
    seconds for each. LockError names what is held and by which pid; `wait_option`: the command has
    --lock-wait (the message says so)."""
    root = ensure_state_folder(directory or lock_dir())
    handles: list[int] = []
    deadline = time.monotonic() + max(0.0, wait)
    try:
        for name in sorted(set(names)):
            path = lock_path(root, name)
            fd = open_lock_file(path)
            handles.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        waited = f" after waiting {wait:g} s" if wait > 0 else ""
                        hint = "try again later or wait for it with --lock-wait SECONDS" if wait_option else \
                            "try again when it has ended"
                        raise LockError(f"{_what(name)} is in use by another chaton run{_holder(path)}{waited}; "
                                        f"{hint}") from None
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


def repository_locks(repositories: Iterable[str], *, wait: float = 0.0,
                     directory: Path | None = None) -> AbstractContextManager[None]:
    """Hold the locks of `repositories` (by name)."""
    return hold_locks([f"repository:{name}" for name in repositories], wait=wait, directory=directory)


def lock_path(root: Path, name: str) -> Path:
    """`repository:NAME` → root/NAME.lock, `service:NAME` → root/services/NAME.lock, `NAME` →
    root/runs/NAME.lock."""
    kind, colon, what = name.partition(":")
    if not colon:
        kind, what = "run", kind
    folder = {"repository": root, "service": root / "services", "run": root / "runs"}.get(kind)
    if folder is None or not what or "/" in what or what.startswith("."):
        raise ValueError(f"not a lock name: {name!r}")
    return ensure_state_folder(folder) / f"{what}.lock"


def _what(name: str) -> str:
    kind, colon, what = name.partition(":")
    return f"{kind} {what}" if colon else f"chaton's {kind}"


class FileLocks:
    """The `Locks` port on the machine running chaton (files under `directory`, default the state folder)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory

    def hold(self, names: Sequence[str], *, wait: float = 0.0, wait_option: bool = True) -> AbstractContextManager[None]:
        return hold_locks(names, wait=wait, directory=self.directory, wait_option=wait_option)
