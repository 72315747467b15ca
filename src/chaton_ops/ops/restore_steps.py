"""The steps of a restore (and of a drill), each callable on its own by a longer runbook (failover).

Every step takes a Transport to the host that restores and explicit arguments (no globals), checks
its precondition just before acting, and returns a small frozen result (or raises a ChatonError that
says what is where). Journaling is the caller's: `detail()` of a result is what to record.
"""

from __future__ import annotations

import posixpath
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chaton_ops.core.ports import Transport
from chaton_ops.core.restic import Version, build_restore_argv
from chaton_ops.core.restic_output import (
    ListedNode,
    RestoreProgress,
    parse_restore_status,
    parse_restore_summary,
)
from chaton_ops.core.restore import PathRestore, RestorePlan, RestoreRefused, SpaceNeed
from chaton_ops.core.units import format_bytes
from chaton_ops.errors import ChatonError, CommandFailed
from chaton_ops.ops.restic_calls import run_restic

RESTORE_TIMEOUT = 48 * 3600.0
SHORT_TIMEOUT = 120.0
PROGRESS_FPS = "4"  # restic ≥ 0.16 prints JSON status lines this often with --json (default: 60 a second)
MAX_DIFFERENCES = 5

Progress = Callable[[str, RestoreProgress | None], None]


class RestoreFailed(ChatonError):
    """A restore step failed; the message says what is where (the live data, a partial copy)."""


def megabytes_per_second(size: int, seconds: float) -> float:
    return round(size / seconds / 1e6, 1) if seconds > 0 else 0.0


# --------------------------------------------------------------------------------------- free space
@dataclass(frozen=True)
class SpaceResult:
    filesystem: str
    needed_bytes: int
    free_bytes: int | None

    def detail(self) -> dict[str, Any]:
        return asdict(self)


FREE_SPACE_SCRIPT = 'for p; do a=$p; while [ ! -e "$a" ] && [ "$a" != / ]; do a=$(dirname -- "$a"); done; ' \
                    'df -P -k -- "$a" | awk \'NR==2 {print $4}\'; done'


def check_space(transport: Transport, needs: Sequence[SpaceNeed]) -> list[SpaceResult]:
    """Measure the free space again just before writing; refuse (nothing written) when it is short."""
    if not needs:
        return []
    result = transport.run(["sh", "-c", FREE_SPACE_SCRIPT, "sh", *(n.filesystem for n in needs)],
                           timeout=SHORT_TIMEOUT, check=False)
    values = [line.strip() for line in result.stdout.splitlines()]
    measured = []
    for index, need in enumerate(needs):
        text = values[index] if index < len(values) else ""
        free = int(text) * 1024 if text.isdigit() else None
        if free is not None and free < need.needed_bytes:
            raise RestoreRefused(f"not enough free space on {transport.host}:{need.filesystem}: the snapshot needs "
                                 f"{format_bytes(need.needed_bytes)} ({need.needed_bytes} bytes), "
                                 f"{format_bytes(free)} ({free} bytes) are free; nothing was written")
        measured.append(SpaceResult(need.filesystem, need.needed_bytes, free))
    return measured


# ------------------------------------------------------------------------------ restic restore
@dataclass(frozen=True)
class StagedCopy:
    """What restic wrote, where, how fast."""

    folder: str  # what restic restored into (a staging folder, the target folder or the scratch folder)
    paths: tuple[str, ...]  # snapshot paths restored there
    snapshot_id: str
    bytes: int
    files: int
    duration: float
    restic_verified: bool

    @property
    def mb_per_second(self) -> float:
        return megabytes_per_second(self.bytes, self.duration)

    def detail(self) -> dict[str, Any]:
        return {"folder": self.folder, "paths": list(self.paths), "snapshot": self.snapshot_id, "bytes": self.bytes,
                "files": self.files, "duration": round(self.duration, 3), "mb_per_s": self.mb_per_second,
                "restic_verified": self.restic_verified}


@dataclass(frozen=True)
class RestoreCall:
    """One `restic restore` to run: the snapshot, the folder, the paths and the expected size."""

    folder: str
    paths: tuple[str, ...]
    includes: tuple[str, ...]
    bytes: int
    files: int


def restore_calls(plan: RestorePlan) -> list[RestoreCall]:
    """One restic call per folder written into: a staging folder per parent folder of the data paths
    (in place), or the target/scratch folder. Paths are named with --include only when the call
    restores part of the snapshot."""
    groups: dict[str, list[PathRestore]] = {}
    for item in plan.paths:
        folder = item.staging if item.staging is not None else plan.root
        assert folder is not None
        groups.setdefault(folder, []).append(item)
    every = set(plan.snapshot.paths) if plan.snapshot is not None else set()
    calls = []
    for folder, items in groups.items():
        paths = tuple(item.path for item in items)
        includes = () if set(paths) == every else paths
        calls.append(RestoreCall(folder, paths, includes, sum(i.bytes for i in items), sum(i.entries for i in items)))
    return calls


def restore_into(
    transport: Transport,
    call: RestoreCall,
    *,
    binary: str,
    repository_url: str,
    password: str,
    snapshot_id: str,
    version: Version,
    progress: Progress | None = None,
    must_be_new: bool = True,
) -> StagedCopy:
    """`restic restore --verify` of `call.paths` into `call.folder`, which must not exist yet (a staging or
    scratch folder: restic then writes exactly the snapshot). On failure the partial copy is left
    there and the error says so."""
    if must_be_new:
        # its parent is made here, with the usual mode (restic would make it 0700)
        fresh = transport.run(["sh", "-c", 'if [ -e "$1" ]; then exit 3; fi; mkdir -p -- "$(dirname -- "$1")"', "sh",
                               call.folder], timeout=SHORT_TIMEOUT, check=False)
        if fresh.returncode == 3:
            raise RestoreRefused(f"{transport.host}:{call.folder} exists already: it must be a new folder")
    argv = build_restore_argv(binary, repository_url, snapshot_id, target=call.folder, version=version,
                              includes=call.includes, verify=True)
    started = time.monotonic()
    on_line = _status_reader(progress) if progress is not None else None
    run = run_restic(transport, argv, password, timeout=RESTORE_TIMEOUT, env={"RESTIC_PROGRESS_FPS": PROGRESS_FPS},
                     on_output=on_line)
    duration = time.monotonic() - started
    if run.outcome != "ok":
        error = run.error(f"restore of snapshot {snapshot_id[:8]} into {call.folder}")
        how = "was interrupted" if run.result.returncode < 0 or run.result.returncode > 128 else "failed"
        raise RestoreFailed(f"{error.message}. The restore {how}: nothing was swapped; the partial copy is in "
                            f"{transport.host}:{call.folder} (remove it when done)") from None
    summary = parse_restore_summary(run.result.stdout)
    return StagedCopy(call.folder, call.paths, snapshot_id, summary.bytes_restored or call.bytes,
                      call.files, duration, restic_verified=True)


def _status_reader(progress: Progress) -> Callable[[bytes], None]:
    """Split streamed stdout into lines and hand restic's JSON status lines to `progress`."""
    pending = bytearray()

    def read(chunk: bytes) -> None:
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            status = parse_restore_status(line.decode("utf-8", "replace"))
            if status is not None:
                progress("restoring", status)

    return read


# ---------------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class Verification:
    """The restored tree against the snapshot's listing (types, modes, sizes, owners, mtimes)."""

    path: str
    location: str
    verified: bool
    entries: int
    differences: tuple[str, ...] = field(default_factory=tuple)

    def detail(self) -> dict[str, Any]:
        return {"path": self.path, "location": self.location, "verified": self.verified, "entries": self.entries,
                "differences": list(self.differences)}


FIND_FORMAT = "%y\\0%m\\0%s\\0%U\\0%G\\0%T@\\0%p\\0"
FIND_TYPES = {"f": "file", "d": "dir", "l": "symlink", "p": "fifo", "s": "socket", "c": "chardev", "b": "dev"}


def list_tree(transport: Transport, location: str) -> dict[str, ListedNode]:
    """Every entry under `location` (included), by its path relative to `location` ('' for itself)."""
    result = transport.run(["find", location, "-printf", FIND_FORMAT], timeout=RESTORE_TIMEOUT, check=False)
    fields = result.stdout.split("\0")
    found: dict[str, ListedNode] = {}
    for start in range(0, len(fields) - 6, 7):
        kind, mode, size, uid, gid, mtime, path = fields[start:start + 7]
        relative = path[len(location):].lstrip("/") if path.startswith(location) else path
        node_type = FIND_TYPES.get(kind, kind)
        found[relative] = ListedNode(path=relative, type=node_type, mode=int(mode, 8),
                                     size=int(size) if node_type == "file" else 0, uid=int(uid), gid=int(gid),
                                     mtime=int(float(mtime)))
    if not result.ok and not found:
        raise CommandFailed(transport.host, list(result.argv), result.returncode, result.stderr_tail())
    return found


def compare_listing(expected: Sequence[ListedNode], snapshot_path: str, found: dict[str, ListedNode]) -> list[str]:
    """Differences between the snapshot's nodes under `snapshot_path` and a restored tree (by relative path)."""
    differences: list[str] = []
    wanted = {}
    for node in expected:
        relative = node.path[len(snapshot_path):].lstrip("/")
        wanted[relative] = node
    for relative, node in wanted.items():
        shown = posixpath.join(snapshot_path, relative) if relative else snapshot_path
        got = found.get(relative)
        if got is None:
            differences.append(f"missing: {shown}")
            continue
        if got.type != node.type:
            differences.append(f"{shown}: a {got.type}, the snapshot has a {node.type}")
            continue
        if node.type != "symlink" and got.mode != node.mode:
            differences.append(f"{shown}: mode {got.mode:04o}, the snapshot has {node.mode:04o}")
        if node.type == "file" and got.size != node.size:
            differences.append(f"{shown}: {got.size} bytes, the snapshot has {node.size}")
        if (got.uid, got.gid) != (node.uid, node.gid):
            differences.append(f"{shown}: owner {got.uid}:{got.gid}, the snapshot has {node.uid}:{node.gid}")
        if node.type in ("file", "dir") and got.mtime != node.mtime:
            differences.append(f"{shown}: modified at {got.mtime}, the snapshot says {node.mtime}")
    for relative in sorted(set(found) - set(wanted)):
        differences.append(f"not in the snapshot: {posixpath.join(snapshot_path, relative)}")
    return differences


def verify_restored(transport: Transport, expected: Sequence[ListedNode], snapshot_path: str,
                    location: str) -> Verification:
    """Compare what is at `location` with the snapshot's listing of `snapshot_path` (after restic's own
    content check, which `restore_into` asked for with --verify)."""
    found = list_tree(transport, location)
    differences = compare_listing(expected, snapshot_path, found)
    return Verification(snapshot_path, location, not differences, len(found), tuple(differences[:MAX_DIFFERENCES])
                        + ((f"… {len(differences) - MAX_DIFFERENCES} more",) if len(differences) > MAX_DIFFERENCES
                           else ()))


# ------------------------------------------------------------------------------------------- swap
@dataclass(frozen=True)
class Swapped:
    """A path now holds the restored content; where the previous content went."""

    path: str
    kept_aside: str | None
    how: str  # exchanged (one atomic rename), renamed (two renames) or created (nothing was there)

    def detail(self) -> dict[str, Any]:
        return asdict(self)


# renameat2(RENAME_EXCHANGE): both names swap in one atomic step, so the path never stops existing and
# never holds a mix; Python's os module lacks it, ctypes reaches glibc's (≥ 2.28). Where it is missing
# (no python3, another libc, a filesystem without it) two renames follow each other instead.
_EXCHANGE = ("import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
             "sys.exit(0 if libc.renameat2(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), 2) == 0 "
             "else 1)")
SWAP_SCRIPT = f"""
trap '' HUP INT TERM PIPE
staged=$1 dest=$2 aside=$3
if [ ! -e "$staged" ] && [ ! -L "$staged" ]; then echo "the restored copy $staged is missing" >&2; exit 3; fi
if [ -e "$dest" ] || [ -L "$dest" ]; then
    if [ -e "$aside" ] || [ -L "$aside" ]; then echo "$aside exists already" >&2; exit 3; fi
    if command -v python3 >/dev/null && python3 -c {shlex.quote(_EXCHANGE)} "$staged" "$dest" 2>/dev/null; then
        mv -T -- "$staged" "$aside" || {{ echo "swapped; the previous content is at $staged" >&2; exit 4; }}
        echo exchanged
    else
        mv -T -- "$dest" "$aside" || exit 3
        mv -T -- "$staged" "$dest" || {{ mv -T -- "$aside" "$dest"; echo "rename failed; put back" >&2; exit 3; }}
        echo renamed
    fi
else
    mkdir -p -- "$(dirname -- "$dest")" && mv -T -- "$staged" "$dest" || exit 3
    echo created
fi
"""


def swap_into_place(transport: Transport, item: PathRestore) -> Swapped:
    """Put the verified copy at its path; the previous content (if any) goes to `item.kept_aside`.

    The remote script ignores hangups: once started, a lost connection or a killed chaton cannot stop
    it between its renames."""
    assert item.staged_path is not None
    aside = item.kept_aside or item.destination + ".chaton-unexpected"
    result = transport.run(["sh", "-c", SWAP_SCRIPT, "sh", item.staged_path, item.destination, aside],
                           timeout=SHORT_TIMEOUT, check=False)
    how = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if not result.ok or how not in ("exchanged", "renamed", "created"):
        raise RestoreFailed(f"{transport.host}: swapping the restored copy into {item.destination} failed: "
                            f"{result.stderr_tail(3) or f'exit {result.returncode}'}; {item.destination} holds "
                            f"its previous content; the restored copy is at {item.staged_path}")
    return Swapped(item.destination, aside if how != "created" else None, how)


def remove_staging(transport: Transport, folder: str) -> bool:
    """Remove a staging folder emptied by the swaps (only empty folders: never content)."""
    result = transport.run(["find", folder, "-depth", "-type", "d", "-empty", "-delete"], timeout=SHORT_TIMEOUT,
                           check=False)
    return result.ok and not transport.run(["test", "-e", folder], timeout=SHORT_TIMEOUT, check=False).ok


def remove_tree(transport: Transport, folder: str, *, marker: str) -> None:
    """`rm -rf` of a folder chaton made (its name must contain `marker`: never anything else)."""
    if marker not in posixpath.basename(folder.rstrip("/")) or folder.rstrip("/") in ("", "/"):
        raise ValueError(f"refusing to remove {folder}: not a folder chaton made")
    transport.run(["rm", "-rf", "--one-file-system", "--", folder], timeout=RESTORE_TIMEOUT, check=True)


def discard_kept_aside(transport: Transport, places: Sequence[str]) -> list[str]:
    """Remove kept-aside copies (a later decision: a restore never does it by itself)."""
    removed = []
    for place in places:
        remove_tree(transport, place, marker=".chaton-prev-")
        removed.append(place)
    return removed
