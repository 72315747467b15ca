"""One lock policy for every run that changes something: which of chaton's locks a run holds, read from
its plan.

A run holds its locks from before its first step to after its last, on the machine running chaton
(`Locks` port, adapters/run_locks.py: `flock`, released by the kernel when the process dies), taken in
name order so two runs cannot deadlock, waiting up to `--lock-wait` where the command has it:

- `repository:NAME` — a run that writes a repository or reads all of its data: `backup` (its
  repositories, for the snapshots and the retention), `check` with integrity (`restic check`), `prune`,
  `repo init|unlock`, `tenant remove` (it forgets snapshots). restic's own locks cannot do this: a
  backup takes a shared lock and a prune an exclusive one, so two runs would fail each other halfway.
- `service:NAME` — a run that changes a service where it runs: `deploy`, `restore` in place (not a
  restore onto another host or into a folder), `failover`, `failback` and a rehearsal (the services they
  move), `tenant remove` (the services it takes off). A second deploy, restore or failover of the same
  service waits or is refused with the holder's pid, instead of two runs swapping the same folders.
- `schedule` — `schedule install|remove` (they rewrite the same unit files).
- none for the `vm` actions: PVE locks the guest it changes, for as long as it changes it.

A failover's final backup takes no repository lock: on the worst night, a failover must not wait for
the nightly prune (restic's own lock still protects the repository). Commands that only read (status,
snapshots, history, inventory, a dry run) hold none. A plan whose command has no entry here is refused
(`run_locks` raises): a new command that changes something must say what it locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chaton_ops.core.runbook import Plan, PlannedStep


def repository(name: str) -> str:
    return f"repository:{name}"


def service(name: str) -> str:
    return f"service:{name}"


def _acting(plan: Plan) -> Iterable[PlannedStep]:
    return (step for step in plan.steps if step.noop is None)


def _backup(plan: Plan) -> set[str]:
    return {repository(str(step.inputs.get("repository") or step.target)) for step in _acting(plan)}


def _check(plan: Plan) -> set[str]:
    return {repository(str(step.inputs["repository"])) for step in _acting(plan) if step.inputs.get("integrity")}


def _each_repository(plan: Plan) -> set[str]:
    return {repository(str(step.target)) for step in _acting(plan)}


def _services(plan: Plan) -> set[str]:
    return {service(str(name)) for name in plan.inputs.get("services", ())}


def _deploy(plan: Plan) -> set[str]:
    return {service(str(step.target)) for step in _acting(plan)}


def _tenant_remove(plan: Plan) -> set[str]:
    return _services(plan) | {repository(str(step.inputs["repository"])) for step in _acting(plan)
                              if step.action == "forget"}


def _restore(plan: Plan) -> set[str]:
    return {service(str(step.target)) for step in _acting(plan) if step.inputs.get("in_place")}


def _schedule(plan: Plan) -> set[str]:
    return {"schedule"}


def _none(plan: Plan) -> set[str]:
    return set()


POLICY: dict[str, Callable[[Plan], set[str]]] = {
    "backup": _backup,
    "check": _check,
    "prune": _each_repository,
    "repo": _each_repository,
    "deploy": _deploy,
    "restore": _restore,
    "drill": _none,  # into scratch folders and scratch databases of its own: nothing shared changes
    "failover": _services,
    "rehearsal": _services,
    "failback": _services,
    "tenant remove": _tenant_remove,
    "schedule install": _schedule,
    "schedule remove": _schedule,
    # PVE's own guest locks (snapshot, rollback, backup) refuse a second change of a guest while one runs;
    # a chaton lock per guest would keep a manual snapshot waiting for the whole nightly vzdump --all
    "vm onboot": _none,
    "vm snapshot": _none,
    "vm snapshot --prune": _none,
    "vm rollback": _none,
    "vm vzdump": _none,
}


def run_locks(plan: Plan) -> tuple[str, ...]:
    """The locks `plan`'s run holds, in the order they are taken (by name)."""
    policy = POLICY.get(plan.command)
    if policy is None:
        raise ValueError(f"no lock policy for command {plan.command!r} (core/locks.py POLICY)")
    return tuple(sorted(policy(plan)))
