"""Which services a command works on (`select_services`), and the tags chaton puts on every snapshot so
that it finds a service's, a tenant's or a database's snapshots again (`chaton`, `service:NAME`, …)."""

from __future__ import annotations

from collections.abc import Sequence

from chaton_ops.core.inventory import Database, Inventory
from chaton_ops.errors import UsageError

CHATON_TAG = "chaton"  # on every snapshot chaton makes: other snapshots in a repository are not its own


def service_tag(service: str) -> str:
    return f"service:{service}"


def tenant_tag(tenant: str) -> str:
    return f"tenant:{tenant}"


def database_tag(database: Database) -> str:
    """The tag of a database dump's snapshot (one snapshot per database, beside the data's)."""
    return f"database:{database.engine}:{database.name}"


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
