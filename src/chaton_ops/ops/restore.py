"""`chaton restore`: facts (ops/restore_facts.py) → plan (core/restore.py) → steps (ops/restore_steps.py,
ops/restore_db.py), strung together by `prepare_restore` + `apply_restore`; the command runs them as a
runbook step on the engine (ops/restore_run.py). Failover calls the same facts and steps itself, host
by host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import RunJournal, Secrets, TemplatesFor, Transport
from chaton_ops.core.restic_output import SnapshotListing
from chaton_ops.core.restore import RestorePlan, RestoreRefused, plan_restore
from chaton_ops.errors import ChatonError, ExitCode, UsageError
from chaton_ops.ops.deploy import DeployReport, PreparedDeploy, Probe, prepare_deploy, run_playbook
from chaton_ops.ops.restic_calls import run_restic
from chaton_ops.ops.restore_db import DatabaseLoaded, database_of, load_database
from chaton_ops.ops.restore_facts import (  # noqa: F401 - gather_restore_facts and current_host, for failover
    LIST_TIMEOUT,
    GatheredRestore,
    check_service_and_host,
    choose_repository,
    current_host,
    destination_states,
    gather_restore_facts,
)
from chaton_ops.ops.restore_steps import (  # noqa: F401 - the steps, importable from here by failover
    Progress,
    RestoreFailed,
    SpaceResult,
    StagedCopy,
    Swapped,
    Verification,
    check_space,
    discard_kept_aside,
    megabytes_per_second,
    remove_staging,
    restore_calls,
    restore_into,
    swap_into_place,
    verify_restored,
)

SPEED_SAMPLES = 10
SPEED_MIN_BYTES = 1 << 20  # smaller restores measure restic's start, not its speed


# ------------------------------------------------------------------------------------------ journal
class RestoreJournal(Protocol):
    """What the steps of restores and drills need of adapters/journal.Journal: their own rows."""

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int: ...

    def step(self, run_id: int, target: str, step: str,
             detail: dict[str, Any] | None = None) -> Any: ...


class RestoreRunJournal(RunJournal, RestoreJournal, Protocol):
    """A run of the engine whose steps journal their own rows (restore, drill: ops/*_run.py)."""


class Steps:
    """Journals each step of a run (as running before it starts, with its outputs after), or nothing."""

    def __init__(self, journal: RestoreJournal | None, run_id: int | None, target: str) -> None:
        self.journal, self.run_id, self.target = journal, run_id, target

    @contextmanager
    def step(self, name: str, detail: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if self.journal is None or self.run_id is None:
            yield dict(detail)
            return
        with self.journal.step(self.run_id, self.target, name, detail) as extra:
            yield extra

    def record(self, name: str, status: str, detail: dict[str, Any]) -> None:
        if self.journal is not None and self.run_id is not None:
            self.journal.record_step(self.run_id, self.target, name, status, detail)


# ------------------------------------------------------------------------------------------ apply
@dataclass
class RestoreReport:
    """What a restore did, step by step (filled as it goes: a failure leaves what was done before)."""

    plan: RestorePlan
    copies: list[StagedCopy] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    databases: list[DatabaseLoaded] = field(default_factory=list)
    swaps: list[Swapped] = field(default_factory=list)
    playbook: list[DeployReport] = field(default_factory=list)
    dump_files: list[str] = field(default_factory=list)  # --target: dumps written as files
    duration: float = 0.0
    error: str | None = None

    @property
    def bytes(self) -> int:
        return sum(copy.bytes for copy in self.copies)

    @property
    def restore_seconds(self) -> float:
        return sum(copy.duration for copy in self.copies)

    @property
    def verified(self) -> bool:
        return bool(self.verifications) and all(v.verified for v in self.verifications)

    @property
    def status(self) -> str:
        return "failed" if self.error else "ok"

    def state_of_paths(self) -> list[tuple[str, str]]:
        """Each path: restored, or as it was before (never anything in between)."""
        swapped = {swap.path for swap in self.swaps}
        return [(item.destination, "restored" if item.destination in swapped or item.action == "write" and
                 not self.error else "as before") for item in self.plan.paths]


def snapshot_detail(plan: RestorePlan) -> dict[str, Any]:
    snapshot = plan.snapshot
    return {"service": plan.service, "host": plan.host, "snapshot": snapshot.id if snapshot else None,
            "snapshot_time": snapshot.time.isoformat() if snapshot else None}


def copy_detail(plan: RestorePlan, copy: StagedCopy, verified: bool | None) -> dict[str, Any]:
    return {**snapshot_detail(plan), "bytes": copy.bytes, "files": copy.files, "duration": round(copy.duration, 3),
            "mb_per_s": copy.mb_per_second, "verified": verified, "folder": copy.folder, "paths": list(copy.paths)}


def restore_data(transport: Transport, plan: RestorePlan, listing: SnapshotListing | None, *, binary: str,
                 repository_url: str, password: str, steps: Steps, report: RestoreReport,
                 progress: Progress | None, step_name: str = "restore") -> None:
    """restic restore of every path into its staging (or target, or scratch) folder, then verification
    of each path there. Journaled per restic call with snapshot, bytes, files, duration, MB/s, verified."""
    if plan.snapshot is None or listing is None:
        return
    from chaton_ops.core.restic import parse_version

    version = parse_version(f"restic {plan.restic_version}")
    for call in restore_calls(plan):
        if progress is not None:
            progress("restoring", None)
        with steps.step(step_name, {**snapshot_detail(plan), "folder": call.folder, "paths": list(call.paths),
                                    "bytes": call.bytes, "files": call.files}) as detail:
            copy = restore_into(transport, call, binary=binary, repository_url=repository_url, password=password,
                                snapshot_id=plan.snapshot.id, version=version, progress=progress,
                                must_be_new=plan.mode != "target")
            report.copies.append(copy)
            checks = []
            for item in plan.paths:
                if item.path in call.paths:
                    location = item.staged_path if item.staged_path else item.destination
                    if progress is not None:
                        progress(f"verifying {item.path}", None)
                    checks.append(verify_restored(transport, listing.under(item.path), item.path, location))
            report.verifications += checks
            verified = all(check.verified for check in checks)
            detail.update(copy_detail(plan, copy, verified))
            detail["differences"] = [d for check in checks for d in check.differences]
            if not verified:
                detail["status"] = "failed"
                first = next(check for check in checks if not check.verified)
                raise RestoreFailed(f"{transport.host}: the restored copy of {first.path} differs from the snapshot "
                                    f"({'; '.join(first.differences)}); nothing was swapped; the copy is in "
                                    f"{transport.host}:{call.folder}")


@dataclass(frozen=True)
class PreparedRestore:
    plan: RestorePlan
    listing: SnapshotListing | None
    password: str
    binary: str
    repository_url: str


def prepare_restore(loaded: LoadedInventory, service: str, transports: Callable[[str], Transport], *,
                    secrets: Secrets, templates: TemplatesFor, snapshot: str = "latest", to: str | None = None,
                    target: str | None = None, repository: str | None = None) -> PreparedRestore:
    """Facts and plan of `chaton restore` (read-only: what --dry-run shows); the repository's password
    from `secrets`, the playbook's steps rendered with `templates`."""
    check_service_and_host(loaded, service, to)
    if target is not None and not target.startswith("/"):
        raise UsageError(f"--target needs an absolute path, not {target!r}")
    host = to or current_host(loaded, service)
    repository = choose_repository(loaded, service, repository)
    password = secrets.resolve(loaded.inventory.repositories[repository].password).reveal()
    transport = transports(host)
    gathered = gather_restore_facts(loaded, service, transport, mode="target" if target else "in-place",
                                    password=password, snapshot=snapshot, repository=repository,
                                    root=target.rstrip("/") or "/" if target else None, templates=templates)
    return PreparedRestore(plan_restore(gathered.facts), gathered.listing, password,
                           loaded.inventory.hosts[host].restic, loaded.inventory.repositories[repository].url)


def apply_restore(loaded: LoadedInventory, prepared: PreparedRestore, transport: Transport, *,
                  templates: TemplatesFor, probe: Probe, journal: RestoreJournal | None = None,
                  run_id: int | None = None, progress: Progress | None = None) -> RestoreReport:
    """Apply a plan: space → restore and verify in staging → databases into staging → stop → swaps →
    start → after_restore. Until the swaps nothing live is touched; a failure says what is where. The
    playbook's phases are rendered with `templates`; their `wait` steps ask `probe`."""
    plan = prepared.plan
    if plan.refusals:
        raise RestoreRefused("; ".join(plan.refusals))
    steps = Steps(journal, run_id, plan.service)
    report = RestoreReport(plan)
    started = time.monotonic()
    steps.record("plan", "ok", {**snapshot_detail(plan), "mode": plan.mode, "bytes": plan.total_bytes,
                                "files": plan.total_entries, "kept_aside": plan.kept_aside,
                                "staging": sorted({p.staging for p in plan.paths if p.staging})})
    try:
        _apply(loaded, prepared, transport, steps, report, progress, Playbook(templates, probe))
    except (ChatonError, KeyboardInterrupt) as failure:
        report.error = str(failure) if isinstance(failure, ChatonError) else "interrupted"
        raise
    finally:
        report.duration = time.monotonic() - started
    return report


@dataclass(frozen=True)
class Playbook:
    """What the playbook's phases of a restore run with: its templates and the probe of `wait` steps."""

    templates: TemplatesFor
    probe: Probe


def _apply(loaded: LoadedInventory, prepared: PreparedRestore, transport: Transport, steps: Steps,
           report: RestoreReport, progress: Progress | None, playbook: Playbook) -> None:
    plan = prepared.plan
    with steps.step("space", {"host": plan.host}) as detail:
        detail["filesystems"] = [s.detail() for s in check_space(transport, plan.space)]
    restore_data(transport, plan, prepared.listing, binary=prepared.binary, repository_url=prepared.repository_url,
                 password=prepared.password, steps=steps, report=report, progress=progress)
    databases = list(loaded.inventory.services[plan.service].databases)
    if plan.mode == "target":
        report.dump_files += _write_dumps(transport, prepared, steps, progress)
        return
    stopped = False
    try:
        if plan.stop:
            stopped = True
            _run_phase(loaded, plan, transport, "stop", steps, report, progress, playbook)
        for item in plan.databases:
            if progress is not None:
                progress(f"loading {item.engine}:{item.name}", None)
            with steps.step("load database", {**snapshot_detail(plan), "database": f"{item.engine}:{item.name}",
                                              "dump_snapshot": item.snapshot_id, "staging": item.staging_name,
                                              "kept_aside": item.kept_aside}) as detail:
                loaded_db = load_database(transport, item, database_of(item, databases), binary=prepared.binary,
                                          repository_url=prepared.repository_url, password=prepared.password)
                report.databases.append(loaded_db)
                detail.update(loaded_db.detail())
        for path in plan.paths:
            with steps.step("swap", {"host": plan.host, "path": path.destination, "kept_aside": path.kept_aside,
                                     "staged": path.staged_path}) as detail:
                swapped = swap_into_place(transport, path)
                report.swaps.append(swapped)
                detail.update(swapped.detail())
        for folder in sorted({item.staging for item in plan.paths if item.staging}):
            remove_staging(transport, folder)
    finally:
        if stopped:
            _run_phase(loaded, plan, transport, "start", steps, report, progress, playbook)
    if plan.after_restore:
        _run_phase(loaded, plan, transport, "after_restore", steps, report, progress, playbook)


def _write_dumps(transport: Transport, prepared: PreparedRestore, steps: Steps,
                 progress: Progress | None) -> list[str]:
    """--target: each database dump written as a file under the folder (for inspection, nothing loaded)."""
    from chaton_ops.core.restic import build_restore_argv, parse_version

    plan = prepared.plan
    version = parse_version(f"restic {plan.restic_version}")
    assert plan.root is not None
    written: list[str] = []
    for item in plan.databases:
        if progress is not None:
            progress(f"writing the dump of {item.engine}:{item.name}", None)
        with steps.step("write dump", {"service": plan.service, "host": plan.host, "snapshot": item.snapshot_id,
                                       "file": item.destination_file}):
            argv = build_restore_argv(prepared.binary, prepared.repository_url, item.snapshot_id, target=plan.root,
                                      version=version, verify=True)
            run = run_restic(transport, argv, prepared.password, timeout=LIST_TIMEOUT)
            if not run.succeeded:
                raise run.error(f"writing the dump {item.file} under {plan.root}")
        written.append(item.destination_file or item.file)
    return written


def _run_phase(loaded: LoadedInventory, plan: RestorePlan, transport: Transport, phase: str, steps: Steps,
               report: RestoreReport, progress: Progress | None, playbook: Playbook) -> None:
    if progress is not None:
        progress(f"playbook: {phase}", None)
    prepared: PreparedDeploy = prepare_deploy(loaded, plan.service, plan.host, templates=playbook.templates,
                                              phase=phase)  # type: ignore[arg-type]
    with steps.step(phase, {"host": plan.host, "steps": [s.step.label for s in prepared.steps]}) as detail:
        outcome = run_playbook(prepared, transport, probe=playbook.probe)
        report.playbook.append(outcome)
        detail["outcomes"] = [f"{o.label}: {o.status}" for o in outcome.outcomes]
        if outcome.failure is not None:
            detail["status"] = "failed"
            raise RestoreFailed(f"{plan.host}: playbook {phase} step {outcome.failure.label!r} failed: "
                                f"{outcome.failure.message} {outcome.failure.output_tail}".strip())


def restore_exit_code(report: RestoreReport) -> ExitCode:
    return ExitCode.OK if report.status == "ok" else ExitCode.FAILED


# ------------------------------------------------------------------------------------- speed
class SpeedJournal(Protocol):
    def latest_steps(self, action: str, *, limit: int = 50) -> list[Any]: ...


def measured_restore_speed(journal: SpeedJournal, host: str | None = None) -> float | None:
    """Bytes per second of recent restores and drills (their restic `restore`/`drill` steps, on `host` if
    given, whatever run they belong to): what failover uses to estimate its duration. None when nothing
    was measured yet. Restores of less than 1 MiB are left out while bigger ones exist (they measure
    restic's start, not its speed). A step's figures are read from its detail (or its outputs)."""
    samples: list[tuple[str, int, float]] = []
    for action in ("restore", "drill"):
        for step in journal.latest_steps(action, limit=100):
            detail = dict(step.detail or {})
            detail.update(detail.get("outputs") or {})
            if step.status != "ok" or (host and detail.get("host", getattr(step, "host", None)) != host):
                continue
            size, duration = detail.get("bytes"), detail.get("duration")
            if isinstance(size, int) and isinstance(duration, int | float) and duration > 0:
                samples.append((step.started_at, size, float(duration)))
    samples.sort(reverse=True)
    big = [s for s in samples if s[1] >= SPEED_MIN_BYTES]
    chosen = (big or samples)[:SPEED_SAMPLES]
    if not chosen:
        return None
    return sum(s[1] for s in chosen) / sum(s[2] for s in chosen)
