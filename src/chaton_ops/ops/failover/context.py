"""What the failover's gathering and actions share: the inventory, the hosts, the journal, DNS, probes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from chaton_ops.adapters.restic import VersionCache
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Dns, FailoverJournal, Probes, Transport
from chaton_ops.errors import UsageError


@dataclass
class FailoverContext:
    loaded: LoadedInventory  # placed: each service on the host where it runs now
    transports: Callable[[str], Transport]
    journal: FailoverJournal
    dns: Dns | None
    probes: Probes
    passwords: dict[str, str]  # repository → password (revealed once, masked everywhere)
    versions: VersionCache = field(default_factory=VersionCache)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    check_timeout: float = 30.0  # how long a local check may wait for a service that is still starting
    dns_wait: float = 60.0  # how long every authoritative server may take to answer the new records

    @property
    def inventory(self):  # noqa: ANN201 - the placed Inventory
        return self.loaded.inventory

    def require_dns(self) -> Dns:
        if self.dns is None:
            raise UsageError("no DNS zone of the inventory is involved: nothing to switch")
        return self.dns

    def repository_of(self, service: str) -> str:
        """The repository a service is restored from: the first it backs up to."""
        repositories = self.inventory.repositories_for(service)
        if not repositories:
            raise UsageError(f"service {service} has no repository to restore from")
        return repositories[0]
