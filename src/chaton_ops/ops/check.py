"""`chaton check`: per repository, `restic check`, free space and the freshness of every service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chaton_ops.core.free_space import FreeSpace, space_problem
from chaton_ops.core.freshness import Freshness, evaluate_freshness
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import RunJournal, Secrets, Transport
from chaton_ops.core.restic import build_check_argv, parse_read_data_subset
from chaton_ops.core.run_report import RunSummary
from chaton_ops.core.runbook import Plan, PlannedStep, RunStatus
from chaton_ops.errors import (
    ChatonError,
    ConnectError,
    ExitCode,
    TargetOutcome,
    UsageError,
    Verdict,
    exit_code_for,
    verdict_of,
)
from chaton_ops.ops.engine import GO, NoJournal, RunState, StepOutput, StepResult, apply_plan
from chaton_ops.ops.engine import Verdict as EngineVerdict
from chaton_ops.ops.repository import access_host, measure_repository_space
from chaton_ops.ops.restic_calls import run_restic_waiting_for_lock
from chaton_ops.ops.snapshots import list_repository_snapshots

CHECK_TIMEOUT = 24 * 3600.0


@dataclass(frozen=True)
class CheckTarget:
    """One repository to check: the host that runs restic and the exact argv it will run."""

    repository: str
    host: str
    argv: tuple[str, ...]  # `restic check` with the host's binary (None of it secret)


@dataclass(frozen=True)
class CheckPlan:
    """What `chaton check` will do, validated before anything is locked, journaled or run."""

    targets: tuple[CheckTarget, ...]
    integrity: bool
    read_data_subset: str | None

    @property
    def repositories(self) -> list[str]:
        return [target.repository for target in self.targets]


@dataclass(frozen=True)
class RepositoryCheck:
    repository: str
    host: str
    integrity: str  # "ok", "failed: …" or "skipped"
    space: FreeSpace | None
    space_problem: str | None
    freshness: tuple[Freshness, ...]
    error: str | None = None
    unreachable: bool = False  # the error is that a host could not be reached

    def stale(self, now: dt.datetime) -> list[Freshness]:
        return [verdict for verdict in self.freshness if verdict.is_stale(now)]

    def problems(self, now: dt.datetime) -> list[str]:
        """Every problem found, in words: what the exit code counts is what gets printed."""
        found = [problem for problem in (self.error, self.space_problem) if problem]
        if self.integrity.startswith("failed") and not self.error:
            found.append(self.integrity if self.integrity != "failed" else "restic check failed")
        found += [f"{f.service}: " + (f"newest snapshot is {f.age_hours(now):.1f} h old (max {f.max_age_hours:g} h)"
                                      if f.newest else "no snapshot") for f in self.stale(now)]
        return found

    def healthy(self, now: dt.datetime) -> bool:
        return not self.problems(now)

    def outcome(self, now: dt.datetime) -> TargetOutcome:
        if self.healthy(now):
            return "ok"
        return "unreachable" if self.unreachable else "failed"


@dataclass(frozen=True)
class CheckReport:
    checked_at: dt.datetime
    repositories: tuple[RepositoryCheck, ...]
    runbook: RunSummary | None = None  # the run in the shape every command shares (core/run_report.py)

    @property
    def verdict(self) -> Verdict:
        return verdict_of(r.outcome(self.checked_at) for r in self.repositories)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.verdict)


def select_repositories(inventory: Inventory, names: Sequence[str]) -> list[str]:
    """The repositories to check: those named, each known to the inventory, else all of them."""
    unknown = [name for name in names if name not in inventory.repositories]
    if unknown:
        known = ", ".join(sorted(inventory.repositories)) or "none"
        raise UsageError(f"unknown repository: {', '.join(unknown)} (known: {known})")
    return list(dict.fromkeys(names)) or sorted(inventory.repositories)


def plan_check(inventory: Inventory, names: Sequence[str], *, via: str | None = None,
               read_data_subset: str | None = None, integrity: bool = True) -> CheckPlan:
    """Every usage error of `chaton check` (unknown repository or host, a subset restic would refuse, a
    repository nobody reaches), raised before a lock file is made, a journal run started or restic run."""
    repositories = select_repositories(inventory, names)
    if read_data_subset is not None:
        if not integrity:
            raise UsageError("--read-data-subset reads data during `restic check`: it cannot go with --no-integrity")
        try:
            read_data_subset = parse_read_data_subset(read_data_subset)
        except ValueError as error:
            raise UsageError(f"--read-data-subset {read_data_subset!r}: {error}") from None
    targets = []
    for name in repositories:
        host = access_host(inventory, name, via)
        argv = build_check_argv(inventory.hosts[host].restic, inventory.repositories[name].url,
                                read_data_subset=read_data_subset)
        targets.append(CheckTarget(name, host, tuple(argv)))
    return CheckPlan(tuple(targets), integrity, read_data_subset)


def check_runbook(plan: CheckPlan) -> Plan:
    """One step per repository (repositories in parallel, up to the run's jobs; one failing does not
    stop the others)."""
    flags = [f"--read-data-subset={plan.read_data_subset}"] if plan.read_data_subset else []
    return Plan("check", tuple(
        PlannedStep(key=f"check:{t.repository}", action="check", title=f"check {t.repository}", host=t.host,
                    target=t.repository, lane=f"repository:{t.repository}", independent=True,
                    inputs={"repository": t.repository, "via": t.host, "integrity": plan.integrity,
                            "argv": list(t.argv) if plan.integrity else None})
        for t in plan.targets), inputs={"repositories": plan.repositories, "flags": flags})


def check_repositories(
    loaded: LoadedInventory,
    transports: Callable[[str], Transport],
    plan: CheckPlan,
    *,
    secrets: Secrets,
    jobs: int = 4,
    lock_wait: float = 0.0,
    now: dt.datetime | None = None,
    journal: RunJournal | None = None,
    run_id: int = 0,
) -> CheckReport:
    """Apply the check plan on the runbook engine (journaled when `journal` is given, as run `run_id`)."""
    action = _CheckAction(loaded, transports, secrets, plan, lock_wait)
    reports: list[CheckReport] = []

    def summarize(steps: list[StepResult]) -> tuple[RunStatus, ExitCode]:
        # once every repository is checked: freshness is judged at the end of the run
        report = CheckReport(now or dt.datetime.now(dt.UTC), tuple(action.checked[t.repository] for t in plan.targets))
        reports.append(report)
        verdict = report.verdict
        # the journal's run statuses: ok, warning, partial, failed (nothing reached is failed too)
        return ("failed" if verdict == "unreachable" else verdict.value), exit_code_for(verdict)  # type: ignore[return-value]

    result = apply_plan(check_runbook(plan), {"check": action}, journal or NoJournal(), run_id, jobs=jobs,
                        summarize=summarize)
    return replace(reports[0], runbook=result.summary())


class _CheckAction:
    """Check one repository; the step's outcome is the repository's (a problem found is a failed step,
    with the problems as its message)."""

    def __init__(self, loaded: LoadedInventory, transports: Callable[[str], Transport], secrets: Secrets,
                 plan: CheckPlan, lock_wait: float) -> None:
        self.loaded = loaded
        self.transports = transports
        self.secrets = secrets
        self.targets = {t.repository: t for t in plan.targets}
        self.integrity = plan.integrity
        self.lock_wait = lock_wait
        self.checked: dict[str, RepositoryCheck] = {}

    def check(self, step: PlannedStep, state: RunState) -> EngineVerdict:
        return GO

    def apply(self, step: PlannedStep, state: RunState) -> StepOutput:
        target = self.targets[step.target]
        try:
            repo = _check_one(self.loaded, self.transports, self.secrets, target, self.integrity, self.lock_wait)
        except Exception as failure:  # noqa: BLE001 - a bug with one repository must not hide the others
            repo = RepositoryCheck(target.repository, target.host, "failed", None, None, (),
                                   error=mask_text(f"unexpected error: {type(failure).__name__}: {failure}"))
        self.checked[step.target] = repo
        now = dt.datetime.now(dt.UTC)
        outputs = {"integrity": repo.integrity, "error": repo.error, "space_problem": repo.space_problem,
                   "free_percent": round(repo.space.free_percent, 2) if repo.space else None,
                   "unreachable": repo.unreachable,
                   "freshness": [{"service": f.service, "newest": f.newest.isoformat() if f.newest else None,
                                  "age_hours": round(f.age_hours(now) or 0, 2) if f.newest else None,
                                  "max_age_hours": f.max_age_hours, "stale": f.is_stale(now)}
                                 for f in repo.freshness]}
        return StepOutput("ok" if repo.healthy(now) else "failed", outputs, "; ".join(repo.problems(now)))


def _check_one(loaded: LoadedInventory, transports: Callable[[str], Transport], secrets: Secrets,
               target: CheckTarget, integrity: bool, lock_wait: float) -> RepositoryCheck:
    inventory = loaded.inventory
    name, host = target.repository, target.host
    repository = inventory.repositories[name]
    services = inventory.services_using(name)
    try:
        transport = transports(host)
        space = measure_repository_space(inventory, transports, repository.url, host)
        threshold = repository.min_free_percent
        threshold = threshold if threshold is not None else inventory.defaults.min_free_percent
        problem = space_problem(space, threshold, name) if space else None
        if problem:
            problem = problem.replace(": backup refused", "")
        result = "skipped"
        if integrity:
            password = secrets.resolve(repository.password).reveal()
            run = run_restic_waiting_for_lock(transport, list(target.argv), password, wait=lock_wait,
                                              timeout=CHECK_TIMEOUT)
            result = "ok" if run.outcome == "ok" else "failed: " + run.error("restic check").message
        newest: dict[str, dt.datetime] = {}
        for snapshot in list_repository_snapshots(loaded, name, transport, secrets=secrets):
            service = snapshot.tag_value("service")
            if service and (service not in newest or snapshot.time > newest[service]):
                newest[service] = snapshot.time
        return RepositoryCheck(name, host, result, space, problem,
                               tuple(evaluate_freshness(inventory, name, services, newest)))
    except ChatonError as failure:
        return RepositoryCheck(name, host, "failed", None, None, (), error=mask_text(failure.message),
                               unreachable=isinstance(failure, ConnectError))
