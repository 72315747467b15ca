"""Facts about a repository as seen from a host that uses it: free space, init, locks.

restic runs on the host that owns the data, so every fact is gathered from that host too: the
repository is checked over the same path restic will use (the host's own ssh for SFTP URLs).
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from chaton_ops.core.backup_plan import BackupTarget
from chaton_ops.core.free_space import FreeSpace, parse_df_posix, parse_sftp_df
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import CommandResult, Transport
from chaton_ops.core.repository_location import locate_repository, repository_host
from chaton_ops.core.restic import (
    ResticRun,
    Version,
    build_init_argv,
    build_list_locks_argv,
    build_unlock_argv,
)
from chaton_ops.core.restic_output import parse_lock_ids
from chaton_ops.errors import ChatonError, UsageError
from chaton_ops.ops.restic_calls import run_restic

SPACE_TIMEOUT = 30.0


def explain_free_space(transport: Transport, repository_url: str) -> tuple[FreeSpace | None, str]:
    """Free space of the repository's filesystem, measured from the host that runs restic, or None and
    the reason it is unknown.

    SFTP: OpenSSH's `sftp` client in batch mode, `df` (the statvfs@openssh.com extension that
    internal-sftp serves even to an sftp-only account). A local path: `df -P`. For other
    backends (rest:, s3:, …) there is no general way: None.
    The repository folder may not exist yet (before init): its parent is measured then.
    """
    location = locate_repository(repository_url)
    parent = _parent_of(location.path)
    try:
        if location.kind == "sftp":
            destination = f"{location.user}@{location.host}" if location.user else str(location.host)
            # not `-q`: it silences ssh's own errors too, and an unknown free space must say why;
            # LogLevel=ERROR keeps those and drops the chatter. A second TCP attempt rides out a blip.
            argv = ["sftp", "-b", "-", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ConnectionAttempts=2",
                    "-o", "LogLevel=ERROR"]
            if location.port:
                argv += ["-P", str(location.port)]
            # a leading '-' lets the batch go on when the first path does not exist yet
            batch = f"-df {_sftp_quote(location.path)}\n-df {_sftp_quote(parent)}\n"
            result = transport.run([*argv, destination], stdin=batch.encode(), timeout=SPACE_TIMEOUT,
                                   check=False)
            space = parse_sftp_df(result.stdout)
            if space is None:
                return None, f"sftp df to {destination} from {transport.host}: {_why(result)}"
            return space, ""
        if location.kind == "local":
            return explain_free_space_on(transport, location.path)
    except ChatonError as failure:
        return None, failure.message
    return None, f"not measurable for {location.kind} repositories"


def _why(result: CommandResult) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    said = " / ".join(lines[-3:])[-300:] if lines else "no output"  # ssh's own error, then sftp's
    if result.returncode < 0:  # sshd sent no exit status: the command was killed by a signal
        return f"ended without an exit status (killed by a signal): {said}"
    return f"exit {result.returncode}: {said}" if result.returncode else f"no sizes in its answer ({said})"


def _parent_of(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or ("/" if path.startswith("/") else ".")


def _sftp_quote(path: str) -> str:
    # sftp's batch parser takes double-quoted arguments with backslash escapes
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


_init_locks: dict[str, threading.Lock] = {}
_init_locks_guard = threading.Lock()


def initialise_repository(transport: Transport, binary: str, url: str, password: str, version: Version) -> bool:
    """`restic init`; True if it created the repository, False if it already existed.

    Serialised per URL: two hosts of one run may both find the repository missing.
    """
    with _init_locks_guard:
        lock = _init_locks.setdefault(url, threading.Lock())
    with lock:
        run = run_restic(transport, build_init_argv(binary, url, version), password, timeout=600)
        if run.succeeded:
            return True
        if "already exists" in run.result.stderr or "already initialized" in run.result.stderr:
            return False
        raise run.error("restic init")


def list_locks(transport: Transport, binary: str, url: str, password: str) -> list[str]:
    run = run_restic(transport, build_list_locks_argv(binary, url), password, timeout=300)
    if not run.succeeded:
        raise run.error("restic list locks")
    return parse_lock_ids(run.result.stdout)


def remove_stale_locks(transport: Transport, binary: str, url: str, password: str,
                       *, remove_all: bool = False) -> ResticRun:
    """`restic unlock`: removes the locks restic considers stale (dead process, or older than 30 min)."""
    run = run_restic(transport, build_unlock_argv(binary, url, remove_all=remove_all), password, timeout=300)
    if not run.succeeded:
        raise run.error("restic unlock")
    return run


def access_host(inventory: Inventory, repository: str, via: str | None = None) -> str:
    """The host that talks to `repository` for repository-wide commands: `via`, else the host of the
    first service (by priority) that backs up there — restic runs where the data is, never here."""
    if repository not in inventory.repositories:
        raise UsageError(f"unknown repository: {repository} (known: {', '.join(sorted(inventory.repositories)) or 'none'})")
    if via is not None:
        if via not in inventory.hosts:
            raise UsageError(f"unknown host: {via}")
        return via
    users = inventory.services_using(repository)
    if not users:
        raise UsageError(f"no service backs up to repository {repository}: name a host that can reach it with --via HOST")
    return inventory.services[inventory.services_by_priority(users)[0]].host


def explain_free_space_on(transport: Transport, path: str) -> tuple[FreeSpace | None, str]:
    """`df -P` on the host that stores the repository, or None and the reason it is unknown."""
    parent = _parent_of(path)
    script = 'for p; do if [ -e "$p" ]; then exec df -P -k "$p"; fi; done; echo "neither $1 nor $2 exists" >&2; exit 1'
    try:
        result = transport.run(["sh", "-c", script, "sh", path, parent], timeout=SPACE_TIMEOUT, check=False)
    except ChatonError as failure:
        return None, failure.message
    space = parse_df_posix(result.stdout) if result.ok else None
    if space is None:
        return None, f"df on {transport.host}: {_why(result)}"
    return space, ""


def measure_repository_space(inventory: Inventory, transports: Callable[[str], Transport], url: str,
                             user_host: str) -> FreeSpace | None:
    """Free space of a repository: `df` on its own host when the inventory has it, else asked over
    SFTP (or `df` for a local path) from `user_host`, a host that runs restic against it."""
    return explain_repository_space(inventory, transports, url, user_host)[0]


def explain_repository_space(inventory: Inventory, transports: Callable[[str], Transport], url: str,
                             user_host: str) -> tuple[FreeSpace | None, str]:
    """`measure_repository_space`, with the reason when the free space is unknown."""
    storing_host = repository_host(inventory, url)
    first_reason = ""
    if storing_host is not None:
        space, first_reason = explain_free_space_on(transports(storing_host), locate_repository(url).path)
        if space is not None:
            return space, ""
    space, reason = explain_free_space(transports(user_host), url)
    return space, "; ".join(r for r in (first_reason, reason) if r)


SPACE_MAX_AGE = 60.0  # seconds a free-space measurement stays good for the next targets


class SpaceProbe:
    """Free space per repository, measured once at the start of the run in the background (hidden
    behind the SSH connections and the first commands) and again for targets that start later.

    Where the repository's host is in the inventory, `df` runs there; otherwise the host that runs
    restic asks over SFTP (statvfs@openssh.com), the way restic itself reaches the repository.
    """

    def __init__(self, loaded: LoadedInventory, transports: Callable[[str], Transport]) -> None:
        self.loaded = loaded
        self.transports = transports
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="space")
        self.futures: dict[str, Future[tuple[FreeSpace | None, str, float]]] = {}
        self.lock = threading.Lock()

    def start(self, target: BackupTarget) -> None:
        with self.lock:
            if target.repository not in self.futures:
                self.futures[target.repository] = self.pool.submit(self._measure, target)

    def get(self, target: BackupTarget) -> tuple[FreeSpace | None, str]:
        """The free space, or None and the reason it is unknown."""
        self.start(target)
        with self.lock:
            future = self.futures[target.repository]
        space, reason, measured_at = future.result()
        if time.monotonic() - measured_at <= SPACE_MAX_AGE:
            return space, reason
        measured = self._measure(target)
        with self.lock:
            done: Future[tuple[FreeSpace | None, str, float]] = Future()
            done.set_result(measured)
            self.futures[target.repository] = done
        return measured[0], measured[1]

    def _measure(self, target: BackupTarget) -> tuple[FreeSpace | None, str, float]:
        space, reason = explain_repository_space(self.loaded.inventory, self.transports, target.repository_url,
                                                 target.host)
        return space, reason, time.monotonic()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
