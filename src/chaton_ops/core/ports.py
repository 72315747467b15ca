"""Ports: the small interfaces use cases talk to. Adapters implement them; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from chaton_ops.core.alerting import AlertState
    from chaton_ops.core.dns import RecordChange, RecordSet
    from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
    from chaton_ops.core.masking import SecretValue
    from chaton_ops.core.probes import HttpResult, SmtpResult, TcpResult
    from chaton_ops.core.proxmox import ApiCall
    from chaton_ops.errors import Problem


@dataclass(frozen=True)
class CommandResult:
    """How a command ended on a host. `argv` is masked (no secret values)."""

    host: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def stderr_tail(self, lines: int = 10) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class Rendered:
    """A template rendered: the text, or the problem that stopped rendering (file and line)."""

    text: str | None
    problem: Problem | None = None


class Transport(Protocol):
    """Runs commands and moves files on one host.

    `run` takes an argv list (quoted with shlex.join on the remote side, never a shell string).
    `secret_env` values reach the command's environment without appearing in argv, in the remote
    command line or in logs (the SSH transport feeds them through stdin to a tiny wrapper).
    With `check=True` a non-zero exit raises CommandFailed (masked argv, exit code, stderr tail).
    Connection problems raise ConnectError naming the host.
    """

    host: str

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult: ...

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None: ...

    def get(self, remote_path: str) -> bytes: ...

    def close(self) -> None: ...


class Secrets(Protocol):
    """The inventory's secrets, revealed one at a time when a step needs one (adapters/secrets.py reads
    the `env`, `file` or `command` reference; tests/fakes.py holds them in memory).

    `resolve` returns a SecretValue (registered for masking, never shown by repr) or raises SecretError
    naming the secret and what failed, never the value. Use the value in a transport's `secret_env`,
    never in argv, logs, output, the journal or an exception."""

    def resolve(self, name: str) -> SecretValue: ...


class JournaledStep(Protocol):
    """A step as the journal recorded it (adapters/journal.StepRecord)."""

    @property
    def status(self) -> str: ...

    @property
    def detail(self) -> Mapping[str, Any]: ...

    @property
    def done(self) -> bool: ...


class RunJournal(Protocol):
    """What the runbook engine needs of the journal: runs with their plan, keyed steps journaled as
    running before they start and with their outputs after, resumable."""

    def start_run(self, command: str, args: list[str], *, plan: dict[str, Any] | None = None) -> int: ...

    def resume_run(self, run_id: int) -> None: ...

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None: ...

    def plan(self, run_id: int) -> dict[str, Any] | None: ...

    def begin_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                         inputs: dict[str, Any]) -> int: ...

    def end_keyed_step(self, step_id: int, status: str, *, outputs: dict[str, Any] | None = None,
                       error: str | None = None, reason: str | None = None) -> None: ...

    def record_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                          status: str, inputs: dict[str, Any], reason: str) -> int: ...

    def keyed_steps(self, run_id: int) -> Mapping[str, JournaledStep]: ...


@runtime_checkable
class StepNotes(Protocol):
    """A note in a run's journal beside its steps (a repository initialised, stale locks removed)."""

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int: ...


class Dns(Protocol):
    """A zone's records: read from its primary, changed in one signed update conditioned on what was
    read, then checked on every authoritative server (adapters/dns.py)."""

    def read(self, zone: str, name: str, rtype: str) -> RecordSet: ...

    def query(self, server: str, zone: str, name: str, rtype: str, *, port: int = 53) -> RecordSet: ...

    def authoritative_servers(self, zone: str) -> list[str]: ...

    def resolve(self, name: str, rtype: str) -> list[str]: ...

    def address_of(self, name: str) -> str | None: ...

    def update(self, zone: str, changes: Sequence[RecordChange]) -> None: ...

    def check_update_key(self, zone: str) -> None: ...

    def wait_until_served(self, zone: str, change: RecordChange, *, timeout: float = 60.0,
                          interval: float = 1.0) -> dict[str, RecordSet]: ...


class Proxmox(Protocol):
    """The API of one Proxmox VE cluster (`cluster` is its name in the inventory).

    `get` reads a path under /api2/json and returns the answer's `data`; `send` makes a change and
    returns its `data` (a task's UPID for the calls PVE runs as tasks). Paths and parameters are built
    by `core/proxmox.py`, answers are parsed there. Errors: ProxmoxError with PVE's own message
    (ProxmoxAuthError for a refused token, NodeOffline, QuorumLost) and ConnectError when the API
    cannot be reached within the cluster's timeout.
    """

    cluster: str

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any: ...

    def send(self, call: ApiCall) -> Any: ...


class Probes(Protocol):
    """Service probes from the machine running chaton (adapters/probes.py). Each returns what it saw,
    an error included, within its check's timeout; none raises for a service that does not answer.
    `address` aims a probe at that address instead of the host its check names, keeping the name for
    HTTP's Host header and for TLS (the failover checks the fallback before DNS points there)."""

    def http(self, check: HttpCheck, *, address: str | None = None) -> HttpResult: ...

    def smtp(self, check: SmtpCheck, *, address: str | None = None) -> SmtpResult: ...

    def tcp(self, check: TcpCheck, *, address: str | None = None) -> TcpResult: ...


class StreamingTransport(Transport, Protocol):
    """A transport that also hands a command's stdout over while it runs (for progress displays).

    `on_output` receives stdout in chunks as they arrive (not split into lines); the result still
    carries the whole stdout. Use cases check for `run_streaming` and fall back to `run`."""

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
    ) -> CommandResult: ...


class FailoverJournal(RunJournal, Protocol):
    """The journal as failover and failback use it: runs and keyed steps, plus placements and
    the outputs of earlier runs (the records a failover replaced, the speeds of earlier restores)."""

    def set_placement(self, service: str, host: str, *, home: str, run_id: int | None, reason: str) -> None: ...

    def placements(self) -> Mapping[str, Any]: ...

    def latest_steps(self, action: str, *, limit: int = 50) -> list[Any]: ...

    def unfinished_runs(self, command: str) -> list[Any]: ...


class JournalReader(Protocol):
    """The journal read back, opened read-only (adapters/journal.py; reading never creates a journal):
    runs and their steps (`history`), the latest steps of an action (`status`, `runbook`), where moved
    services run (placements). The records are the adapter's (RunRecord, StepRecord, PlacementRecord)."""

    @property
    def path(self) -> Path: ...

    def runs(self, limit: int = 20, command: str | None = None) -> Sequence[Any]: ...

    def run(self, run_id: int) -> Any | None: ...

    def steps(self, run_id: int) -> Sequence[Any]: ...

    def keyed_steps(self, run_id: int) -> Mapping[str, Any]: ...

    def plan(self, run_id: int) -> dict[str, Any] | None: ...

    def latest_steps(self, action: str, *, limit: int = 50) -> Sequence[Any]: ...

    def placements(self) -> Mapping[str, Any]: ...

    def placement_history(self, limit: int = 100) -> Sequence[Any]: ...


class ServiceManager(Protocol):
    """What schedules need of the machine's init system (adapters/systemd.py): calendar expressions
    checked, unit files verified, timers enabled or disabled. Every method works on a unit folder under
    `root` when one is given (tests, images), without a running systemd."""

    def available(self) -> bool: ...

    def running(self) -> bool: ...

    def calendar_problem(self, expression: str) -> str | None: ...

    def verify(self, unit_files: Sequence[str]) -> str | None: ...

    def enable(self, timers: Sequence[str], *, root: str | None) -> None: ...

    def disable(self, timers: Sequence[str], *, root: str | None) -> None: ...

    def is_enabled(self, timer: str, *, root: str | None) -> bool: ...

    def reload(self) -> None: ...


class Notifier(Protocol):
    """Delivers notifications (adapters/notifiers.py: healthchecks pings with httpx, messages with
    apprise). `url` is a resolved secret (it carries a token): used to deliver, never shown.

    Each method returns None when the notification arrived, else why not, with no part of the URL in
    it; it does not raise for a destination that is down, refuses or is not a URL it understands (a
    monitor that is down must not turn a good run into a failed one)."""

    def ping(self, url: str, body: str = "") -> str | None: ...

    def send(self, url: str, title: str, body: str, notify_type: str) -> str | None: ...


class LastStatuses(Protocol):
    """The last status of each service per command, kept between runs to notice recoveries
    (adapters/run_state.py: `last-status.json` in the state directory)."""

    def load(self, command: str) -> dict[str, str]:
        """{service: status} for `command` ({} when nothing was recorded yet); ValueError when the
        memory cannot be read (the caller reports it and goes on)."""
        ...

    def save(self, command: str, statuses: Mapping[str, str]) -> None:
        """Record `statuses`, keeping the services this run did not cover; PathError when it cannot."""
        ...


class AlertStore(Protocol):
    """The memory of `chaton status` between runs (adapters/status_state.py: `status.json`): each
    finding's level, the public incidents, the silences. A read-modify-write holds `locked()`."""

    def locked(self) -> AbstractContextManager[None]: ...

    def read(self) -> tuple[AlertState, str | None]:
        """The state, and a problem text when it could not be used (then an empty state)."""
        ...

    def write(self, state: AlertState) -> None:
        """Replace the state (PathError when it cannot be written)."""
        ...


class Locks(Protocol):
    """chaton's locks on the machine running it (adapters/run_locks.py; which run holds which is the one
    policy of core/locks.py). `hold` takes them in name order, waiting up to `wait` seconds for each, and
    raises LockError naming what is held and by whom; `wait_option`: the command has --lock-wait."""

    def hold(self, names: Sequence[str], *, wait: float = 0.0,
             wait_option: bool = True) -> AbstractContextManager[None]: ...


class Templates(Protocol):
    """The templates of one playbook folder rendered (adapters/templates.py `TemplateRenderer`: strict
    Jinja2, each value fitted to the file it is written into). Rendering never raises for a template's
    problem: the Rendered result carries it, naming the file and line, so that every problem of a
    playbook is reported at once, before a host is touched."""

    def render_file(self, src: str, context: dict[str, Any]) -> Rendered: ...

    def render_string(self, text: str, context: dict[str, Any], *, file: str, line: int | None) -> Rendered: ...


# the templates of a playbook folder: `templates(folder)` (the TemplateRenderer class is one)
TemplatesFor = Callable[[Path], Templates]


class Files(Protocol):
    """Regular files on the machine running chaton (adapters/atomic.py `LocalFiles`): read with a bound,
    written in one piece (a reader sees the old content or the new), never a device, folder or FIFO."""

    def read_text(self, path: Path) -> str:
        """The file's text (UTF-8, undecodable bytes replaced); FileNotFoundError when there is none,
        PathError when it is not a regular file or cannot be read."""
        ...

    def write_text(self, path: Path, text: str, *, mode: int = 0o644) -> None:
        """Replace `path` (its folder must exist) with `text`; PathError when it cannot."""
        ...
