"""What the failover's gathering and actions share: the inventory, the hosts, the journal, DNS, probes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Dns, FailoverJournal, Locks, Probes, Secrets, TemplatesFor, Transport
from chaton_ops.errors import UsageError
from chaton_ops.ops.engine import NoLocks
from chaton_ops.ops.restic_calls import VersionCache

# how long a restore prepared by the preflight stays good for its step (the step re-checks space,
# and the swap re-checks what is at the path, just before they act)
PREPARED_FOR_SECONDS = 600.0


@dataclass
class FailoverContext:
    loaded: LoadedInventory  # placed: each service on the host where it runs now
    transports: Callable[[str], Transport]
    journal: FailoverJournal
    dns: Dns | None
    probes: Probes  # the services' checks, and the `wait` steps of their playbooks
    templates: TemplatesFor  # the playbooks' templates (a playbook folder → Templates)
    passwords: dict[str, str]  # repository → password (revealed once, masked everywhere)
    secrets: Secrets  # the inventory's secrets, for a restore the preflight did not prepare
    versions: VersionCache = field(default_factory=VersionCache)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    # services worked on at once (their lanes, in priority order): a restore overlaps the previous
    # service's start and checks, mostly waiting; more would only share the fallback's CPU
    jobs: int = 2
    check_timeout: float = 30.0  # how long a local check may wait for a service that is still starting
    dns_wait: float = 60.0  # how long every authoritative server may take to answer the new records
    # restores prepared by the preflight (service → (prepared, when)): the restore step takes one over
    # when it restores that very snapshot on that host, shortly after
    prepared: dict[str, tuple[Any, float]] = field(default_factory=dict)
    # chaton's locks: a run holds those of the services it moves (core/locks.py); none in unit tests
    locks: Locks = field(default_factory=NoLocks)

    def remember_prepared(self, service: str, prepared: Any) -> None:
        self.prepared[service] = (prepared, time.monotonic())

    def prepared_restore(self, service: str, host: str, snapshot: str) -> Any | None:
        """The restore the preflight prepared, if it is of `snapshot` on `host` and recent."""
        found = self.prepared.get(service)
        if found is None:
            return None
        prepared, when = found
        chosen = prepared.plan.snapshot
        if chosen is None or chosen.id != snapshot or prepared.plan.host != host \
                or time.monotonic() - when > PREPARED_FOR_SECONDS:
            return None
        return prepared

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
