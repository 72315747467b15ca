"""Reading use cases of `chaton vm`: the guests and their drift, a guest's snapshots, the vzdump archives,
and `vm_health` (the VM section of `chaton status`). Nothing here changes a cluster."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.ports import Proxmox
from chaton_ops.core.proxmox import Archive, ClusterState, Guest, Snapshot, parse_onboot
from chaton_ops.core.vm_health import GuestHealth, assess_guest
from chaton_ops.core.vm_plan import (
    ArchiveFreshness,
    GuestRow,
    InventoryVm,
    archive_freshness,
    relate_guests,
    select_vm_hosts,
)
from chaton_ops.errors import ChatonError, ProxmoxAuthError, UsageError
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    locate,
    read_archives,
    read_cluster_state,
    read_config,
    read_guests,
    read_snapshots,
    vm_hosts_by_vmid,
)

CONFIG_READERS = 4  # guest configs read at once (one request per guest for `onboot`)


@dataclass(frozen=True)
class ClusterListing:
    """One cluster's guests related to the inventory, or why it could not be read."""

    cluster: str
    state: ClusterState | None = None
    rows: tuple[GuestRow, ...] = ()
    error: ChatonError | None = None

    @property
    def offline_nodes(self) -> tuple[str, ...]:
        return self.state.offline_nodes if self.state else ()


def select_clusters(inventory: Inventory, names: Sequence[str] = ()) -> list[str]:
    for name in names:
        if name not in inventory.proxmox:
            raise UsageError(f"unknown proxmox cluster '{name}' (known: {', '.join(sorted(inventory.proxmox)) or 'none'})")
    return list(dict.fromkeys(names)) or list(inventory.proxmox)


def read_onboot(api: Proxmox, guests: Sequence[Guest], offline: Sequence[str]) -> dict[int, bool | None]:
    """`onboot` of every guest whose node answers (None for the others), a few requests at a time."""
    readable = [guest for guest in guests if guest.ref.node not in offline]

    def read_onboot(guest: Guest) -> tuple[int, bool | None]:
        return guest.ref.vmid, parse_onboot(read_config(api, guest.ref))

    with ThreadPoolExecutor(max_workers=CONFIG_READERS, thread_name_prefix="chaton-pve") as pool:
        found = dict(pool.map(read_onboot, readable))
    return {guest.ref.vmid: found.get(guest.ref.vmid) for guest in guests}


def list_cluster(inventory: Inventory, api: Proxmox) -> ClusterListing:
    """Every guest of the cluster (QEMU and LXC) with its onboot and its relation to the inventory."""
    state = read_cluster_state(api)
    guests = read_guests(api)
    onboot = read_onboot(api, guests, state.offline_nodes)
    return ClusterListing(api.cluster, state, tuple(relate_guests(inventory, api.cluster, guests, onboot)))


def list_guests(inventory: Inventory, api_for: ApiFactory, clusters: Sequence[str] = ()) -> list[ClusterListing]:
    """`chaton vm list`: each cluster's listing; a cluster that cannot be read carries its error and the
    others are still listed. A refused token stops everything (exit 2)."""
    listings = []
    for name in select_clusters(inventory, clusters):
        try:
            listings.append(list_cluster(inventory, api_for(name)))
        except ProxmoxAuthError:
            raise
        except ChatonError as error:
            listings.append(ClusterListing(name, error=error))
    return listings


@dataclass(frozen=True)
class GuestSnapshots:
    vm: InventoryVm
    guest: Guest
    snapshots: tuple[Snapshot, ...]


def list_snapshots(inventory: Inventory, api_for: ApiFactory, host: str) -> GuestSnapshots:
    """`chaton vm snapshots HOST`: the guest's snapshots, oldest first."""
    vm = select_vm_hosts(inventory, [host])[0]
    api = api_for(vm.cluster)
    guest, _ = locate(api, vm)
    return GuestSnapshots(vm, guest, tuple(read_snapshots(api, guest.ref)))


# ----------------------------------------------------------------------------------------- archives
@dataclass(frozen=True)
class ClusterBackups:
    """The archives of one cluster's vzdump storage, and each guest's newest one against its schedule."""

    cluster: str
    storage: str | None
    archives: tuple[Archive, ...] = ()
    freshness: tuple[ArchiveFreshness, ...] = ()
    unknown_nodes: tuple[str, ...] = ()  # offline: their local archives could not be listed
    guests: tuple[Guest, ...] = ()
    error: ChatonError | None = None

    @property
    def stale(self) -> tuple[ArchiveFreshness, ...]:
        return tuple(item for item in self.freshness if item.stale)


def cluster_backups(inventory: Inventory, api: Proxmox, storage: str | None, now: dt.datetime, *,
                    state: ClusterState | None = None, guests: Sequence[Guest] | None = None) -> ClusterBackups:
    """Archives of `storage` (else the cluster's vzdump storage) listed on every online node with guests
    (a shared storage shows the same archives everywhere: kept once)."""
    settings = inventory.proxmox[api.cluster].vzdump
    storage = storage or (settings.storage if settings else None)
    if storage is None:
        return ClusterBackups(api.cluster, None)
    state = state or read_cluster_state(api)
    guests = list(guests) if guests is not None else read_guests(api)
    nodes = sorted({guest.ref.node for guest in guests} | {name for name, online in state.nodes if online})
    offline = set(state.offline_nodes)
    archives: dict[str, Archive] = {}
    for node in nodes:
        if node in offline:
            continue
        for archive in read_archives(api, node, storage):
            archives.setdefault(archive.volid, archive)
    max_age = settings.max_age_hours if settings else inventory.defaults.max_age_hours
    freshness = archive_freshness(guests, list(archives.values()), vm_hosts_by_vmid(inventory, api.cluster), max_age,
                                  now, offline)
    return ClusterBackups(api.cluster, storage, tuple(sorted(archives.values(), key=_archive_order)),
                          tuple(freshness), tuple(sorted(offline)), tuple(guests))


def _archive_order(archive: Archive) -> tuple[int, dt.datetime]:
    return archive.vmid or 0, archive.created or dt.datetime.min.replace(tzinfo=dt.UTC)


def list_backups(inventory: Inventory, api_for: ApiFactory, *, storage: str | None, now: dt.datetime,
                 clusters: Sequence[str] = ()) -> list[ClusterBackups]:
    """`chaton vm backups`: per cluster, its archives and the guests without a fresh one."""
    selected = select_clusters(inventory, clusters)
    if storage is None and not any(inventory.proxmox[name].vzdump for name in selected):
        raise UsageError("no vzdump storage: give --storage S or set proxmox.CLUSTER.vzdump.storage in the inventory")
    results = []
    for name in selected:
        try:
            results.append(cluster_backups(inventory, api_for(name), storage, now))
        except ProxmoxAuthError:
            raise
        except ChatonError as error:
            results.append(ClusterBackups(name, storage, error=error))
    return results


# ------------------------------------------------------------------------------------------- health
@dataclass(frozen=True)
class VmHealthReport:
    """Every guest of every cluster, as `chaton status` shows them; clusters that could not be read by name."""

    guests: tuple[GuestHealth, ...]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and all(guest.ok for guest in self.guests)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "guests": [guest.as_dict() for guest in self.guests], "errors": dict(self.errors)}


def vm_health(inventory: Inventory, api_for: ApiFactory, now: dt.datetime) -> VmHealthReport:
    """Plain data per guest for `chaton status`: running, onboot, locked, age of the last vzdump archive
    (when the cluster has vzdump settings), and its problems in words. Never raises for a cluster that
    cannot be read: its error is reported by cluster name."""
    guests: list[GuestHealth] = []
    errors: dict[str, str] = {}
    for name in inventory.proxmox:
        try:
            api = api_for(name)
            listing = list_cluster(inventory, api)
            backups = cluster_backups(inventory, api, None, now, state=listing.state,
                                      guests=[row.guest for row in listing.rows if row.guest is not None])
        except ChatonError as error:
            errors[name] = error.message
            continue
        by_vmid = {item.guest.ref.vmid: item for item in backups.freshness}
        settings = inventory.proxmox[name].vzdump
        for row in listing.rows:
            guests.append(assess_guest(row, listing.offline_nodes, by_vmid.get(row.vmid),
                                       settings.max_age_hours if settings else None))
    return VmHealthReport(tuple(guests), errors)
