"""The outcome of a run over several targets (one service on one repository each).

Pure data shared by the backup use case (which fills it), notifications and the Prometheus
textfile (which read it). A service backed up to two repositories gives two results; the
service's own status is the worst of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chaton_ops.core.run_report import RunSummary
from chaton_ops.errors import ExitCode, TargetOutcome, exit_code_of

TargetStatus = Literal["ok", "warning", "failed"]
RunStatus = Literal["ok", "warning", "failed", "partial"]

# Worst first: a service's status is the worst status among its targets.
_SEVERITY: dict[str, int] = {"ok": 0, "warning": 1, "failed": 2}


@dataclass(frozen=True)
class TargetResult:
    """What happened to one service on one repository (repository None: no repository involved)."""

    service: str
    host: str
    repository: str | None
    status: TargetStatus
    message: str = ""
    snapshot_id: str | None = None
    bytes_added: int | None = None
    duration: float = 0.0
    files_new: int | None = None
    files_changed: int | None = None
    unreachable: bool = False  # failed because its host (or the repository's) could not be reached
    bytes_processed: int | None = None  # size of the data backed up (files and dumps), as restic read it

    @property
    def succeeded(self) -> bool:
        """A warning (e.g. restic exit 3, some files unreadable) still produced a snapshot."""
        return self.status != "failed"

    @property
    def outcome(self) -> TargetOutcome:
        """The status as the exit-code policy counts it (a failure to reach the host is its own kind)."""
        return "unreachable" if self.status == "failed" and self.unreachable else self.status


def worst_status(statuses: list[TargetStatus] | tuple[TargetStatus, ...]) -> TargetStatus:
    """The most severe of the statuses ("ok" for none)."""
    worst: TargetStatus = "ok"
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[worst]:
            worst = status
    return worst


@dataclass(frozen=True)
class RunReport:
    """One run of a command (e.g. `backup`) over its targets, in the order they were run."""

    command: str
    started: datetime
    ended: datetime
    results: tuple[TargetResult, ...]
    runbook: RunSummary | None = None  # the run in the shape every command shares (core/run_report.py)

    @property
    def status(self) -> RunStatus:
        """ok: all ok · warning: nothing failed, something warned · failed: nothing succeeded ·
        partial: some targets failed, others succeeded. A run without targets is ok."""
        if not self.results:
            return "ok"
        failed = sum(1 for result in self.results if result.status == "failed")
        if failed == len(self.results):
            return "failed"
        if failed:
            return "partial"
        if any(result.status == "warning" for result in self.results):
            return "warning"
        return "ok"

    @property
    def exit_code(self) -> ExitCode:
        """The exit code the policy (errors.EXIT_CODES) gives these targets' outcomes."""
        return exit_code_of(result.outcome for result in self.results)

    @property
    def duration(self) -> float:
        """Wall time of the whole run in seconds."""
        return max(0.0, (self.ended - self.started).total_seconds())

    def failed(self) -> tuple[TargetResult, ...]:
        """The targets that failed, in run order."""
        return tuple(result for result in self.results if result.status == "failed")

    def warnings(self) -> tuple[TargetResult, ...]:
        """The targets that succeeded with a warning, in run order."""
        return tuple(result for result in self.results if result.status == "warning")

    def by_service(self) -> dict[str, tuple[TargetResult, ...]]:
        """Results grouped per service, services in the order they first appear."""
        grouped: dict[str, list[TargetResult]] = {}
        for result in self.results:
            grouped.setdefault(result.service, []).append(result)
        return {service: tuple(results) for service, results in grouped.items()}

    def service_statuses(self) -> dict[str, TargetStatus]:
        """Each service's status: the worst of its targets."""
        return {
            service: worst_status(tuple(result.status for result in results))
            for service, results in self.by_service().items()
        }
