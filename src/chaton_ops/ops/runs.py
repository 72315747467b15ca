"""The composition root of the runbook commands that have no root of their own (`prune`,
`tenant remove`, `schedule install|remove`): the locks of the one lock policy (core/locks.py), the
connections to the hosts the steps run on (opened in the background), the journal; then the use case.
"""

from __future__ import annotations

from collections.abc import Callable

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.locks import run_locks
from chaton_ops.core.ports import RunJournal, Transport
from chaton_ops.core.runbook import Plan
from chaton_ops.ops.engine import RunResult

OnHosts = Callable[[Callable[[str], Transport], RunJournal], RunResult]
Local = Callable[[RunJournal], RunResult]


def run_on_hosts(loaded: LoadedInventory, plan: Plan, use: OnHosts, *, lock_wait: float = 0.0,
                 wait_option: bool = True) -> RunResult:
    """`use(transports, journal)` with the plan's locks held and its hosts' connections open."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks

    with FileLocks().hold(run_locks(plan), wait=lock_wait, wait_option=wait_option), \
            HostPool(loaded) as pool, Journal(default_journal_path()) as journal:
        pool.connect_in_background(sorted({step.host for step in plan.steps if step.host}))
        return use(pool.transport, journal)


def run_here(plan: Plan, use: Local, *, lock_wait: float = 0.0, wait_option: bool = False) -> RunResult:
    """`use(journal)` with the plan's locks held: a runbook that changes only this machine."""
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks

    with FileLocks().hold(run_locks(plan), wait=lock_wait, wait_option=wait_option), \
            Journal(default_journal_path()) as journal:
        return use(journal)
