"""The plan of a backup run as pure data: one target per service × repository (paths, excludes,
databases, tags, the free-space threshold, the host's restic), the retention groups (one `restic forget`
per policy and repository), and the hosts a run talks to. No I/O here: ops/backup.py applies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chaton_ops.core.inventory import Database, Inventory, Retention
from chaton_ops.core.repository_location import repository_host
from chaton_ops.core.selection import CHATON_TAG, service_tag, tenant_tag
from chaton_ops.errors import UsageError


@dataclass(frozen=True)
class BackupTarget:
    """One service on one repository: its data snapshot and one snapshot per database."""

    service: str
    host: str
    tenant: str | None
    repository: str
    repository_url: str
    paths: tuple[str, ...]
    excludes: tuple[str, ...]
    databases: tuple[Database, ...]
    tags: tuple[str, ...]
    min_free_percent: float
    restic: str = "restic"  # the host's restic binary: the run and its dry run both take it from here

    @property
    def label(self) -> str:
        return f"{self.service}@{self.repository}"


@dataclass(frozen=True)
class RetentionGroup:
    """One `restic forget` call: services sharing a policy on one repository, run on `host`."""

    repository: str
    host: str
    services: tuple[str, ...]
    keep_flags: tuple[str, ...]
    restic: str = "restic"  # the restic binary of `host`

    @property
    def tags(self) -> tuple[str, ...]:
        # several --tag options select snapshots carrying ANY of them; grouping by tags keeps
        # every service (and every database dump) in a group of its own
        return tuple(service_tag(service) for service in self.services)


@dataclass(frozen=True)
class BackupPlan:
    targets: tuple[BackupTarget, ...]
    retention: tuple[RetentionGroup, ...]

    def hosts(self) -> list[str]:
        seen: list[str] = []
        for target in self.targets:
            if target.host not in seen:
                seen.append(target.host)
        return seen

    def targets_on(self, host: str) -> list[BackupTarget]:
        return [target for target in self.targets if target.host == host]

    def repositories(self) -> list[str]:
        return sorted({target.repository for target in self.targets})


def plan_backup(inventory: Inventory, services: Sequence[str], *, retention: bool = True) -> BackupPlan:
    targets: list[BackupTarget] = []
    for name in services:
        service = inventory.services[name]
        if not service.data and not service.databases:
            raise UsageError(f"service {name} has neither `data` nor `databases`: nothing to back up")
        repositories = inventory.repositories_for(name)
        if not repositories:
            raise UsageError(f"service {name} has no repository (define `repositories` in the inventory)")
        tags = [CHATON_TAG, service_tag(name)] + ([tenant_tag(service.tenant)] if service.tenant else [])
        for repository_name in repositories:
            repository = inventory.repositories[repository_name]
            threshold = repository.min_free_percent
            targets.append(BackupTarget(
                service=name,
                host=service.host,
                tenant=service.tenant,
                repository=repository_name,
                repository_url=repository.url,
                paths=tuple(service.data),
                excludes=tuple(service.exclude),
                databases=tuple(service.databases),
                tags=tuple(tags),
                min_free_percent=threshold if threshold is not None else inventory.defaults.min_free_percent,
                restic=inventory.hosts[service.host].restic,
            ))
    groups = plan_retention(inventory, targets) if retention else ()
    return BackupPlan(tuple(targets), tuple(groups))


def plan_retention(inventory: Inventory, targets: Iterable[BackupTarget]) -> list[RetentionGroup]:
    """Services of a repository grouped by identical policy: one forget call per group."""
    by_key: dict[tuple[str, tuple[str, ...]], list[BackupTarget]] = {}
    for target in targets:
        flags = tuple(keep_flags(inventory.retention_for(target.service)))
        by_key.setdefault((target.repository, flags), []).append(target)
    groups = []
    for (repository, flags), members in by_key.items():
        services = tuple(dict.fromkeys(member.service for member in members))
        groups.append(RetentionGroup(repository, members[0].host, services, flags, members[0].restic))
    return groups


def keep_flags(retention: Retention) -> list[str]:
    """`--keep-*` flags of a policy. An empty policy is refused: restic would forget everything."""
    flags: list[str] = []
    for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
        value = getattr(retention, name)
        if value is not None:
            flags += [f"--keep-{name}", str(value)]
    if retention.within:
        flags += ["--keep-within", retention.within]
    if not flags:
        raise UsageError("a retention policy keeps nothing: give at least one of last, hourly, daily, "
                         "weekly, monthly, yearly or within")
    return flags


def hosts_to_contact(inventory: Inventory, plan: BackupPlan) -> list[str]:
    """Every host a run of `plan` talks to: the hosts of the data, then those storing its repositories
    (where the free space is measured)."""
    storing = (repository_host(inventory, target.repository_url) for target in plan.targets)
    return list(dict.fromkeys([*plan.hosts(), *(host for host in storing if host is not None)]))
