"""Backups as pure data: which services, on which hosts, to which repositories; retention rules
grouped per service; freshness and free-space verdicts. No I/O here: ops/backup.py applies it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chaton_ops.core.inventory import Database, Inventory, Retention
from chaton_ops.errors import UsageError

CHATON_TAG = "chaton"


def service_tag(service: str) -> str:
    return f"service:{service}"


def tenant_tag(tenant: str) -> str:
    return f"tenant:{tenant}"


def database_tag(database: Database) -> str:
    return f"database:{database.engine}:{database.name}"


# ---------------------------------------------------------------------------------------------
# Which services
# ---------------------------------------------------------------------------------------------


def select_services(
    inventory: Inventory,
    names: Sequence[str] = (),
    *,
    all_services: bool = False,
    host: str | None = None,
    tenant: str | None = None,
) -> list[str]:
    """The services a command works on, in priority order; a clear UsageError for unknown names."""
    if not (names or all_services or host or tenant):
        raise UsageError("name the services to work on, or use --all, --host HOST or --tenant TENANT")
    unknown = [name for name in names if name not in inventory.services]
    if unknown:
        raise UsageError(f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(inventory.services)) or 'none'})")
    if host is not None and host not in inventory.hosts:
        raise UsageError(f"unknown host: {host}")
    if tenant is not None and tenant not in inventory.tenants:
        raise UsageError(f"unknown tenant: {tenant}")
    chosen = set(names)
    if all_services:
        chosen |= set(inventory.services)
    if host is not None:
        chosen |= set(inventory.services_on(host))
    if tenant is not None:
        chosen |= {name for name, service in inventory.services.items() if service.tenant == tenant}
    return inventory.services_by_priority(sorted(chosen))


# ---------------------------------------------------------------------------------------------
# The plan of a backup run
# ---------------------------------------------------------------------------------------------


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


def dump_filename(database: Database) -> str:
    return f"{database.engine}-{database.name}.sql"


def dump_command(database: Database) -> list[str]:
    """The dump tool's argv, run on the service's host (as root there)."""
    if database.engine == "postgres":
        user = database.user or "postgres"
        # pg_dump through the local socket with peer authentication, as the database's system user
        return ["runuser", "-u", user, "--", "pg_dump", "--no-password", "--format=plain", database.name]
    argv = ["mysqldump", "--single-transaction", "--routines", "--events", "--databases", database.name]
    if database.user:
        argv.insert(1, f"--user={database.user}")
    return argv


# ---------------------------------------------------------------------------------------------
# Free space and freshness
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeSpace:
    total_bytes: int
    available_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.available_bytes / self.total_bytes if self.total_bytes else 0.0


def space_problem(space: FreeSpace, min_free_percent: float, repository: str) -> str | None:
    if space.free_percent < min_free_percent:
        return (f"repository {repository}: only {space.free_percent:.1f} % free "
                f"({format_bytes(space.available_bytes)} of {format_bytes(space.total_bytes)}), "
                f"below min_free_percent {min_free_percent:g} %: backup refused")
    return None


def parse_sftp_df(text: str) -> FreeSpace | None:
    """OpenSSH `sftp` batch `df PATH` (statvfs@openssh.com): sizes in KiB on the line after the header."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.split()[:3] == ["Size", "Used", "Avail"] and index + 1 < len(lines):
            numbers = lines[index + 1].split()
            if len(numbers) >= 3 and all(n.isdigit() for n in numbers[:3]):
                size, _used, available = (int(n) * 1024 for n in numbers[:3])
                return FreeSpace(size, available)
    return None


def parse_df_posix(text: str) -> FreeSpace | None:
    """`df -P -k PATH`: 1024-blocks, used, available on the second line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    if len(fields) < 4 or not all(f.isdigit() for f in fields[1:4]):
        return None
    return FreeSpace(int(fields[1]) * 1024, int(fields[3]) * 1024)


# restic's two SFTP forms: sftp:user@host:/path, and sftp://user@host:port//absolute (one slash: relative
# to the login folder, which sftp's `df` understands too)
_SFTP_SHORT = re.compile(r"^sftp:(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+):(?P<path>.+)$")
_SFTP_URL = re.compile(r"^sftp://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<path>.+)$")


@dataclass(frozen=True)
class RepositoryLocation:
    """Where a repository lives, as far as free space is concerned."""

    kind: str  # "sftp", "local" or "other"
    path: str = ""
    user: str | None = None
    host: str | None = None
    port: int | None = None


def locate_repository(url: str) -> RepositoryLocation:
    match = _SFTP_URL.match(url)
    if match:
        port = match.group("port")
        return RepositoryLocation("sftp", match.group("path"), match.group("user"), match.group("host"),
                                  int(port) if port else None)
    match = _SFTP_SHORT.match(url)
    if match:
        return RepositoryLocation("sftp", match.group("path"), match.group("user"), match.group("host"))
    if url.startswith("sftp:"):
        return RepositoryLocation("other")
    if url.startswith("local:"):
        return RepositoryLocation("local", url[len("local:"):])
    if url.startswith("/"):
        return RepositoryLocation("local", url)
    return RepositoryLocation("other")


def repository_host(inventory: Inventory, url: str) -> str | None:
    """The inventory host that stores an SFTP repository (matched by address or name), if any."""
    location = locate_repository(url)
    if location.kind != "sftp" or not location.path.startswith("/"):
        return None
    for name, host in inventory.hosts.items():
        if location.host in (host.address, name):
            return name
    return None


def hosts_to_contact(inventory: Inventory, plan: BackupPlan) -> list[str]:
    """Every host a run of `plan` talks to: the hosts of the data, then those storing its repositories
    (where the free space is measured)."""
    storing = (repository_host(inventory, target.repository_url) for target in plan.targets)
    return list(dict.fromkeys([*plan.hosts(), *(host for host in storing if host is not None)]))


@dataclass(frozen=True)
class Freshness:
    service: str
    repository: str
    newest: dt.datetime | None
    max_age_hours: float

    def age_hours(self, now: dt.datetime) -> float | None:
        return None if self.newest is None else (now - self.newest).total_seconds() / 3600

    def is_stale(self, now: dt.datetime) -> bool:
        age = self.age_hours(now)
        return age is None or age > self.max_age_hours


def evaluate_freshness(
    inventory: Inventory,
    repository: str,
    services: Iterable[str],
    newest_by_service: dict[str, dt.datetime],
) -> list[Freshness]:
    verdicts = []
    for name in services:
        limit = inventory.services[name].max_age_hours or inventory.defaults.max_age_hours
        verdicts.append(Freshness(name, repository, newest_by_service.get(name), limit))
    return verdicts


def format_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
