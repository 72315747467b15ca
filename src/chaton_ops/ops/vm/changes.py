"""Changing use cases of `chaton vm`: onboot, snapshot before risky work, rollback, prune of snapshots.

Each one gathers facts, plans `Change`s (the API calls), stops there for --dry-run, refuses when the
cluster has lost quorum, asks `confirm` for destructive plans, then applies the changes one by one,
each checked just before it runs and read back after, every step in the journal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.ports import Proxmox
from chaton_ops.core.proxmox import (
    Guest,
    check_snapshot_name,
    delete_snapshot_call,
    parse_onboot,
    rollback_call,
    set_onboot_call,
    snapshot_call,
    start_call,
)
from chaton_ops.core.vm_plan import (
    Change,
    GuestResult,
    InventoryVm,
    OnbootCheck,
    PrunePlan,
    change_for,
    exit_code_for,
    inventory_vms,
    plan_onboot,
    plan_snapshot_prune,
    select_vm_hosts,
    snapshot_name,
)
from chaton_ops.errors import ChatonError, ExitCode, ProxmoxAuthError, UsageError
from chaton_ops.ops.vm.inspect import select_clusters
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    JournalPort,
    JournalRun,
    apply_change,
    failed_result,
    journaled,
    locate,
    read_cluster_state,
    read_config,
    read_guests,
    read_running,
    read_snapshots,
    require_quorum,
)

Confirm = Callable[[Sequence[Change]], bool]
Notify = Callable[[str], None]


def _quiet(note: str) -> None:
    """The default `notify`: notes are kept in the report only."""


class Notes(list[str]):
    """Notes for the report, each also told at once (a warning shown before a confirmation question)."""

    def __init__(self, notify: Notify) -> None:
        super().__init__()
        self.notify = notify

    def add(self, note: str) -> None:
        self.append(note)
        self.notify(note)


@dataclass(frozen=True)
class VmRun:
    """What a changing command planned, and (unless dry run or declined) what happened."""

    command: str
    changes: tuple[Change, ...]
    results: tuple[GuestResult, ...] = ()
    dry_run: bool = False
    declined: bool = False
    notes: tuple[str, ...] = ()
    run_id: int | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.declined else exit_code_for(self.results)


def _guest_of(inventory: Inventory, api_for: ApiFactory, host: str,
              notify: Notify) -> tuple[InventoryVm, Proxmox, Guest, Notes]:
    vm = select_vm_hosts(inventory, [host])[0]
    api = api_for(vm.cluster)
    guest, _ = locate(api, vm)
    notes = Notes(notify)
    if guest.ref.node != vm.node:
        notes.add(f"{host} runs on node {guest.ref.node}; the inventory says {vm.node} (migrated?)")
    return vm, api, guest, notes


# ------------------------------------------------------------------------------------------ onboot
@dataclass(frozen=True)
class OnbootReport:
    checks: tuple[OnbootCheck, ...]
    run: VmRun
    errors: dict[str, ChatonError] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every inventory guest starts with its node (after --fix); 1 when one would not or cannot be
        checked; 3/4 when some fixes failed; a cluster that could not be read gives its own code."""
        if self.run.declined:
            return ExitCode.FAILED
        if self.run.results and exit_code_for(self.run.results):
            return exit_code_for(self.run.results)
        fixed = {(r.cluster, r.vmid) for r in self.run.results if r.status == "ok"}
        if any(c.problem and (c.cluster, c.vmid) not in fixed for c in self.checks):
            return ExitCode.FAILED
        for error in self.errors.values():
            return error.exit_code
        return ExitCode.OK


def onboot(inventory: Inventory, api_for: ApiFactory, *, fix: bool, dry_run: bool, confirm: Confirm,
           journal: JournalPort | None) -> OnbootReport:
    """`chaton vm onboot [--fix]`: the inventory's guests that would not start with their node, and with
    --fix `onboot=1` on exactly those (each config re-read just before and after its change)."""
    checks: list[OnbootCheck] = []
    errors: dict[str, ChatonError] = {}
    apis: dict[str, Proxmox] = {}
    for cluster in select_clusters(inventory):
        vms = inventory_vms(inventory, cluster)
        if not vms:
            continue
        try:
            api = apis[cluster] = api_for(cluster)
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
    changes = tuple(change_for(c.guest, c.host, "set onboot=1", c.call, inventory.proxmox[c.cluster].task_timeout)
                    for c in checks if c.call is not None and c.guest is not None)
    run = VmRun("vm onboot", changes, dry_run=dry_run)
    if not fix or dry_run or not changes:
        return OnbootReport(tuple(checks), run, errors)
    for cluster in {change.cluster for change in changes}:
        require_quorum(apis[cluster])
    if not confirm(changes):
        return OnbootReport(tuple(checks), VmRun("vm onboot", changes, declined=True), errors)
    with journaled(journal, "vm onboot", ["--fix"]) as journal_run:
        results = [_fix_onboot(apis[change.cluster], change, journal_run) for change in changes]
        journal_run.finish_with(results)
    return OnbootReport(tuple(checks), VmRun("vm onboot", changes, tuple(results), run_id=journal_run.run_id), errors)


def _fix_onboot(api: Proxmox, change: Change, run: JournalRun) -> GuestResult:
    ref = change.ref
    try:
        config = read_config(api, ref)
    except ProxmoxAuthError:
        raise
    except ChatonError as error:
        return failed_result(change, error.message, unreachable=error.exit_code == ExitCode.UNREACHABLE)
    if parse_onboot(config):
        with run.step(change.target, change.action, {"call": change.call.describe()}) as record:
            record.update(status="skipped", reason="onboot was set meanwhile")
        return GuestResult(change.cluster, change.vmid, change.name, change.host, change.node, change.action, "ok",
                           "already set (changed meanwhile)")
    result = apply_change(api, change.with_call(set_onboot_call(ref, config.get("digest"))), run)
    if result.status == "ok" and not parse_onboot(read_config(api, ref)):
        return failed_result(change, "PVE accepted the change, but the config still reads onboot=0")
    return result


# ---------------------------------------------------------------------------------------- snapshot
def take_snapshot(inventory: Inventory, api_for: ApiFactory, host: str, *, name: str | None, vmstate: bool,
                  now: dt.datetime, dry_run: bool, journal: JournalPort | None, notify: Notify = _quiet) -> VmRun:
    """`chaton vm snapshot HOST`: a snapshot before risky work, named chaton-YYYY-MM-DD-HHMM by default."""
    vm, api, guest, notes = _guest_of(inventory, api_for, host, notify)
    name = check_snapshot_name(name or snapshot_name(now))
    if vmstate and guest.ref.kind == "lxc":
        raise UsageError(f"--vmstate: {host} is a container, it has no RAM state to save")
    existing = [s.name for s in read_snapshots(api, guest.ref)]
    if name in existing:
        raise UsageError(f"{host} already has a snapshot named {name}; give another one with --name")
    description = "taken by chaton"
    change = change_for(guest, vm.host, f"snapshot {name}",
                        snapshot_call(guest.ref, name, vmstate=vmstate, description=description),
                        inventory.proxmox[vm.cluster].task_timeout)
    if dry_run:
        return VmRun("vm snapshot", (change,), dry_run=True, notes=tuple(notes))
    require_quorum(api)
    with journaled(journal, "vm snapshot", [host, name]) as run:
        result = apply_change(api, change, run)
        if result.status == "ok" and name not in {s.name for s in read_snapshots(api, guest.ref)}:
            result = failed_result(change, "PVE reported success, but the snapshot is not listed")
        run.finish_with([result])
    return VmRun("vm snapshot", (change,), (result,), notes=tuple(notes), run_id=run.run_id)


# ---------------------------------------------------------------------------------------- rollback
@dataclass(frozen=True)
class RollbackReport:
    run: VmRun
    was_running: bool
    running_after: bool | None = None


def rollback(inventory: Inventory, api_for: ApiFactory, host: str, *, name: str, dry_run: bool, confirm: Confirm,
             journal: JournalPort | None, notify: Notify = _quiet) -> RollbackReport:
    """`chaton vm rollback HOST --name N`: back to the snapshot; a guest that was running runs again after
    (started only if the rollback left it stopped: a snapshot with RAM state resumes by itself)."""
    vm, api, guest, notes = _guest_of(inventory, api_for, host, notify)
    name = check_snapshot_name(name)
    names = [s.name for s in read_snapshots(api, guest.ref)]
    if name not in names:
        raise UsageError(f"{host} has no snapshot named {name} (its snapshots: {', '.join(names) or 'none'})")
    was_running = read_running(api, guest.ref)
    timeout = inventory.proxmox[vm.cluster].task_timeout
    changes = [change_for(guest, vm.host, f"rollback to {name}", rollback_call(guest.ref, name), timeout)]
    if was_running:
        changes.append(change_for(guest, vm.host, "start", start_call(guest.ref), timeout,
                                  condition="only if not running after the rollback"))
    if dry_run:
        return RollbackReport(VmRun("vm rollback", tuple(changes), dry_run=True, notes=tuple(notes)), was_running)
    require_quorum(api)
    if not confirm(changes):
        return RollbackReport(VmRun("vm rollback", tuple(changes), declined=True, notes=tuple(notes)), was_running)
    with journaled(journal, "vm rollback", [host, "--name", name]) as run:
        results = [apply_change(api, changes[0], run)]
        if results[0].status == "ok" and was_running:
            if read_running(api, guest.ref):
                notes.add(f"{host} is running again (the snapshot holds its RAM state): not started")
                with run.step(changes[1].target, "start", {"call": changes[1].call.describe()}) as record:
                    record.update(status="skipped", reason="running after the rollback")
            else:
                results.append(apply_change(api, changes[1], run))
        running_after = read_running(api, guest.ref)
        run.finish_with(results)
    return RollbackReport(VmRun("vm rollback", tuple(changes), tuple(results), notes=tuple(notes), run_id=run.run_id),
                          was_running, running_after)


# ------------------------------------------------------------------------------------------- prune
@dataclass(frozen=True)
class PruneReport:
    run: VmRun
    plan: PrunePlan


def prune_snapshots(inventory: Inventory, api_for: ApiFactory, host: str, *, keep: int | None,
                    older_than_days: float | None, now: dt.datetime, dry_run: bool, confirm: Confirm,
                    journal: JournalPort | None, notify: Notify = _quiet) -> PruneReport:
    """`chaton vm snapshot --prune HOST --keep N|--older-than DAYS`: remove chaton's own dated snapshots
    beyond the policy; snapshots with other names are never touched."""
    vm, api, guest, notes = _guest_of(inventory, api_for, host, notify)
    plan = plan_snapshot_prune(read_snapshots(api, guest.ref), keep=keep, older_than_days=older_than_days, now=now)
    timeout = inventory.proxmox[vm.cluster].task_timeout
    changes = tuple(change_for(guest, vm.host, f"delete snapshot {s.name}", delete_snapshot_call(guest.ref, s.name),
                               timeout) for s in plan.delete)
    if dry_run or not changes:
        return PruneReport(VmRun("vm snapshot --prune", changes, dry_run=dry_run, notes=tuple(notes)), plan)
    require_quorum(api)
    if not confirm(changes):
        return PruneReport(VmRun("vm snapshot --prune", changes, declined=True, notes=tuple(notes)), plan)
    args = [host] + (["--keep", str(keep)] if keep is not None else []) + \
        (["--older-than", f"{older_than_days:g}"] if older_than_days is not None else [])
    with journaled(journal, "vm snapshot --prune", args) as run:
        results = [apply_change(api, change, run) for change in changes]
        remaining = {s.name for s in read_snapshots(api, guest.ref)}
        results = [failed_result(change, "PVE reported success, but the snapshot is still listed")
                   if result.status == "ok" and snapshot.name in remaining else result
                   for change, snapshot, result in zip(changes, plan.delete, results, strict=True)]
        run.finish_with(results)
    return PruneReport(VmRun("vm snapshot --prune", changes, tuple(results), notes=tuple(notes), run_id=run.run_id),
                       plan)
