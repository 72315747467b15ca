"""An in-memory core.ports.ServiceManager: which timers are enabled, whether systemd's tools exist and
run, what `systemd-analyze verify` would say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class FakeServiceManager:
    tools: bool = False  # systemd-analyze installed
    runs: bool = False  # systemd is the machine's init
    verify_says: str | None = None  # what `systemd-analyze verify` reports (None: accepted)
    enabled: set[tuple[str | None, str]] = field(default_factory=set)
    verified: list[list[str]] = field(default_factory=list)
    reloads: int = 0

    def available(self) -> bool:
        return self.tools

    def running(self) -> bool:
        return self.runs

    def calendar_problem(self, expression: str) -> str | None:
        return None

    def verify(self, unit_files: Sequence[str]) -> str | None:
        self.verified.append(list(unit_files))
        return self.verify_says

    def enable(self, timers: Sequence[str], *, root: str | None) -> None:
        self.enabled |= {(root, timer) for timer in timers}

    def disable(self, timers: Sequence[str], *, root: str | None) -> None:
        self.enabled -= {(root, timer) for timer in timers}

    def is_enabled(self, timer: str, *, root: str | None) -> bool:
        return (root, timer) in self.enabled

    def reload(self) -> None:
        self.reloads += 1
