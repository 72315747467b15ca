"""Where services run now. The inventory declares each service's home host; failover and failback
move services and the journal keeps where each one runs since (its placement). Every command acts on
the placed inventory: after a failover the nightly backup runs on the fallback, status probes the
fallback, deploy and restore target it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaton_ops.core.inventory import Inventory


@dataclass(frozen=True)
class Placement:
    """A service moved away from (or back to) its home host."""

    service: str
    host: str
    home: str
    since: str
    run_id: int | None = None
    reason: str = ""

    @property
    def away(self) -> bool:
        return self.host != self.home


def apply_placements(inventory: Inventory, placements: Mapping[str, Placement]) -> tuple[Inventory, list[str]]:
    """The inventory with each moved service on the host where it runs now, and warnings for
    placements that no longer fit the inventory (a service or host removed since: ignored)."""
    warnings: list[str] = []
    moved = {}
    for name, placement in placements.items():
        service = inventory.services.get(name)
        if service is None or not placement.away:
            continue
        if placement.host not in inventory.hosts:
            warnings.append(f"service {name} was moved to {placement.host} (run {placement.run_id}), which the "
                            f"inventory no longer has: acting on its home {service.host}")
            continue
        if service.host != placement.home:
            warnings.append(f"service {name} was moved from {placement.home} to {placement.host}, but the "
                            f"inventory now says its home is {service.host}: acting on {placement.host}")
        moved[name] = service.model_copy(update={"host": placement.host})
    if not moved:
        return inventory, warnings
    services = {name: moved.get(name, service) for name, service in inventory.services.items()}
    return inventory.model_copy(update={"services": services}), warnings
