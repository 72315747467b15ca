"""The one writer and the one reader of the files chaton keeps on its own machine.

Every kind of file that is not a regular one (character and block devices made with mknod, a FIFO,
a socket, a folder), reached directly or through a symlink, is refused by the writer and by the
reader, and stays what it was. Device nodes are made in the test's folder (never /dev itself): a
writer that followed them would only replace the test's node.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaton_ops.adapters.atomic import (
    open_lock_file,
    read_regular_file,
    writable_file,
    write_file_atomically,
)
from chaton_ops.errors import PathError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def make_char_device(path: Path) -> Path:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    return path


def make_block_device(path: Path) -> Path:
    os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 200))  # a loop device number nobody uses
    return path


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def make_folder(path: Path) -> Path:
    path.mkdir()
    return path


NOT_REGULAR: dict[str, tuple[Callable[[Path], Path], str]] = {
    "character device": (make_char_device, "a character device"),
    "block device": (make_block_device, "a block device"),
    "fifo": (make_fifo, "a FIFO"),
    "socket": (make_socket, "a socket"),
    "folder": (make_folder, "a directory"),
}


@pytest.fixture(params=[(kind, linked) for kind in NOT_REGULAR for linked in (False, True)],
                ids=lambda p: p[0] + (" via symlink" if p[1] else ""))
def not_regular(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(the path given to chaton, the node it leads to, how chaton names its kind)."""
    kind, linked = request.param
    make, described = NOT_REGULAR[kind]
    if kind in ("character device", "block device") and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    node = make(tmp_path / "node")
    given = tmp_path / "link" if linked else node
    if linked:
        given.symlink_to(node)
    yield given, node, described


def kind_of(path: Path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


def test_the_writer_never_replaces_what_is_not_a_regular_file(not_regular: tuple[Path, Path, str]) -> None:
    given, node, described = not_regular
    before = kind_of(node)

    with pytest.raises(PathError, match=re.escape(f"it is {described}, and chaton replaces only regular files")):
        write_file_atomically(given, "x 1\n")

    assert kind_of(node) == before
    assert sorted(p.name for p in node.parent.iterdir()) == sorted(
        {node.name, given.name})  # no temporary file left


def test_the_reader_refuses_what_is_not_a_regular_file_at_once(not_regular: tuple[Path, Path, str]) -> None:
    given, node, described = not_regular
    outcome: list[BaseException | bytes] = []
    reader = threading.Thread(target=lambda: outcome.append(_try(lambda: read_regular_file(given))), daemon=True)

    reader.start()
    reader.join(timeout=5)

    assert not reader.is_alive(), "reading blocked"  # a FIFO without a writer must not block
    assert isinstance(outcome[0], PathError)
    assert f"not a regular file ({described})" in str(outcome[0])


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full", "/dev/urandom"])
def test_endless_devices_are_not_read(device: str) -> None:
    started = time.monotonic()

    with pytest.raises(PathError, match=re.escape("not a regular file (a character device)")):
        read_regular_file(Path(device))

    assert time.monotonic() - started < 1


def test_a_file_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1001)

    assert read_regular_file(big, limit=1001) == b"x" * 1001
    with pytest.raises(PathError, match="larger than"):
        read_regular_file(big, limit=1000)


def test_a_missing_file_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "nope")


def test_a_missing_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "metrics.prom"

    with pytest.raises(PathError, match=f"its folder {tmp_path / 'typo'} does not exist"):
        write_file_atomically(target, "x 1\n")

    assert not (tmp_path / "typo").exists()


def test_a_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(PathError, match="is not a folder"):
        writable_file(tmp_path / "file" / "metrics.prom")


def test_a_regular_file_is_replaced_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    inode = target.stat().st_ino

    write_file_atomically(target, "new", mode=0o600)

    assert target.read_text() == "new"
    assert target.stat().st_ino != inode  # renamed over, never written in place
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_symlink_to_a_regular_file_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.prom"
    real.write_text("old")
    link = tmp_path / "link.prom"
    link.symlink_to(real)

    write_file_atomically(link, "new")

    assert link.is_symlink() and real.read_text() == "new"


def test_a_lock_file_is_never_opened_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    (tmp_path / "main.lock").symlink_to(target)

    with pytest.raises(PathError, match="cannot open the lock file"):
        open_lock_file(tmp_path / "main.lock")

    assert target.read_text() == "precious"


@needs_root
def test_a_lock_file_that_is_a_device_is_refused(tmp_path: Path) -> None:
    device = make_char_device(tmp_path / "main.lock")

    with pytest.raises(PathError, match="it is a character device, not a regular file"):
        open_lock_file(device)


def _try(action: Callable[[], bytes]) -> BaseException | bytes:
    try:
        return action()
    except BaseException as error:  # noqa: BLE001 - handed to the test thread
        return error
