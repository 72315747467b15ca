"""Tenants' lifecycle as pure data: who is past the collective's limit (`defaults.inactive_after`), which
snapshots make up a tenant's data, the layout of an export archive, and the plan of a removal.

An export archive (`chaton tenant export`), one folder per tenant:

    TENANT/manifest.json                      what is inside: snapshots, times, sizes, sha256 of each dump
    TENANT/README.txt                         the same in words, for the member
    TENANT/SERVICE/data/PATH…                 the newest data snapshot, as it was (srv/www/index.html)
    TENANT/SERVICE/databases/ENGINE-NAME.sql  the newest dump of each database
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chaton_ops.core.inventory import Database, Inventory
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.core.selection import database_tag
from chaton_ops.errors import UsageError

ARCHIVE_SUFFIXES = {".tar": "", ".tar.gz": "gz", ".tgz": "gz"}


@dataclass(frozen=True)
class Inactivity:
    """How long a tenant has not answered, against the collective's limit."""

    last_contact: dt.date | None
    days: int | None  # since last contact; None: never recorded
    limit: int | None  # defaults.inactive_after

    @property
    def past_limit(self) -> bool:
        return self.limit is not None and self.days is not None and self.days > self.limit

    def describe(self) -> str:
        if self.days is None:
            return "no last contact recorded"
        since = f"{self.days} day{'s' if self.days != 1 else ''} ago"
        if self.limit is None:
            return since
        return f"{since}, past the limit of {self.limit}" if self.past_limit else f"{since}, within {self.limit}"


def inactivity(inventory: Inventory, tenant: str, today: dt.date) -> Inactivity:
    last = inventory.tenants[tenant].last_contact
    days = None if last is None else (today - last).days
    return Inactivity(last, days, inventory.defaults.inactive_after)


def check_tenant(inventory: Inventory, tenant: str) -> None:
    if tenant not in inventory.tenants:
        raise UsageError(f"unknown tenant: {tenant} (known: {', '.join(sorted(inventory.tenants)) or 'none'})")


def removal_refusal(state: Inactivity, tenant: str, *, force: bool) -> str | None:
    """Why a removal must not go on (None: it may). Inside the limit, or with no limit or no last contact
    to judge by, only --force lets it through."""
    if force or state.past_limit:
        return None
    if state.limit is None:
        return (f"the inventory sets no limit (defaults.inactive_after): nothing says {tenant} may be removed; "
                "--force if the collective decided it")
    if state.days is None:
        return f"{tenant} has no last_contact in the inventory: nothing says it is inactive; --force if it is"
    return (f"{tenant} answered {state.days} days ago, within the collective's limit of {state.limit} days; "
            "--force if the member asked to leave")


# ---------------------------------------------------------------------------------------------
# Which snapshots are a service's data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotRef:
    """A snapshot, as much as choosing and exporting it needs (adapters parse restic's, core sees this)."""

    id: str
    time: dt.datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    size: int | None = None


@dataclass(frozen=True)
class ServiceSnapshots:
    """A service's newest data snapshot and the newest dump of each of its databases."""

    service: str
    data: SnapshotRef | None
    databases: tuple[tuple[Database, SnapshotRef | None], ...]

    def all(self) -> list[SnapshotRef]:
        return [s for s in (self.data, *(snap for _, snap in self.databases)) if s is not None]


def newest_snapshots(service: str, paths: Sequence[str], databases: Sequence[Database],
                     snapshots: Iterable[SnapshotRef]) -> ServiceSnapshots:
    """Among the service's snapshots (tag service:NAME): the newest of its data (no database tag), the
    newest of each database dump (its database:ENGINE:NAME tag)."""
    mine = sorted((s for s in snapshots if f"service:{service}" in s.tags), key=lambda s: s.time, reverse=True)
    data = next((s for s in mine if not any(t.startswith("database:") for t in s.tags)), None) if paths else None
    dumps = tuple((db, next((s for s in mine if database_tag(db) in s.tags), None)) for db in databases)
    return ServiceSnapshots(service, data, dumps)


def unsafe_to_remove(path: str) -> bool:
    """A folder chaton never removes for a leaving tenant: `/` or a top-level folder (`/srv`, `/etc`, `/home`),
    however the inventory names it (`//srv/`): a service's data lives below those."""
    return len([part for part in path.split("/") if part]) < 2


def archive_compression(name: str) -> str:
    """'' (plain tar) or 'gz', from the file name; UsageError for any other."""
    for suffix, compression in sorted(ARCHIVE_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return compression
    raise UsageError(f"{name}: the archive's name must end in .tar.gz, .tgz or .tar")


def member_name(tenant: str, service: str, path: str) -> str | None:
    """Where a file of a data snapshot goes in the archive; None for anything that would leave the folder."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join([tenant, service, "data", *parts])


# ---------------------------------------------------------------------------------------------
# The plan of `chaton tenant remove`
# ---------------------------------------------------------------------------------------------


def plan_tenant_removal(inventory: Inventory, tenant: str, *, hosts: dict[str, str], export_to: str,
                        undeploy: dict[str, bool]) -> Plan:
    """Export first; then, per service (a lane each): take it off its host (its playbook's `undeploy:`),
    remove its data and databases there, forget its snapshots in each repository. Nothing of a service
    is removed unless the export ended well. `hosts`: where each service runs now."""
    services = inventory.services_of(tenant)
    steps = [PlannedStep("export", "export", f"export {tenant}", target=tenant, phase=0,
                         inputs={"tenant": tenant, "to": export_to})]
    for name in services:
        service = inventory.services[name]
        host = hosts[name]
        steps.append(PlannedStep(f"undeploy:{name}@{host}", "undeploy", f"{name}: undeploy on {host}", host=host,
                                 target=name, phase=1, lane=name, needs=("export",), inputs={"service": name},
                                 noop=None if undeploy.get(name) else "its playbook has no `undeploy:` steps"
                                 if service.playbook else "no playbook"))
        has_data = bool(service.data or service.databases)
        steps.append(PlannedStep(f"remove-data:{name}@{host}", "remove-data", f"{name}: remove its data on {host}",
                                 host=host, target=name, phase=1, lane=name, needs=("export",),
                                 inputs={"service": name, "paths": list(service.data),
                                         "databases": [f"{d.engine}:{d.name}" for d in service.databases]},
                                 noop=None if has_data else "no data, no database"))
        for repository in inventory.repositories_for(name):
            steps.append(PlannedStep(f"forget:{name}@{repository}", "forget",
                                     f"{name}: forget its snapshots in {repository}", host=host, target=name,
                                     phase=1, lane=name, needs=("export",),
                                     inputs={"service": name, "repository": repository},
                                     noop=None if has_data else "nothing was ever backed up"))
    return Plan("tenant remove", tuple(steps), inputs={"tenant": tenant, "services": services, "export": export_to})
