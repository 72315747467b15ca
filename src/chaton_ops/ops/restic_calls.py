"""Running restic on a host, through the Transport port (the only real part restic needs).

restic's argv, its exit-code table and its JSON are a pure model in core/restic.py and
core/restic_output.py; this module sends an argv through a Transport with RESTIC_PASSWORD in the
transport's `secret_env` (never argv, never a file), classifies the outcome, waits for a repository
lock when asked, and asks `restic version` once per host and run. Unit tests drive it with the fake
transports of tests/fakes.py; the lab runs it against restic 0.14 and 0.18.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from chaton_ops.core.ports import Transport
from chaton_ops.core.restic import (
    OLDEST_SUPPORTED,
    Feature,
    ResticError,
    ResticRun,
    Version,
    build_version_argv,
    classify,
    format_version,
    parse_version,
    strip_pipe_status,
    supports,
)
from chaton_ops.errors import CommandFailed


class VersionCache:
    """`restic version` once per host and run (thread-safe: hosts are worked on in parallel)."""

    def __init__(self) -> None:
        self._versions: dict[str, Version] = {}
        self._lock = threading.Lock()

    def get(self, transport: Transport, binary: str = "restic") -> Version:
        with self._lock:
            known = self._versions.get(transport.host)
        if known is not None:
            return known
        version = detect_version(transport, binary)
        with self._lock:
            self._versions[transport.host] = version
        return version


def detect_version(transport: Transport, binary: str = "restic") -> Version:
    result = transport.run(build_version_argv(binary), check=False, timeout=60)
    if result.returncode == 127 or "not found" in result.stderr:
        raise ResticError(f"{transport.host}: restic is not installed ({binary!r} not found)", kind="missing")
    if not result.ok:
        raise CommandFailed(transport.host, list(result.argv), result.returncode, result.stderr_tail())
    version = parse_version(result.stdout)
    if version < OLDEST_SUPPORTED:
        raise ResticError(f"{transport.host}: restic {format_version(version)} is too old "
                          f"(chaton needs {format_version(OLDEST_SUPPORTED)} or newer)", kind="fatal")
    return version


LOCK_RETRY_FIRST_PAUSE = 1.0  # seconds before the second try on a restic without --retry-lock, then doubled
LOCK_RETRY_PAUSE_MAX = 10.0


def run_restic_waiting_for_lock(
    transport: Transport,
    argv: Sequence[str],
    password: str,
    *,
    wait: float,
    binary: str | None = None,
    versions: VersionCache | None = None,
    timeout: float | None = None,
    stdin: bytes | None = None,
    locked: ResticRun | None = None,
) -> ResticRun:
    """`run_restic`, and when another process holds the repository's lock, wait up to `wait` seconds for
    it instead of failing: restic's own `--retry-lock` where it has it (0.16 and newer), else try again
    with pauses. The first try costs nothing extra; the version is asked only once a lock is met.
    `locked`: the run of this argv that just met the lock (it is not tried again without waiting)."""
    run = locked if locked is not None else run_restic(transport, argv, password, stdin=stdin, timeout=timeout)
    if run.outcome != "locked" or wait <= 0:
        return run
    deadline = time.monotonic() + wait
    binary = binary or argv[0]
    version = (versions or VersionCache()).get(transport, binary)
    if argv[0] == binary and supports(version, Feature.RETRY_LOCK):
        waited = [argv[0], "--retry-lock", f"{math.ceil(wait)}s", *argv[1:]]
        return run_restic(transport, waited, password, stdin=stdin, timeout=timeout)
    pause = LOCK_RETRY_FIRST_PAUSE
    while run.outcome == "locked" and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, LOCK_RETRY_PAUSE_MAX)
        run = run_restic(transport, argv, password, stdin=stdin, timeout=timeout)
    return run


def run_restic(
    transport: Transport,
    argv: Sequence[str],
    password: str,
    *,
    stdin: bytes | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    on_output: Callable[[bytes], None] | None = None,
) -> ResticRun:
    """Run restic (or a pipeline ending in restic) with the password in its environment only.

    The password goes in `secret_env`: never argv, never a file; the SSH transport hands it to a
    tiny wrapper on stdin, so it is not in the remote command line or `ps` either. With
    `on_output`, stdout is handed over while restic runs, where the transport can stream it.
    """
    secret_env = {"RESTIC_PASSWORD": password}
    streaming = getattr(transport, "run_streaming", None)
    if on_output is not None and streaming is not None:
        result = streaming(list(argv), on_output, env=env, secret_env=secret_env, stdin=stdin, timeout=timeout,
                           check=False)
    else:
        result = transport.run(list(argv), env=env, secret_env=secret_env, stdin=stdin, timeout=timeout,
                               check=False)
    return ResticRun(result, classify(result.returncode, strip_pipe_status(result.stderr)))
