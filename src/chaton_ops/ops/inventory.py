"""Read-only views of the inventory: overview tables, one object with what refers to it, checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.placement import Placement
from chaton_ops.errors import UsageError

INACTIVE_AFTER_DAYS = 365


def describe_inventory(inventory: Inventory, today: dt.date | None = None, *,
                       placements: Mapping[str, Placement] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows for each table of `chaton inventory`: hosts, services, tenants, repositories, DNS zones.
    A service moved by a failover is on the host where it runs now, with its home and the move."""
    today = today or dt.date.today()
    moved = {name: p for name, p in (placements or {}).items() if p.away and name in inventory.services}
    return {
        "hosts": [
            {
                "name": name,
                "kind": host.kind,
                "address": host.address,
                "vm": f"{host.vm.proxmox}/{host.vm.node}/{host.vm.vmid}" if host.vm else None,
                "services": inventory.services_on(name),
            }
            for name, host in inventory.hosts.items()
        ],
        "services": [
            {
                "name": name,
                "host": service.host,
                "home": moved[name].home if name in moved else service.host,
                "moved": ({"since": moved[name].since, "run_id": moved[name].run_id, "reason": moved[name].reason}
                          if name in moved else None),
                "tenant": service.tenant,
                "priority": service.priority,
                "fallback": service.fallback,
                "repositories": inventory.repositories_for(name),
                "data": list(service.data),
                "databases": [f"{db.engine}:{db.name}" for db in service.databases],
            }
            for name, service in inventory.services.items()
        ],
        "tenants": [
            {
                "name": name,
                "contact": tenant.contact,
                "last_contact": tenant.last_contact.isoformat() if tenant.last_contact else None,
                "inactive": bool(tenant.last_contact and (today - tenant.last_contact).days > INACTIVE_AFTER_DAYS),
                "repository": tenant.repository,
                "services": inventory.services_of(name),
            }
            for name, tenant in inventory.tenants.items()
        ],
        "repositories": [
            {"name": name, "url": repo.url, "password": f"secret:{repo.password}",
             "services": inventory.services_using(name)}
            for name, repo in inventory.repositories.items()
        ],
        "dns": [
            {"zone": zone, "provider": settings.provider, "server": settings.server, "key_name": settings.key_name,
             "failover_ttl": settings.failover_ttl}
            for zone, settings in inventory.dns.items()
        ],
    }


def show_object(loaded: LoadedInventory, name: str) -> list[dict[str, Any]]:
    """Everything about the host, service, tenant or repository called `name`, and what refers to it."""
    inventory = loaded.inventory
    found: list[dict[str, Any]] = []
    if name in inventory.hosts:
        host = inventory.hosts[name]
        found.append({
            "type": "host",
            "name": name,
            "defined_at": loaded.where(("hosts", name)),
            "settings": host.model_dump(mode="json", exclude_none=True),
            "ssh": inventory.ssh_for(name).model_dump(mode="json", exclude_none=True),
            "services": inventory.services_on(name),
            "fallback_for": [s for s, svc in inventory.services.items() if svc.fallback == name],
        })
    if name in inventory.services:
        service = inventory.services[name]
        found.append({
            "type": "service",
            "name": name,
            "defined_at": loaded.where(("services", name)),
            "settings": service.model_dump(mode="json", exclude_none=True),
            "host": {"name": service.host, "address": inventory.hosts[service.host].address},
            "repositories": inventory.repositories_for(name),
            "retention": inventory.retention_for(name).model_dump(exclude_none=True),
            "fallback": service.fallback,
        })
    if name in inventory.tenants:
        tenant = inventory.tenants[name]
        found.append({
            "type": "tenant",
            "name": name,
            "defined_at": loaded.where(("tenants", name)),
            "settings": tenant.model_dump(mode="json", exclude_none=True),
            "services": inventory.services_of(name),
        })
    if name in inventory.repositories:
        found.append({
            "type": "repository",
            "name": name,
            "defined_at": loaded.where(("repositories", name)),
            "settings": inventory.repositories[name].model_dump(mode="json", exclude_none=True),
            "services": inventory.services_using(name),
            "tenants": [t for t, tenant in inventory.tenants.items() if tenant.repository == name],
        })
    if not found:
        known = sorted({*inventory.hosts, *inventory.services, *inventory.tenants, *inventory.repositories})
        raise UsageError(f"no host, service, tenant or repository named '{name}' (known: {', '.join(known)})")
    return found


def inventory_schema() -> dict[str, Any]:
    return Inventory.model_json_schema()
