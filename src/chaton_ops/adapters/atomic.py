"""The files chaton writes and reads on the machine it runs on: one writer, one reader.

The writer replaces a regular file atomically (readers see the old content or the new, never half)
and nothing else: not a device (`--metrics-file /dev/null` run as root must not turn /dev/null into a
regular file), a directory, a FIFO or a socket, followed through symlinks. It never creates a missing
folder for a path it was given: a typo must not leave a file where nobody looks (chaton's own state
folder is made by `ensure_state_folder`). The reader reads regular files only, and at most a bound:
`/dev/zero`, `/dev/full` or a FIFO given where chaton reads a file are refused at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chaton_ops.core.yaml_source import describe_file_kind
from chaton_ops.core.yaml_source import read_regular_file as read_bounded_regular_file
from chaton_ops.errors import PathError

MAX_READ_BYTES = 16 * 1024 * 1024  # far above any file chaton reads back (textfile, state, lock)


def writable_file(path: Path) -> Path:
    """The file a write to `path` replaces: `path`, or the file its symlinks lead to.

    PathError when its folder does not exist or it is something else than a regular file. Callers may
    use it to refuse a path before a long run, not only when the file is written at its end.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        why = "does not exist" if not folder.exists() else "is not a folder"
        raise PathError(f"cannot write {path}: its folder {folder} {why} (chaton does not create it)")
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as error:
        raise PathError(f"cannot write {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        shown = f"{path} (→ {target})" if target != Path(path) else str(path)
        raise PathError(f"cannot write {shown}: it is {describe_file_kind(mode)}, and chaton replaces only regular files")
    return target


def write_file_atomically(path: Path, content: bytes | str, *, mode: int = 0o644) -> None:
    """Write `content` to a temporary file beside the target, then rename it over the target.

    Same folder, so the rename stays on one filesystem and is atomic (node_exporter's textfile
    collector may read the file at any moment). The target is checked again just before the rename;
    the temporary file is removed on any failure. Raises PathError, never a bare OSError.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    target = writable_file(path)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise PathError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        writable_file(path)  # still a regular file (or nothing) right before it is replaced
        os.replace(temporary, target)
    except BaseException as failure:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(failure, OSError):
            raise PathError(f"cannot write {path}: {failure.strerror or failure}") from None
        raise
    _sync_folder(target.parent)


def write_text_atomically(path: Path, text: str, *, mode: int = 0o644) -> None:
    """`write_file_atomically` of a text (UTF-8)."""
    write_file_atomically(path, text, mode=mode)


def read_regular_file(path: Path, *, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them (core.yaml_source's reader, the one
    chaton has, with chaton's errors).

    FileNotFoundError when it does not exist (callers often expect that); PathError when it is not a
    regular file, is larger than `limit` or cannot be read. Opening never blocks (a FIFO is refused).
    """
    try:
        return read_bounded_regular_file(path, limit)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise PathError(f"cannot read {path}: {error.strerror or error}") from None


class LocalFiles:
    """The Files port (core/ports.py) on this machine: `read_regular_file` and `write_text_atomically`."""

    def read_text(self, path: Path) -> str:
        return read_regular_file(path).decode("utf-8", "replace")

    def write_text(self, path: Path, text: str, *, mode: int = 0o644) -> None:
        write_text_atomically(path, text, mode=mode)


def open_lock_file(path: Path) -> int:
    """A descriptor on the lock file `path` (made if missing, 0600), for flock: never through a symlink
    and only a regular file, since the holder's pid is written into it."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise PathError(f"cannot open the lock file {path}: {error.strerror or error}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise PathError(f"cannot use the lock file {path}: it is {describe_file_kind(mode)}, not a regular file")
    return descriptor


@contextlib.contextmanager
def locked_file(path: Path) -> Iterator[None]:
    """Hold the lock of the file `path` (a sibling `NAME.lock`, in a folder made on first use) for a
    read-modify-write: runs that end at the same moment merge their changes instead of overwriting
    each other's. The kernel releases it when the process dies: no stale lock. PathError if the folder
    or the lock file cannot be used."""
    ensure_state_folder(path.parent)
    descriptor = open_lock_file(path.with_name(path.name + ".lock"))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def ensure_state_folder(folder: Path) -> Path:
    """chaton's own state folder (locks, last statuses), made on first use, private (0700)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise PathError(f"cannot make chaton's state folder {folder}: {error.strerror or error}") from None
    return folder


def _sync_folder(folder: Path) -> None:
    # the rename is durable once the folder's entry is on disk (a crash right after must not lose it)
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
