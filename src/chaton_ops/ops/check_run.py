"""`chaton check` as one use case: chaton's repository locks, the journal's run with its plan, the
checks on the runbook engine over the hosts' connections, then the admins told how it went. The CLI
parses, calls `check` and renders."""

from __future__ import annotations

from collections.abc import Callable

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.ops.check import CheckPlan, CheckReport, check_repositories, check_runbook
from chaton_ops.ops.engine import start_run


def check(loaded: LoadedInventory, plan: CheckPlan, *, warn: Callable[[str], None], lock_wait: float = 0.0) -> CheckReport:
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.ops.compose import announce_run

    runbook = check_runbook(plan)
    flags = list(runbook.inputs["flags"]) + ([] if plan.integrity else ["--no-integrity"])
    # restic check takes restic's exclusive lock: no backup of this machine may run beside it
    with Journal(default_journal_path()) as journal, FileLocks().hold(run_locks(runbook), wait=lock_wait):
        run_id = start_run(journal, runbook, [*plan.repositories, *flags])
        try:
            with HostPool(loaded) as pool:
                report = check_repositories(loaded, pool.transport, plan, secrets=InventorySecrets(loaded),
                                            jobs=loaded.inventory.defaults.jobs, lock_wait=lock_wait,
                                            journal=journal, run_id=run_id)
        except BaseException:
            journal.finish_run(run_id, "failed", 1)
            raise
    announce_run(loaded, report.runbook, warn)  # delivery problems to `warn`: never a failed check
    return report
