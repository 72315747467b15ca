"""`chaton repo init|unlock` as use cases on the runbook engine: one step per repository (through the
host that reaches it), journaled unless it is a dry run; a failure is that repository's result and
the others still run. A password is resolved only when its step comes, and not at all in a dry run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import RunJournal, Secrets, Transport
from chaton_ops.core.run_report import RunSummary
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.errors import ChatonError, ConnectError
from chaton_ops.ops.engine import GO, NoJournal, RunState, StepOutput, Verdict, apply_plan


class RepositoryAccess(NamedTuple):
    """A repository as one of its hosts reaches it, with its password (empty in a dry run)."""

    name: str
    host: str
    transport: Transport
    binary: str
    url: str
    password: str


ActOn = Callable[[RepositoryAccess], dict[str, Any]]


def repository_runbook(verb: str, targets: Sequence[tuple[str, str]]) -> Plan:
    """`chaton repo VERB` (init, unlock): one step per repository, each in its own lane."""
    return Plan("repo", tuple(
        PlannedStep(key=f"{verb}:{name}@{host}", action=verb, title=f"{verb} {name}", host=host,
                    target=name, lane=f"repository:{name}", independent=True, inputs={"repository": name, "via": host})
        for name, host in targets), inputs={"verb": verb})


def initialise(dry_run: bool) -> ActOn:
    """`restic init` where the repository does not exist yet (in a dry run: the argv it would run)."""
    from chaton_ops.core.restic import build_init_argv
    from chaton_ops.ops.repository import initialise_repository
    from chaton_ops.ops.restic_calls import VersionCache

    versions = VersionCache()

    def act_on(target: RepositoryAccess) -> dict[str, Any]:
        version = versions.get(target.transport, target.binary)
        if dry_run:
            return {"argv": build_init_argv(target.binary, target.url, version)}
        return {"created": initialise_repository(target.transport, target.binary, target.url, target.password,
                                                 version)}

    return act_on


def unlock(dry_run: bool, *, remove_all: bool) -> ActOn:
    """Remove stale restic locks (every lock with `remove_all`), counting those removed and remaining."""
    from chaton_ops.core.restic import build_unlock_argv
    from chaton_ops.ops.repository import list_locks, remove_stale_locks

    def act_on(target: RepositoryAccess) -> dict[str, Any]:
        if dry_run:
            return {"argv": build_unlock_argv(target.binary, target.url, remove_all=remove_all)}
        before = list_locks(target.transport, target.binary, target.url, target.password)
        remove_stale_locks(target.transport, target.binary, target.url, target.password, remove_all=remove_all)
        after = list_locks(target.transport, target.binary, target.url, target.password)
        return {"removed": len(set(before) - set(after)), "remaining": len(after)}

    return act_on


def run_on_repositories(loaded: LoadedInventory, plan: Plan, act_on: ActOn, *,
                        transports: Callable[[str], Transport], dry_run: bool, secrets: Secrets | None = None,
                        journal: RunJournal | None = None, run_id: int = 0,
                        announce: Callable[[RunSummary], None] | None = None) -> list[dict[str, Any]]:
    """One result per step: {repository, via, outcome (ok, failed, unreachable), error or act_on's data}.
    `secrets`: where the repositories' passwords come from (the inventory's references by default);
    `announce`: told how the run went."""
    if secrets is None:
        from chaton_ops.adapters.secrets import InventorySecrets

        secrets = InventorySecrets(loaded)
    action = _RepositoryAction(loaded, act_on, transports, secrets, dry_run)
    result = apply_plan(plan, {plan.inputs["verb"]: action}, journal or NoJournal(), run_id)
    if announce is not None:
        announce(result.summary())
    return [action.results[step.key] for step in plan.steps]


class _RepositoryAction:
    def __init__(self, loaded: LoadedInventory, act_on: ActOn, transports: Callable[[str], Transport],
                 secrets: Secrets, dry_run: bool) -> None:
        self.loaded = loaded
        self.act_on = act_on
        self.transports = transports
        self.secrets = secrets
        self.dry_run = dry_run
        self.results: dict[str, dict[str, Any]] = {}

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        inventory = self.loaded.inventory
        name, host = step.target, step.host or ""
        result: dict[str, Any] = {"repository": name, "via": host}
        try:
            repository = inventory.repositories[name]
            password = "" if self.dry_run else self.secrets.resolve(repository.password).reveal()
            result.update(self.act_on(RepositoryAccess(name, host, self.transports(host), inventory.hosts[host].restic,
                                                       repository.url, password)))
            result["outcome"] = "ok"
        except ChatonError as failure:
            result.update(outcome="unreachable" if isinstance(failure, ConnectError) else "failed",
                          error=mask_text(failure.message))
        except Exception as failure:  # noqa: BLE001 - a bug with one repository must not hide the others
            result.update(outcome="failed", error=mask_text(f"unexpected error: {type(failure).__name__}: {failure}"))
        self.results[step.key] = result
        outputs = {k: v for k, v in result.items() if k not in ("repository", "via", "argv")}
        return StepOutput("changed" if result["outcome"] == "ok" else "failed", outputs, result.get("error", ""))


def repository_command(loaded: LoadedInventory, verb: str, targets: Sequence[tuple[str, str]], act_on: ActOn, *,
                       dry_run: bool, args: Sequence[str], warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """The use case behind `chaton repo init|unlock`: the pool of hosts, the journal's run (none in a dry
    run), the steps on the engine, then (not in a dry run) the admins told how it went (ops/compose.py
    `announce_run`; delivery problems to `warn`)."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.ops.compose import announce_run
    from chaton_ops.ops.engine import start_run

    plan = repository_runbook(verb, targets)
    with HostPool(loaded) as pool:
        if dry_run:
            return run_on_repositories(loaded, plan, act_on, transports=pool.transport, dry_run=True)
        with Journal(default_journal_path()) as journal:
            run_id = start_run(journal, plan, [verb, *args])
            return run_on_repositories(loaded, plan, act_on, transports=pool.transport, dry_run=False,
                                       journal=journal, run_id=run_id,
                                       announce=lambda summary: announce_run(loaded, summary, warn))
