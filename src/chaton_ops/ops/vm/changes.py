"""Planning the changing commands of `chaton vm`: onboot --fix, snapshot, rollback, prune of snapshots.

Each one gathers facts from the cluster and plans a runbook (core/vm_plan.py): one step per change on
a guest, with its API call, or a no-op with its reason. ops/vm/run.py confirms and applies it on the
engine; ops/vm/actions.py re-checks each step just before it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.ports import Proxmox
from chaton_ops.core.proxmox import (
    Guest,
    Snapshot,
    check_snapshot_name,
    delete_snapshot_call,
    rollback_call,
    snapshot_call,
    start_call,
)
from chaton_ops.core.runbook import Plan
from chaton_ops.core.vm_plan import (
    Change,
    InventoryVm,
    OnbootCheck,
    PrunePlan,
    change_for,
    inventory_vms,
    onboot_runbook,
    plan_onboot,
    plan_snapshot_prune,
    prune_runbook,
    rollback_runbook,
    select_vm_hosts,
    snapshot_name,
    snapshot_runbook,
)
from chaton_ops.errors import ChatonError, ProxmoxAuthError, UsageError
from chaton_ops.ops.vm.inspect import select_clusters
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    locate,
    read_cluster_state,
    read_config,
    read_guests,
    read_running,
    read_snapshots,
)

Notify = Callable[[str], None]


@dataclass(frozen=True)
class PreparedRun:
    """A planned `chaton vm` run: its runbook, the change of each step (no-ops too), the journal's args,
    notes for the person, the clusters it changes (their quorum is checked before the run)."""

    plan: Plan
    changes: Mapping[str, Change]
    args: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()

    @property
    def sent(self) -> tuple[Change, ...]:
        """The changes the run sends (every step that is not a planned no-op)."""
        return tuple(self.changes[step.key] for step in self.plan.steps if step.noop is None)


def _prepared(plan: Plan, changes: Sequence[Change], args: Sequence[str], notes: Sequence[str] = ()) -> PreparedRun:
    by_key = {step.key: change for step, change in zip(plan.steps, changes, strict=True)}
    return PreparedRun(plan, by_key, tuple(args), tuple(notes),
                       tuple(dict.fromkeys(change.cluster for change in changes)))


def guest_of(inventory: Inventory, api_for: ApiFactory, host: str,
             notify: Notify) -> tuple[InventoryVm, Proxmox, Guest, list[str]]:
    """The inventory host's guest as the cluster has it now; a note when it runs on another node."""
    vm = select_vm_hosts(inventory, [host])[0]
    api = api_for(vm.cluster)
    guest, _ = locate(api, vm)
    notes = []
    if guest.ref.node != vm.node:
        notes.append(f"{host} runs on node {guest.ref.node}; the inventory says {vm.node} (migrated?)")
        notify(notes[-1])
    return vm, api, guest, notes


# ------------------------------------------------------------------------------------------ onboot
@dataclass(frozen=True)
class OnbootFacts:
    checks: tuple[OnbootCheck, ...]
    errors: dict[str, ChatonError] = field(default_factory=dict)  # clusters that could not be read


def prepare_onboot(inventory: Inventory, api_for: ApiFactory) -> tuple[OnbootFacts, PreparedRun]:
    """The inventory's guests that would not start with their node (a check per guest, with its reason),
    and the runbook that sets `onboot=1` on exactly those."""
    checks: list[OnbootCheck] = []
    errors: dict[str, ChatonError] = {}
    for cluster in select_clusters(inventory):
        vms = inventory_vms(inventory, cluster)
        if not vms:
            continue
        try:
            api = api_for(cluster)
            guests = read_guests(api)
            offline = set(read_cluster_state(api).offline_nodes)
            wanted = {vm.vmid for vm in vms}
            configs = {g.ref.vmid: (None if g.ref.node in offline else read_config(api, g.ref))
                       for g in guests if g.ref.vmid in wanted}
        except ProxmoxAuthError:
            raise
        except ChatonError as error:
            errors[cluster] = error
            continue
        checks += plan_onboot(vms, guests, configs)
    changes = [change_for(c.guest, c.host, "set onboot=1", c.call, inventory.proxmox[c.cluster].task_timeout)
               for c in checks if c.call is not None and c.guest is not None]
    return OnbootFacts(tuple(checks), errors), _prepared(onboot_runbook(changes), changes, ["--fix"])


# ---------------------------------------------------------------------------------------- snapshot
def prepare_snapshot(inventory: Inventory, api_for: ApiFactory, host: str, *, name: str | None, vmstate: bool,
                     now: dt.datetime, notify: Notify) -> PreparedRun:
    """A snapshot before risky work, named chaton-YYYY-MM-DD-HHMM by default."""
    vm, api, guest, notes = guest_of(inventory, api_for, host, notify)
    name = check_snapshot_name(name or snapshot_name(now))
    if vmstate and guest.ref.kind == "lxc":
        raise UsageError(f"--vmstate: {host} is a container, it has no RAM state to save")
    existing = [s.name for s in read_snapshots(api, guest.ref)]
    if name in existing:
        raise UsageError(f"{host} already has a snapshot named {name}; give another one with --name")
    change = change_for(guest, vm.host, f"snapshot {name}",
                        snapshot_call(guest.ref, name, vmstate=vmstate, description="taken by chaton"),
                        inventory.proxmox[vm.cluster].task_timeout)
    return _prepared(snapshot_runbook(change, name), [change], [host, name], notes)


# ---------------------------------------------------------------------------------------- rollback
@dataclass(frozen=True)
class RollbackFacts:
    host: str
    cluster: str
    guest: Guest
    was_running: bool


def prepare_rollback(inventory: Inventory, api_for: ApiFactory, host: str, *, name: str,
                     notify: Notify) -> tuple[RollbackFacts, PreparedRun]:
    """Back to the snapshot; a guest that was running runs again after (started only if the rollback
    left it stopped: a snapshot with RAM state resumes by itself)."""
    vm, api, guest, notes = guest_of(inventory, api_for, host, notify)
    name = check_snapshot_name(name)
    names = [s.name for s in read_snapshots(api, guest.ref)]
    if name not in names:
        raise UsageError(f"{host} has no snapshot named {name} (its snapshots: {', '.join(names) or 'none'})")
    was_running = read_running(api, guest.ref)
    timeout = inventory.proxmox[vm.cluster].task_timeout
    changes = [change_for(guest, vm.host, f"rollback to {name}", rollback_call(guest.ref, name), timeout),
               change_for(guest, vm.host, "start", start_call(guest.ref), timeout,
                          condition="only if not running after the rollback")]
    plan = rollback_runbook(changes[0], changes[1], name, was_running=was_running)
    return (RollbackFacts(host, vm.cluster, guest, was_running),
            _prepared(plan, changes, [host, "--name", name], notes))


# ------------------------------------------------------------------------------------------- prune
def prepare_prune(inventory: Inventory, api_for: ApiFactory, host: str, *, keep: int | None,
                  older_than_days: float | None, now: dt.datetime, notify: Notify) -> tuple[PrunePlan, PreparedRun]:
    """Chaton's own dated snapshots beyond the policy; snapshots with other names are never touched."""
    vm, api, guest, notes = guest_of(inventory, api_for, host, notify)
    pruning = plan_snapshot_prune(read_snapshots(api, guest.ref), keep=keep, older_than_days=older_than_days, now=now)
    timeout = inventory.proxmox[vm.cluster].task_timeout

    def deleting(snapshots: Sequence[Snapshot]) -> list[tuple[Change, str]]:
        return [(change_for(guest, vm.host, f"delete snapshot {s.name}", delete_snapshot_call(guest.ref, s.name),
                            timeout), s.name) for s in snapshots]

    delete, kept, untouched = deleting(pruning.delete), deleting(pruning.keep), deleting(pruning.untouched)
    plan = prune_runbook(delete, kept, untouched)
    args = [host] + (["--keep", str(keep)] if keep is not None else []) + \
        (["--older-than", f"{older_than_days:g}"] if older_than_days is not None else [])
    return pruning, _prepared(plan, [change for change, _ in (*delete, *kept, *untouched)], args, notes)
