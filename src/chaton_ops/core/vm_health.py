"""A guest's health as `chaton status` shows it: running, onboot, lock, age of its newest vzdump archive,
and its problems in words. Pure: built from the listing (core/vm_plan.py) and the archives."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from chaton_ops.core.vm_plan import ArchiveFreshness, GuestRow


@dataclass(frozen=True)
class GuestHealth:
    """What `chaton status` shows of a guest: running, onboot, locked, age of its last vzdump archive."""

    cluster: str
    vmid: int
    name: str
    host: str | None  # None: no inventory host describes it
    node: str | None
    running: bool | None  # None: unknown (node offline) or missing
    onboot: bool | None
    lock: str | None
    last_archive_age_hours: float | None
    archive_max_age_hours: float | None  # None: the cluster has no vzdump settings
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = list(self.problems)
        data["ok"] = self.ok
        return data


def assess_guest(row: GuestRow, offline_nodes: Iterable[str], freshness: ArchiveFreshness | None,
                 max_age_hours: float | None) -> GuestHealth:
    """One guest's health from its row in the listing, its node's state and its newest archive."""
    guest = row.guest
    offline = guest is not None and guest.ref.node in set(offline_nodes)
    problems: list[str] = []
    if row.relation == "missing":
        problems.append(f"no guest {row.vmid} on cluster {row.cluster}")
    elif row.relation == "migrated":
        problems.append(f"runs on node {guest.ref.node if guest else '?'}, inventory says {row.inventory_node}")
    if offline:
        problems.append(f"node {guest.ref.node if guest else '?'} is offline")
    running = None if guest is None or offline else guest.running
    if guest is not None and not guest.template and not offline:
        if row.host is not None and not guest.running:
            problems.append(f"not running ({guest.status})")
        if row.onboot is False:
            problems.append("onboot is off: would not start with its node")
        if guest.lock:
            problems.append(f"locked ({guest.lock})")
    if freshness is not None and freshness.stale:
        problems.append(freshness.describe())
    return GuestHealth(
        row.cluster, row.vmid, guest.name if guest else "", row.host, guest.ref.node if guest else row.inventory_node,
        running, row.onboot, guest.lock if guest else None,
        freshness.age_hours if freshness else None, max_age_hours, tuple(problems))
