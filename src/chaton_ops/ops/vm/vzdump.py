"""Planning `chaton vm vzdump [HOST…|--all]`: one vzdump task per guest, nodes in parallel within a bound.

PVE's vzdump takes a node-wide lock, so the guests of one node are backed up one after another (a lane
per node); the nodes run side by side, at most `jobs` at once. `prune-backups` comes from the inventory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaton_ops.core.inventory import Inventory, Vzdump
from chaton_ops.core.proxmox import Guest, vzdump_call
from chaton_ops.core.vm_plan import Change, change_for, select_vm_hosts, vzdump_runbook
from chaton_ops.errors import ChatonError, ProxmoxAuthError, UsageError
from chaton_ops.ops.vm.changes import PreparedRun
from chaton_ops.ops.vm.runner import ApiFactory, read_cluster_state, read_guests, vm_hosts_by_vmid


@dataclass(frozen=True)
class VzdumpChoices:
    """What the command line chose: a storage and a mode on top of each cluster's vzdump settings, and how
    many guests are backed up at once (not the inventory's settings: those are `Vzdump`)."""

    storage: str | None = None
    mode: str | None = None
    jobs: int = 4


def settings_for(inventory: Inventory, cluster: str, storage: str | None) -> Vzdump:
    """The cluster's vzdump settings, the command line's storage on top; a usage error when there is none."""
    settings = inventory.proxmox[cluster].vzdump
    if settings is None:
        if storage is None:
            raise UsageError(f"no vzdump storage for cluster {cluster}: give --storage S or set "
                             f"proxmox.{cluster}.vzdump.storage in the inventory")
        return Vzdump(storage=storage)
    return settings


def plan_vzdump(inventory: Inventory, api_for: ApiFactory, hosts: Sequence[str], *, all_guests: bool,
                choices: VzdumpChoices) -> tuple[PreparedRun, dict[str, ChatonError]]:
    """One step per guest: the named inventory hosts, or with --all every guest of every cluster (as
    PVE's own `vzdump --all`: a guest nobody wrote into the inventory still needs its backup; templates
    are no-ops). Guests on offline nodes are planned to be refused, never sent. Also the clusters that
    could not be read."""
    if bool(hosts) == all_guests:
        raise UsageError("name the hosts to back up, or give --all")
    wanted = select_vm_hosts(inventory, hosts) if hosts else []
    clusters = list(dict.fromkeys(vm.cluster for vm in wanted)) if wanted else list(inventory.proxmox)
    planned: list[tuple[Change, str | None]] = []
    templates: list[Change] = []
    errors: dict[str, ChatonError] = {}
    for cluster in clusters:
        settings = settings_for(inventory, cluster, choices.storage)
        try:
            api = api_for(cluster)
            guests = {guest.ref.vmid: guest for guest in read_guests(api)}
            offline = set(read_cluster_state(api).offline_nodes)
        except ProxmoxAuthError:
            raise
        except ChatonError as error:
            errors[cluster] = error
            continue
        names = vm_hosts_by_vmid(inventory, cluster)
        chosen: list[Guest] = []
        for vm in (vm for vm in wanted if vm.cluster == cluster):
            if vm.vmid not in guests:
                raise UsageError(f"host {vm.host}: cluster {cluster} has no guest {vm.vmid} (see `chaton vm list`)")
            chosen.append(guests[vm.vmid])
        if not wanted:
            chosen = list(guests.values())
        for guest in chosen:
            call = vzdump_call(guest.ref, settings, storage=choices.storage, mode=choices.mode)
            change = change_for(guest, names.get(guest.ref.vmid), "vzdump", call, settings.timeout)
            if guest.template and not wanted:
                templates.append(change)
            else:
                planned.append((change, f"node {guest.ref.node} is offline" if guest.ref.node in offline else None))
    plan = vzdump_runbook(planned, templates)
    changes = [change for change, _ in planned] + templates
    args = list(hosts) or ["--all"]
    args += [f"--storage={choices.storage}"] if choices.storage else []
    args += [f"--mode={choices.mode}"] if choices.mode else []
    by_key = {step.key: change for step, change in zip(plan.steps, changes, strict=True)}
    return PreparedRun(plan, by_key, tuple(args), clusters=tuple(clusters)), errors
