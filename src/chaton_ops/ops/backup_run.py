"""`chaton backup` as one use case: connections opened early, passwords, chaton's repository locks,
the journal's run with its plan, the start pings, the runbook, then notifications and the metrics file.
The composition root of a backup: it builds the adapters (pool, journal, locks, the notifier and the
last statuses' file, the metrics file) and hands them to ops/backup.py and ops/notify.py.

The CLI parses, calls `back_up` and renders the report; progress reaches it as engine events
(`on_event`) and problems with pings, notifications or metrics as warnings (`warn`): they never turn
a good backup into a failed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaton_ops.core.backup_plan import BackupPlan, hosts_to_contact
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.report import RunReport
from chaton_ops.errors import PathError
from chaton_ops.ops.backup import BackupSettings, backup_runbook, resolve_passwords, run_backup
from chaton_ops.ops.engine import EventSink, start_run


@dataclass(frozen=True)
class BackupRequest:
    """What the person asked for, beside the services (the plan)."""

    init: bool = False
    unlock: bool = False
    jobs: int = 4
    lock_wait: float = 0.0
    retention: bool = True
    metrics_file: Path | None = None
    journal_args: tuple[str, ...] = ()


def back_up(loaded: LoadedInventory, plan: BackupPlan, request: BackupRequest, *,
            on_event: EventSink | None = None, warn: Callable[[str], None] = lambda text: None) -> RunReport:
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.adapters.secrets import InventorySecrets

    # The SSH library loads and the handshakes run in the background while the rest is prepared
    # (passwords, journal, locks): the connections are ready, or nearly, when needed.
    pool = HostPool(loaded)
    pool.connect_in_background(hosts_to_contact(loaded.inventory, plan))
    try:
        passwords = resolve_passwords(loaded, InventorySecrets(loaded), plan.repositories())
        settings = BackupSettings(init=request.init, unlock=request.unlock, jobs=request.jobs,
                                  retention=request.retention and bool(plan.retention), lock_wait=request.lock_wait)
        runbook = backup_runbook(plan, retention=settings.retention)
        with Journal(default_journal_path()) as journal, FileLocks().hold(run_locks(runbook), wait=request.lock_wait):
            run_id = start_run(journal, runbook, list(request.journal_args))
            for problem in ping_start(loaded, [t.service for t in plan.targets]):
                warn(problem)
            try:
                report = run_backup(loaded, plan, transports=pool.transport, settings=settings, journal=journal,
                                    run_id=run_id, on_event=on_event, passwords=passwords)
            except BaseException:
                journal.finish_run(run_id, "failed", 1)
                raise
    finally:
        pool.close_all()
    for problem in deliver(loaded, report, request.metrics_file):
        warn(problem)
    return report


def ping_start(loaded: LoadedInventory, services: list[str]) -> list[str]:
    """The run's start pings through the real notifier; their delivery problems."""
    from chaton_ops.adapters.notifiers import NetworkNotifier
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.ops.notify import send_start_pings

    return send_start_pings(loaded, services, NetworkNotifier(), secrets=InventorySecrets(loaded))


def notify_run(loaded: LoadedInventory, report: RunReport, *, previous: dict[str, str] | None = None) -> list[str]:
    """The run's pings and messages through the real notifier, its statuses remembered in the state
    file (`previous`: the last statuses, instead of the file's); their delivery problems."""
    from chaton_ops.adapters.notifiers import NetworkNotifier
    from chaton_ops.adapters.run_state import LastStatusFile, default_state_path
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.ops.notify import send_run_notifications

    return send_run_notifications(loaded, report, NetworkNotifier(), LastStatusFile(default_state_path()),
                                  secrets=InventorySecrets(loaded), previous=previous)


def deliver(loaded: LoadedInventory, report: RunReport, metrics_file: Path | None) -> list[str]:
    """Notifications and metrics; their problems as warnings, never a failed run."""
    problems = list(notify_run(loaded, report))
    if metrics_file is not None:
        from chaton_ops.adapters.metrics import write_textfile

        try:
            write_textfile(metrics_file, report)
        except PathError as failure:  # it changed during the run
            problems.append(f"metrics not written: {failure.message}")
    return problems
