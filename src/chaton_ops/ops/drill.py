"""`chaton drill`: a restore rehearsal that proves the backup, not just that it exists.

For each service: restore its latest snapshot into a scratch folder on a host (its fallback, else its
own host), verify it against the snapshot (restic's content check, then the listing: entries, types,
modes, sizes, owners, times), load each database dump into a scratch database and query it, measure
the speed, remove everything scratch, and journal the result (failover estimates its duration from it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Secrets, Transport
from chaton_ops.core.restore import RestorePlan, SnapshotInfo, plan_restore, run_stamp
from chaton_ops.errors import ChatonError, ConnectError, ExitCode, UsageError
from chaton_ops.ops.restore import (
    RestoreJournal,
    RestoreReport,
    Steps,
    current_host,
    gather_restore_facts,
    restore_data,
    snapshot_detail,
)
from chaton_ops.ops.restore_db import DatabaseLoaded, database_of, drill_database
from chaton_ops.ops.restore_steps import Progress, check_space, megabytes_per_second, remove_tree

SCRATCH_ROOT = "/var/tmp"
SCRATCH_MARK = "chaton-drill-"


def drill_host(loaded: LoadedInventory, service: str, on: str | None = None) -> str:
    """Where a drill runs: `on`, else the service's fallback (where a failover would restore), else its host."""
    if on is not None:
        if on not in loaded.inventory.hosts:
            raise UsageError(f"unknown host: {on} (known: {', '.join(sorted(loaded.inventory.hosts))})")
        return on
    return loaded.inventory.services[service].fallback or current_host(loaded, service)


@dataclass
class DrillResult:
    service: str
    host: str
    snapshot: SnapshotInfo | None = None
    age_seconds: float | None = None
    files: int = 0
    bytes: int = 0
    duration: float = 0.0  # restic restore (with its verification) only
    verified: bool = False
    databases: list[DatabaseLoaded] = field(default_factory=list)
    scratch: str | None = None
    error: str | None = None
    unreachable: bool = False

    @property
    def status(self) -> str:
        return "failed" if self.error else "ok"

    @property
    def mb_per_second(self) -> float:
        return megabytes_per_second(self.bytes, self.duration)

    def detail(self) -> dict[str, Any]:
        return {"service": self.service, "host": self.host, "snapshot": self.snapshot.id if self.snapshot else None,
                "snapshot_time": self.snapshot.time.isoformat() if self.snapshot else None, "bytes": self.bytes,
                "files": self.files, "duration": round(self.duration, 3), "mb_per_s": self.mb_per_second,
                "verified": self.verified, "databases": [d.detail() for d in self.databases],
                "scratch": self.scratch, "error": self.error}


def drill_service(loaded: LoadedInventory, service: str, transport: Transport, *, password: str,
                  repository: str | None = None, journal: RestoreJournal | None = None, run_id: int | None = None,
                  progress: Progress | None = None, scratch_root: str = SCRATCH_ROOT) -> DrillResult:
    """One drill on `transport.host`; never raises for a failed drill (the result says why)."""
    started = dt.datetime.now(dt.UTC)
    result = DrillResult(service, transport.host)
    root = f"{scratch_root.rstrip('/')}/{SCRATCH_MARK}{service}-{run_stamp(started)}"
    steps = Steps(journal, run_id, service)
    made_root = False
    try:
        gathered = gather_restore_facts(loaded, service, transport, mode="drill", password=password,
                                        repository=repository, root=root, started=started)
        plan = plan_restore(gathered.facts)
        result.snapshot, result.age_seconds = plan.snapshot, plan.snapshot_age_seconds
        result.files, result.scratch = plan.total_entries, root if plan.paths else None
        if plan.refusals:
            raise ChatonError("; ".join(plan.refusals))
        check_space(transport, plan.space)
        made_root = bool(plan.paths)
        report = RestoreReport(plan)
        restore_data(transport, plan, gathered.listing, binary=loaded.inventory.hosts[transport.host].restic,
                     repository_url=loaded.inventory.repositories[plan.repository].url, password=password,
                     steps=steps, report=report, progress=progress, step_name="drill")
        result.bytes = report.bytes
        result.duration = report.restore_seconds
        result.verified = report.verified or not plan.paths
        _drill_databases(loaded, plan, transport, password, steps, result, progress)
    except ConnectError as failure:
        result.error, result.unreachable = failure.message, True
    except ChatonError as failure:
        result.error = failure.message
    finally:
        if made_root:
            try:
                remove_tree(transport, root, marker=SCRATCH_MARK)
            except ChatonError as failure:
                result.error = result.error or f"cannot remove the scratch folder {root}: {failure}"
    if result.error:
        result.verified = False
    _record(steps, result)
    return result


def _record(steps: Steps, result: DrillResult) -> None:
    """The "drill result" row: what `status`, the break-glass runbook and failover's estimate read."""
    steps.record("drill result", result.status, {**result.detail(), "age_seconds": result.age_seconds})


def _drill_databases(loaded: LoadedInventory, plan: RestorePlan, transport: Transport, password: str,
                     steps: Steps, result: DrillResult, progress: Progress | None) -> None:
    databases = list(loaded.inventory.services[plan.service].databases)
    for item in plan.databases:
        if progress is not None:
            progress(f"loading {item.engine}:{item.name}", None)
        with steps.step("drill database", {**snapshot_detail(plan), "database": f"{item.engine}:{item.name}",
                                           "dump_snapshot": item.snapshot_id, "scratch": item.staging_name}) as detail:
            loaded_db = drill_database(transport, item, database_of(item, databases),
                                       binary=loaded.inventory.hosts[transport.host].restic,
                                       repository_url=loaded.inventory.repositories[plan.repository].url,
                                       password=password)
            result.databases.append(loaded_db)
            detail.update(loaded_db.detail())


def drill_on(loaded: LoadedInventory, service: str, host: str, transports: Callable[[str], Transport], *,
             repository: str, secrets: Secrets, journal: RestoreJournal | None = None, run_id: int | None = None,
             progress: Callable[[str], None] | None = None) -> DrillResult:
    """One drill of `service` on `host` (a step of `chaton drill`'s runbook, ops/drill_run.py); never
    raises for a failed drill, an unreachable host or a missing password (the result says why). The
    repository's password comes from `secrets`."""
    def stage(text: str, status: object) -> None:
        if progress is not None:
            progress(text)

    try:
        password = secrets.resolve(loaded.inventory.repositories[repository].password).reveal()
        transport = transports(host)
    except ChatonError as failure:
        result = DrillResult(service, host, error=failure.message, unreachable=isinstance(failure, ConnectError))
        _record(Steps(journal, run_id, service), result)
        return result
    return drill_service(loaded, service, transport, password=password, repository=repository, journal=journal,
                         run_id=run_id, progress=stage)


def drill_exit_code(results: list[DrillResult]) -> ExitCode:
    if not results or all(r.status == "ok" for r in results):
        return ExitCode.OK
    if all(r.unreachable for r in results if r.status == "failed") and all(r.status == "failed" for r in results):
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED
