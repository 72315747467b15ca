"""The composition root of `chaton failover` and `chaton failback`: the inventory (placed), the hosts'
connections, the journal, the DNS servers (with their TSIG keys), the probes, the repositories'
passwords and chaton's locks (the services a run moves: core/locks.py), handed to the use cases of
ops/failover/ as one FailoverContext."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.ops.failover.context import FailoverContext


@contextmanager
def failover_context(loaded: LoadedInventory, *, jobs: int = 2) -> Iterator[FailoverContext]:
    from chaton_ops.adapters.dns import Rfc2136Dns
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.probes import NetworkProbes
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.adapters.secrets import resolve_secret

    inventory = loaded.inventory
    used_zones = {r.zone for s in inventory.services.values() for r in s.dns}
    tsig = {zone: resolve_secret(loaded, inventory.dns[zone].key).reveal() for zone in sorted(used_zones)}
    passwords = {name: resolve_secret(loaded, repo.password).reveal() for name, repo in inventory.repositories.items()
                 if inventory.services_using(name)}
    dns = Rfc2136Dns(inventory.dns, tsig) if used_zones else None
    with Journal(default_journal_path()) as journal, HostPool(loaded) as pool:
        yield FailoverContext(loaded=loaded, transports=pool.transport, journal=journal, dns=dns,
                              probes=NetworkProbes(), passwords=passwords, jobs=jobs, locks=FileLocks())
