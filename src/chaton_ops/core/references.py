"""Second validation pass: references between sections, and duplicates.

Runs on a structurally valid inventory and returns every problem at once, each with its dotted path.
A check that follows a reference (the tenant's repository, the fallback's kind) runs only once that
reference is known to resolve: a dangling reference is reported once, by its own check, and never
crashes or cascades into the checks that depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.values import address_key

PathKey = tuple[str | int, ...]
Finding = tuple[str, PathKey]


def find_reference_problems(inventory: Inventory) -> list[Finding]:
    """Every dangling reference and duplicate in `inventory`, as (message, path)."""
    return [
        *_secret_references(inventory),
        *_host_references(inventory),
        *_tenant_references(inventory),
        *_service_references(inventory),
        *_duplicates(inventory),
    ]


def _missing(kind: str, name: str, known: object) -> str:
    names = sorted(known) if isinstance(known, dict) else []
    listed = ", ".join(names) if names else "none defined"
    return f"unknown {kind} '{name}' (known: {listed})"


def _secret_references(inventory: Inventory) -> Iterator[Finding]:
    secrets = inventory.secrets
    for name, repository in inventory.repositories.items():
        if repository.password not in secrets:
            yield _missing("secret", repository.password, secrets), ("repositories", name, "password")
    for name, cluster in inventory.proxmox.items():
        if cluster.token not in secrets:
            yield _missing("secret", cluster.token, secrets), ("proxmox", name, "token")
    for zone, settings in inventory.dns.items():
        if settings.key not in secrets:
            yield _missing("secret", settings.key, secrets), ("dns", zone, "key")
    yield from _notify_secret_references(inventory)


def _notify_secret_references(inventory: Inventory) -> Iterator[Finding]:
    secrets = inventory.secrets
    for kind in ("healthchecks", "apprise"):
        for index, name in enumerate(getattr(inventory.notify, kind)):
            if name not in secrets:
                yield _missing("secret", name, secrets), ("notify", kind, index)
    for service_name, service in inventory.services.items():
        if service.notify is None:
            continue
        for kind in ("healthchecks", "apprise"):
            for index, name in enumerate(getattr(service.notify, kind) or []):
                if name not in secrets:
                    yield _missing("secret", name, secrets), ("services", service_name, "notify", kind, index)


def _host_references(inventory: Inventory) -> Iterator[Finding]:
    for name, host in inventory.hosts.items():
        if host.proxmox is not None and host.proxmox not in inventory.proxmox:
            yield _missing("proxmox cluster", host.proxmox, inventory.proxmox), ("hosts", name, "proxmox")
        if host.vm is not None and host.vm.proxmox not in inventory.proxmox:
            yield _missing("proxmox cluster", host.vm.proxmox, inventory.proxmox), ("hosts", name, "vm", "proxmox")


def _tenant_references(inventory: Inventory) -> Iterator[Finding]:
    for name, tenant in inventory.tenants.items():
        if tenant.repository is not None and tenant.repository not in inventory.repositories:
            yield (_missing("repository", tenant.repository, inventory.repositories),
                   ("tenants", name, "repository"))


def _service_references(inventory: Inventory) -> Iterator[Finding]:
    for name, service in inventory.services.items():
        here: PathKey = ("services", name)
        if service.host not in inventory.hosts:
            yield _missing("host", service.host, inventory.hosts), (*here, "host")
        tenant_known = service.tenant is None or service.tenant in inventory.tenants
        if service.tenant is not None and not tenant_known:
            yield _missing("tenant", service.tenant, inventory.tenants), (*here, "tenant")
        repositories_known = True
        for index, repository in enumerate(service.repositories or []):
            if repository not in inventory.repositories:
                repositories_known = False
                yield _missing("repository", repository, inventory.repositories), (*here, "repositories", index)
        for index, record in enumerate(service.dns):
            if record.zone not in inventory.dns:
                yield _missing("DNS zone", record.zone, inventory.dns), (*here, "dns", index, "zone")
        if service.fallback is not None:
            fallback = inventory.hosts.get(service.fallback)
            if fallback is None:
                yield _missing("host", service.fallback, inventory.hosts), (*here, "fallback")
            elif fallback.kind != "fallback":
                yield (f"host '{service.fallback}' is of kind {fallback.kind}, not fallback",
                       (*here, "fallback"))
            elif service.fallback == service.host:
                yield "a service cannot fall back onto its own host", (*here, "fallback")
        # Where its data goes depends on its tenant and repositories: judged only once those resolve.
        if tenant_known and repositories_known and (service.data or service.databases) \
                and not inventory.repositories_for(name):
            yield "the service has data but no repository is defined", (*here, "data")


def _duplicates(inventory: Inventory) -> Iterator[Finding]:
    addresses: dict[object, str] = {}
    for name, host in inventory.hosts.items():
        key = address_key(host.address)  # the parsed address: one machine, however it is written
        if key in addresses:
            yield (f"address {host.address} is already used by host '{addresses[key]}'",
                   ("hosts", name, "address"))
        else:
            addresses[key] = name
    guests: dict[tuple[str, int], str] = {}
    for name, host in inventory.hosts.items():
        if host.vm is None:
            continue
        guest = (host.vm.proxmox, host.vm.vmid)
        if guest in guests:
            yield (f"vmid {host.vm.vmid} on '{host.vm.proxmox}' is already host '{guests[guest]}'",
                   ("hosts", name, "vm", "vmid"))
        else:
            guests[guest] = name
    zones: dict[object, str] = {}
    for zone in inventory.dns:
        key = address_key(zone)
        if key in zones:
            yield f"zone {zone} is already defined as '{zones[key]}'", ("dns", zone)
        else:
            zones[key] = zone
    records: dict[tuple[str, str, str], str] = {}
    for name, service in inventory.services.items():
        for index, record in enumerate(service.dns):
            owner = (record.zone, record.name.lower(), record.type)
            if owner in records and records[owner] != name:
                yield (f"record {record.name}.{record.zone} {record.type} already belongs to service "
                       f"'{records[owner]}'", ("services", name, "dns", index))
            else:
                records.setdefault(owner, name)
    repo_urls: dict[str, str] = {}
    for name, repository in inventory.repositories.items():
        if repository.url in repo_urls:
            yield (f"URL already used by repository '{repo_urls[repository.url]}'",
                   ("repositories", name, "url"))
        else:
            repo_urls[repository.url] = name
    api_urls: dict[str, str] = {}
    for name, cluster in inventory.proxmox.items():
        api = cluster.api.lower().rstrip("/")
        if api in api_urls:
            yield f"API already used by proxmox cluster '{api_urls[api]}'", ("proxmox", name, "api")
        else:
            api_urls[api] = name
