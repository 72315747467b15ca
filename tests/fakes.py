"""In-memory stand-ins for the ports of core/ports.py, shared by the unit tests (no copies per file).

- `FakeTransport`: a host that answers commands (override `answer`, or give `failure`), keeps what it
  ran and what was put on it, and counts how many of its kind run at once;
- `FakeProbes`: HTTP, SMTP and TCP probes answering as told, recording each call;
- `FakeNotifier`: pings and messages recorded, destinations that fail as told;
- `FakeLastStatuses`, `FakeAlertStore`: the memories kept between runs, in a dict and a variable;
- `FakeSecrets`: the Secrets port over a dict, recording which names were asked.

A fake is used only where the real part cannot run in a unit test; the lab tests use the real ones.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from chaton_ops.core.alerting import AlertState
from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
from chaton_ops.core.masking import SecretValue
from chaton_ops.core.ports import CommandResult
from chaton_ops.core.probes import HttpResult, SmtpResult, TcpResult
from chaton_ops.errors import PathError, SecretError


class FakeTransport:
    """A host: `answer(argv)` says how each command ends (by default: exit 0, no output).

    `failure` is raised by every command (a ConnectError for an unreachable host); `gate` is a barrier
    each command waits at (to prove parallelism); `delay` seconds pass per command. The class counts
    the commands running at the same moment across instances (`running`, `most_at_once`)."""

    running = 0
    most_at_once = 0
    lock = threading.Lock()

    def __init__(self, host: str, failure: Exception | None = None, gate: threading.Barrier | None = None, *,
                 delay: float = 0.0) -> None:
        self.host = host
        self.failure = failure
        self.gate = gate
        self.delay = delay
        self.commands: list[list[str]] = []
        self.secret_environments: list[Mapping[str, str]] = []
        self.files: dict[str, tuple[bytes, int]] = {}

    @classmethod
    def reset_counters(cls) -> None:
        FakeTransport.running = 0
        FakeTransport.most_at_once = 0

    def answer(self, argv: list[str]) -> CommandResult:
        return self.result(argv, 0, "")

    def result(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str = "") -> CommandResult:
        return CommandResult(self.host, tuple(argv), returncode, stdout, stderr, self.delay or 0.001)

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            secret_env: Mapping[str, str] | None = None, stdin: bytes | None = None,
            timeout: float | None = None, check: bool = True) -> CommandResult:
        with FakeTransport.lock:
            FakeTransport.running += 1
            FakeTransport.most_at_once = max(FakeTransport.most_at_once, FakeTransport.running)
        try:
            if self.gate is not None:
                self.gate.wait(timeout=5)
            self.commands.append(list(argv))
            self.secret_environments.append(dict(secret_env or {}))
            if self.delay:
                time.sleep(self.delay)
            if self.failure is not None:
                raise self.failure
            return self.answer(list(argv))
        finally:
            with FakeTransport.lock:
                FakeTransport.running -= 1

    def put(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        if self.failure is not None:
            raise self.failure
        self.files[remote_path] = (data, mode)

    def get(self, remote_path: str) -> bytes:
        if self.failure is not None:
            raise self.failure
        if remote_path not in self.files:
            raise FileNotFoundError(remote_path)
        return self.files[remote_path][0]

    def close(self) -> None:
        return None


class FakeProbes:
    """The Probes port: every probe answers well unless its URL or host is in `down`; each call is
    recorded (after `delay` seconds, to prove probes run in parallel)."""

    def __init__(self, *, down: Sequence[str] = (), delay: float = 0.0, status: int = 200) -> None:
        self.down = set(down)
        self.delay = delay
        self.status = status
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def _record(self, what: str) -> bool:
        with self.lock:
            self.calls.append(what)
        time.sleep(self.delay)
        return what in self.down

    def http(self, check: HttpCheck, *, address: str | None = None) -> HttpResult:
        if self._record(str(check.url)):
            return HttpResult(str(check.url), 2.0, error="no answer within 10 s")
        return HttpResult(str(check.url), 0.05, status=self.status)

    def smtp(self, check: SmtpCheck, *, address: str | None = None) -> SmtpResult:
        if self._record(check.host):
            return SmtpResult(check.host, 0.01, error="connection refused")
        return SmtpResult(check.host, 0.05, "mx ESMTP", True, True)

    def tcp(self, check: TcpCheck, *, address: str | None = None) -> TcpResult:
        if self._record(check.host):
            return TcpResult(check.host, 0.01, error="connection refused")
        return TcpResult(check.host, 0.01)


@dataclass(frozen=True)
class Delivery:
    """One ping (`title` and `notify_type` empty) or message the FakeNotifier was asked to deliver."""

    url: str
    title: str
    body: str
    notify_type: str
    arrived: bool


class FakeNotifier:
    """The Notifier port: every ping and message is recorded in `deliveries`; one whose URL starts with
    a prefix in `failing` does not arrive (reason: `connection refused`)."""

    def __init__(self, *, failing: Sequence[str] = ()) -> None:
        self.failing = list(failing)
        self.deliveries: list[Delivery] = []

    def _deliver(self, url: str, title: str, body: str, notify_type: str) -> str | None:
        arrived = not any(url.startswith(prefix) for prefix in self.failing)
        self.deliveries.append(Delivery(url, title, body, notify_type, arrived))
        return None if arrived else "connection refused"

    def ping(self, url: str, body: str = "") -> str | None:
        return self._deliver(url, "", body, "")

    def send(self, url: str, title: str, body: str, notify_type: str) -> str | None:
        return self._deliver(url, title, body, notify_type)

    def arrived(self) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.arrived]


class FakeLastStatuses:
    """The LastStatuses port over a dict {command: {service: status}}; `unreadable` makes `load` fail
    as a corrupt file does, `unwritable` makes `save` fail as a read-only state folder does."""

    def __init__(self, statuses: Mapping[str, Mapping[str, str]] | None = None, *, unreadable: bool = False,
                 unwritable: bool = False) -> None:
        self.statuses = {command: dict(per_service) for command, per_service in (statuses or {}).items()}
        self.unreadable = unreadable
        self.unwritable = unwritable

    def load(self, command: str) -> dict[str, str]:
        if self.unreadable:
            raise ValueError("last-status.json is not valid JSON")
        return dict(self.statuses.get(command, {}))

    def save(self, command: str, statuses: Mapping[str, str]) -> None:
        if self.unwritable:
            raise PathError("cannot write last-status.json: read-only file system")
        self.statuses[command] = {**self.statuses.get(command, {}), **statuses}


class FakeAlertStore:
    """The AlertStore port in a variable; `writes_outside_lock` counts writes made without `locked()`."""

    def __init__(self, state: AlertState | None = None) -> None:
        self.state = state or AlertState()
        self.held = False
        self.writes = 0
        self.writes_outside_lock = 0

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def read(self) -> tuple[AlertState, str | None]:
        return self.state, None

    def write(self, state: AlertState) -> None:
        self.writes += 1
        self.writes_outside_lock += 0 if self.held else 1
        self.state = state


class FakeSecrets:
    """The Secrets port: values from a dict, as SecretValues (so they are registered for masking like the
    real ones); an unknown name raises SecretError as the inventory's resolver does. `asked` keeps the
    names in the order they were resolved."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.asked: list[str] = []

    def resolve(self, name: str) -> SecretValue:
        self.asked.append(name)
        if name not in self.values:
            raise SecretError(f"secret '{name}' is not defined in the inventory")
        return SecretValue(name, self.values[name])
