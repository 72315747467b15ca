"""`chaton prune [REPO…]`: the repository space of forgotten snapshots, on its own schedule.

`chaton backup` only forgets (each service's snapshots past its retention); the data only they
referenced stays in the repository until a prune removes it. Prune rewrites partly used packs under
restic's exclusive lock — as long as a backup, sometimes longer — so it runs weekly, not nightly, and
`--max-unused` says how much unused space may stay to spare the rewriting (restic's default 5 %).

Runs on the runbook engine: a plan (one step per repository, on the host that reaches it), shown and
confirmed, journaled step by step with what restic removed and the free space before and after.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import RunJournal, Secrets, Transport
from chaton_ops.core.restic import build_prune_argv, parse_max_unused
from chaton_ops.core.restic_output import parse_lock_message, parse_prune
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.errors import UsageError
from chaton_ops.ops.engine import (
    GO,
    EventSink,
    RunResult,
    RunState,
    StepOutput,
    Verdict,
    apply_plan,
    start_run,
)
from chaton_ops.ops.repository import access_host, measure_repository_space
from chaton_ops.ops.restic_calls import VersionCache, run_restic_waiting_for_lock

PRUNE_TIMEOUT = 24 * 3600.0
PRUNE_LOCK_WAIT = 600.0  # a backup or check holding restic's lock: prune waits for it, then gives up


def plan_prune(loaded: LoadedInventory, repositories: Sequence[str] = (), *, via: str | None = None,
               max_unused: str | None = None) -> Plan:
    """One step per repository (every repository when none is named), on the host that reaches it."""
    inventory = loaded.inventory
    if max_unused is not None:
        try:
            parse_max_unused(max_unused)
        except ValueError as error:
            raise UsageError(f"--max-unused {max_unused!r}: {error}") from None
    names = list(dict.fromkeys(repositories)) or sorted(inventory.repositories)
    if not names:
        raise UsageError("the inventory has no repository to prune")
    steps = []
    for name in names:
        host = access_host(inventory, name, via)
        repository = inventory.repositories[name]
        argv = build_prune_argv(inventory.hosts[host].restic, repository.url, max_unused=max_unused)
        steps.append(PlannedStep(f"prune:{name}", "prune", f"prune {name}", host=host, target=name,
                                 lane=name, inputs={"repository": name, "command": shlex.join(argv)}))
    return Plan("prune", tuple(steps), inputs={"repositories": names, "max_unused": max_unused})


@dataclass
class PruneAction:
    """restic prune of one repository, on its step's host, waiting for restic's lock if another run holds it."""

    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    secrets: Secrets
    lock_wait: float = PRUNE_LOCK_WAIT

    def __post_init__(self) -> None:
        self.versions = VersionCache()

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        inventory = self.loaded.inventory
        name = step.inputs["repository"]
        repository = inventory.repositories[name]
        assert step.host is not None
        transport = self.transports(step.host)
        password = self.secrets.resolve(repository.password).reveal()
        before = measure_repository_space(inventory, self.transports, repository.url, step.host)
        argv = shlex.split(step.inputs["command"])
        run.progress(step, f"restic prune of {name} on {step.host}")
        done = run_restic_waiting_for_lock(transport, argv, password, wait=self.lock_wait, versions=self.versions,
                                           binary=argv[0], timeout=PRUNE_TIMEOUT)
        if done.outcome == "locked":
            holder = parse_lock_message(done.result.stderr) or "by another process"
            raise done.error(f"prune of {name}: still locked after {self.lock_wait:g} s ({holder})")
        if not done.succeeded:
            raise done.error(f"prune of {name}")
        report = parse_prune(done.result.stdout)
        after = measure_repository_space(inventory, self.transports, repository.url, step.host)
        outputs = {"repository": name, "removed_bytes": report.removed_bytes,
                   "remaining_bytes": report.remaining_bytes, "unused_after_bytes": report.unused_after_bytes,
                   "repacked_bytes": report.repacked_bytes,
                   "free_before_bytes": before.available_bytes if before else None,
                   "free_after_bytes": after.available_bytes if after else None}
        return StepOutput("changed" if report.removed_bytes else "ok", outputs)


def prune(loaded: LoadedInventory, plan: Plan, *, args: list[str], warn: Callable[[str], None],
          lock_wait: float = PRUNE_LOCK_WAIT, on_event: EventSink | None = None) -> RunResult:
    """`chaton prune` as one use case: the repositories' locks, the hosts, the journal, then the plan,
    then the admins told (delivery problems to `warn`)."""
    from chaton_ops.ops.compose import inventory_secrets, run_on_hosts

    secrets = inventory_secrets(loaded)
    return run_on_hosts(loaded, plan, lambda transports, journal: run_prune(
        loaded, plan, transports=transports, secrets=secrets, journal=journal, args=args, lock_wait=lock_wait,
        on_event=on_event), warn=warn, lock_wait=lock_wait)


def run_prune(loaded: LoadedInventory, plan: Plan, *, transports: Callable[[str], Transport], secrets: Secrets,
              journal: RunJournal, args: list[str], lock_wait: float = PRUNE_LOCK_WAIT,
              on_event: EventSink | None = None) -> RunResult:
    """Apply a prune plan (one repository after another: each prune loads the repository's index and is
    CPU- and I/O-bound on the same few machines), journaled as one run."""
    run_id = start_run(journal, plan, args)
    action = PruneAction(loaded, transports, secrets, lock_wait)
    return apply_plan(plan, {"prune": action}, journal, run_id, on_event=on_event)
