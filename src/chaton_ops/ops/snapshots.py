"""`chaton snapshots [SERVICE]`: the snapshots chaton made, per service and repository."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Secrets, Transport
from chaton_ops.core.restic import build_snapshots_argv
from chaton_ops.core.restic_output import Snapshot, parse_snapshots
from chaton_ops.core.selection import CHATON_TAG, service_tag
from chaton_ops.errors import UsageError
from chaton_ops.ops.repository import access_host
from chaton_ops.ops.restic_calls import run_restic

SNAPSHOTS_TIMEOUT = 600.0


@dataclass(frozen=True)
class RepositorySnapshots:
    repository: str
    host: str  # where restic ran
    snapshots: tuple[Snapshot, ...]


def list_repository_snapshots(
    loaded: LoadedInventory,
    repository: str,
    transport: Transport,
    *,
    secrets: Secrets,
    service: str | None = None,
) -> list[Snapshot]:
    inventory = loaded.inventory
    binary = inventory.hosts[transport.host].restic
    password = secrets.resolve(inventory.repositories[repository].password).reveal()
    tags = [service_tag(service)] if service else [CHATON_TAG]
    argv = build_snapshots_argv(binary, inventory.repositories[repository].url, tags=tags)
    run = run_restic(transport, argv, password, timeout=SNAPSHOTS_TIMEOUT)
    if not run.succeeded:
        raise run.error(f"snapshots of {repository}")
    return parse_snapshots(run.result.stdout)


def list_snapshots(
    loaded: LoadedInventory,
    transports: Callable[[str], Transport],
    *,
    secrets: Secrets,
    service: str | None = None,
    repository: str | None = None,
    via: str | None = None,
) -> list[RepositorySnapshots]:
    """Snapshots per repository; for one service, from its own host and repositories."""
    inventory = loaded.inventory
    if service is not None and service not in inventory.services:
        raise UsageError(f"unknown service: {service} (known: {', '.join(sorted(inventory.services)) or 'none'})")
    if service is not None:
        repositories = inventory.repositories_for(service)
    else:
        repositories = sorted(inventory.repositories)
    if repository is not None:
        if repository not in inventory.repositories:
            raise UsageError(f"unknown repository: {repository}")
        repositories = [repository]
    listed = []
    for name in repositories:
        host = via or (inventory.services[service].host if service else access_host(inventory, name))
        snapshots = list_repository_snapshots(loaded, name, transports(host), secrets=secrets, service=service)
        listed.append(RepositorySnapshots(name, host, tuple(snapshots)))
    return listed
