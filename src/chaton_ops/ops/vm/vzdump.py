"""`chaton vm vzdump [HOST…|--all]`: one vzdump task per guest, nodes in parallel within a bound.

PVE's vzdump takes a node-wide lock, so the guests of one node are backed up one after another; the
nodes run side by side, at most `jobs` at once. `prune-backups` comes from the inventory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chaton_ops.core.inventory import Inventory, Vzdump
from chaton_ops.core.proxmox import Guest, vzdump_call
from chaton_ops.core.vm_plan import Change, GuestResult, change_for, select_vm_hosts
from chaton_ops.errors import ChatonError, ConnectError, ExitCode, ProxmoxAuthError, UsageError
from chaton_ops.ops.vm.changes import VmRun
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    JournalPort,
    JournalRun,
    apply_change,
    failed_result,
    journaled,
    read_cluster_state,
    read_guests,
    vm_hosts_by_vmid,
)


@dataclass(frozen=True)
class VzdumpOptions:
    storage: str | None = None
    mode: str | None = None
    jobs: int = 4


@dataclass(frozen=True)
class _Target:
    change: Change
    problem: str | None = None  # not sent: why
    unreachable: bool = False


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
                options: VzdumpOptions) -> tuple[list[_Target], dict[str, ChatonError]]:
    """One change per guest: the named inventory hosts, or with --all every guest that is not a template
    of every cluster (as PVE's own `vzdump --all`: a guest nobody wrote into the inventory still needs
    its backup). Guests on offline nodes are planned as failed, never sent."""
    if bool(hosts) == all_guests:
        raise UsageError("name the hosts to back up, or give --all")
    wanted = select_vm_hosts(inventory, hosts) if hosts else []
    clusters = list(dict.fromkeys(vm.cluster for vm in wanted)) if wanted else list(inventory.proxmox)
    targets: list[_Target] = []
    errors: dict[str, ChatonError] = {}
    for cluster in clusters:
        settings = settings_for(inventory, cluster, options.storage)
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
            chosen = [guest for guest in guests.values() if not guest.template]
        for guest in chosen:
            call = vzdump_call(guest.ref, settings, storage=options.storage, mode=options.mode)
            change = change_for(guest, names.get(guest.ref.vmid), "vzdump", call, settings.timeout)
            offline_node = guest.ref.node in offline
            targets.append(_Target(change, f"node {guest.ref.node} is offline" if offline_node else None,
                                   offline_node))
    return targets, errors


@dataclass(frozen=True)
class VzdumpReport:
    run: VmRun
    errors: dict[str, ChatonError]

    @property
    def exit_code(self) -> ExitCode:
        code = self.run.exit_code
        if code or not self.errors:
            return code
        # nothing failed among the guests reached, but a cluster could not be read at all
        return ExitCode.PARTIAL if self.run.results else next(iter(self.errors.values())).exit_code


def run_vzdump(inventory: Inventory, api_for: ApiFactory, hosts: Sequence[str], *, all_guests: bool,
               options: VzdumpOptions, dry_run: bool, journal: JournalPort | None,
               notify: Callable[[str], None] = lambda note: None,
               progress: Callable[[str], None] = lambda line: None) -> VzdumpReport:
    """Back up the guests; `notify` hears notes at once, `progress` a line when each guest starts and ends."""
    targets, errors = plan_vzdump(inventory, api_for, hosts, all_guests=all_guests, options=options)
    changes = tuple(target.change for target in targets)
    if dry_run:
        notes = tuple(f"{t.change.target}: {t.problem}, would not be sent" for t in targets if t.problem)
        for note in notes:
            notify(note)
        return VzdumpReport(VmRun("vm vzdump", changes, dry_run=True, notes=notes), errors)
    args = list(hosts) or ["--all"]
    args += [f"--storage={options.storage}"] if options.storage else []
    args += [f"--mode={options.mode}"] if options.mode else []
    with journaled(journal, "vm vzdump", args) as run:
        return _apply(api_for, targets, changes, errors, options, run, progress)


def _apply(api_for: ApiFactory, targets: list[_Target], changes: tuple[Change, ...], errors: dict[str, ChatonError],
           options: VzdumpOptions, run: JournalRun, progress: Callable[[str], None]) -> VzdumpReport:
    groups: dict[tuple[str, str], list[_Target]] = {}
    for target in targets:
        groups.setdefault((target.change.cluster, target.change.node), []).append(target)
    unreachable: set[str] = set()

    def back_up_node(group: list[_Target]) -> list[GuestResult]:
        results = []
        for target in group:
            change = target.change
            if target.problem or change.cluster in unreachable:
                problem = target.problem or f"not tried: the API of {change.cluster} could not be reached"
                with run.step(change.target, change.action, {"call": change.call.describe()}) as record:
                    record.update(status="failed", error=problem)
                results.append(failed_result(change, problem, unreachable=True))
                continue
            progress(f"{change.target}: vzdump on {change.node} …")
            try:
                result = apply_change(api_for(change.cluster), change, run)
            except ConnectError as error:  # the cluster's API is gone: its other guests are not tried
                unreachable.add(change.cluster)
                result = failed_result(change, error.message, unreachable=True)
            progress(f"{change.target}: vzdump {result.status} after {result.duration:.0f} s")
            results.append(result)
        return results

    workers = max(1, min(options.jobs, len(groups) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chaton-vzdump") as pool:
        per_node = list(pool.map(back_up_node, groups.values()))
    by_change = {id(result_change): result for group, results in zip(groups.values(), per_node, strict=True)
                 for result_change, result in zip((t.change for t in group), results, strict=True)}
    results = tuple(by_change[id(target.change)] for target in targets)
    report = VzdumpReport(VmRun("vm vzdump", changes, results, run_id=run.run_id), errors)
    run.finish_with(results, report.exit_code)
    return report
