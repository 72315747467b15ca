"""`chaton check`: per repository, `restic check`, free space and the freshness of every service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chaton_ops.adapters.restic import build_check_argv, run_restic
from chaton_ops.adapters.secrets import resolve_secret
from chaton_ops.core.backup import FreeSpace, Freshness, evaluate_freshness, space_problem
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import Transport
from chaton_ops.errors import ChatonError, ExitCode, UsageError
from chaton_ops.ops.repository import access_host, measure_repository_space
from chaton_ops.ops.snapshots import list_repository_snapshots

CHECK_TIMEOUT = 24 * 3600.0


@dataclass(frozen=True)
class RepositoryCheck:
    repository: str
    host: str
    integrity: str  # "ok", "failed: …" or "skipped"
    space: FreeSpace | None
    space_problem: str | None
    freshness: tuple[Freshness, ...]
    error: str | None = None

    def stale(self, now: dt.datetime) -> list[Freshness]:
        return [verdict for verdict in self.freshness if verdict.is_stale(now)]

    def healthy(self, now: dt.datetime) -> bool:
        return self.integrity == "ok" and not self.space_problem and not self.error and not self.stale(now)


@dataclass(frozen=True)
class CheckReport:
    checked_at: dt.datetime
    repositories: tuple[RepositoryCheck, ...]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if all(r.healthy(self.checked_at) for r in self.repositories) else ExitCode.FAILED


def select_repositories(inventory: Inventory, names: Sequence[str]) -> list[str]:
    """The repositories to check: those named, each known to the inventory, else all of them.

    Called before anything is locked or journaled: a name becomes a lock file's name.
    """
    unknown = [name for name in names if name not in inventory.repositories]
    if unknown:
        known = ", ".join(sorted(inventory.repositories)) or "none"
        raise UsageError(f"unknown repository: {', '.join(unknown)} (known: {known})")
    return list(dict.fromkeys(names)) or sorted(inventory.repositories)


def check_repositories(
    loaded: LoadedInventory,
    transports: Callable[[str], Transport],
    *,
    repositories: list[str] | None = None,
    read_data_subset: str | None = None,
    integrity: bool = True,
    jobs: int = 4,
    via: str | None = None,
    now: dt.datetime | None = None,
) -> CheckReport:
    names = select_repositories(loaded.inventory, repositories or [])

    def one(name: str) -> RepositoryCheck:
        return _check_one(loaded, transports, name, read_data_subset, integrity, via)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(names) or 1)), thread_name_prefix="check") as pool:
        checked = list(pool.map(one, names))
    return CheckReport(now or dt.datetime.now(dt.UTC), tuple(checked))


def _check_one(loaded: LoadedInventory, transports: Callable[[str], Transport], name: str,
               read_data_subset: str | None, integrity: bool, via: str | None) -> RepositoryCheck:
    inventory = loaded.inventory
    repository = inventory.repositories[name]
    services = inventory.services_using(name)
    host = access_host(inventory, name, via)
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
            password = resolve_secret(loaded, repository.password).reveal()
            binary = inventory.hosts[host].restic
            run = run_restic(transport, build_check_argv(binary, repository.url, read_data_subset=read_data_subset),
                             password, timeout=CHECK_TIMEOUT)
            result = "ok" if run.outcome == "ok" else "failed: " + run.error("restic check").message
        newest: dict[str, dt.datetime] = {}
        for snapshot in list_repository_snapshots(loaded, name, transport):
            service = snapshot.tag_value("service")
            if service and (service not in newest or snapshot.time > newest[service]):
                newest[service] = snapshot.time
        return RepositoryCheck(name, host, result, space, problem,
                               tuple(evaluate_freshness(inventory, name, services, newest)))
    except ChatonError as failure:
        return RepositoryCheck(name, host, "failed", None, None, (), error=mask_text(failure.message))
