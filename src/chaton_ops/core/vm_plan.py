"""Pure planning for `chaton vm`: how the clusters relate to the inventory (drift), which guests would not
start with their node, which snapshots a prune removes, which guests lack a fresh vzdump archive.

Facts in (parsed API answers), frozen data out; nothing here talks to a cluster.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.proxmox import ApiCall, Archive, Guest, GuestRef, Snapshot, parse_onboot, set_onboot_call
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.errors import ExitCode, UsageError, exit_code_of

SNAPSHOT_PREFIX = "chaton-"
# Only snapshots chaton named itself are ever pruned: chaton-YYYY-MM-DD-HHMM (UTC).
DATED_SNAPSHOT_RE = re.compile(r"^chaton-\d{4}-\d\d-\d\d-\d{4}$")

Relation = Literal["inventory", "migrated", "not-in-inventory", "missing", "template"]


def snapshot_name(now: dt.datetime) -> str:
    """The default snapshot name: chaton-YYYY-MM-DD-HHMM, in UTC like the journal."""
    return f"{SNAPSHOT_PREFIX}{now.astimezone(dt.UTC):%Y-%m-%d-%H%M}"


@dataclass(frozen=True)
class InventoryVm:
    """A host of the inventory that is a Proxmox guest."""

    host: str
    cluster: str
    node: str
    vmid: int


def inventory_vms(inventory: Inventory, cluster: str | None = None) -> list[InventoryVm]:
    """The inventory's guests (of one cluster, or of all), in inventory order."""
    return [InventoryVm(name, host.vm.proxmox, host.vm.node, host.vm.vmid)
            for name, host in inventory.hosts.items()
            if host.vm is not None and (cluster is None or host.vm.proxmox == cluster)]


def select_vm_hosts(inventory: Inventory, names: Sequence[str]) -> list[InventoryVm]:
    """The named inventory hosts, each a Proxmox guest; a usage error names what is wrong."""
    vms = {vm.host: vm for vm in inventory_vms(inventory)}
    known = ", ".join(sorted(vms)) or "none"
    for name in names:
        if name not in inventory.hosts:
            raise UsageError(f"unknown host '{name}' (Proxmox guests of the inventory: {known})")
        if name not in vms:
            raise UsageError(f"host '{name}' is not a Proxmox guest: it has no `vm:` in the inventory "
                             f"(Proxmox guests: {known})")
    return [vms[name] for name in dict.fromkeys(names)]


# ----------------------------------------------------------------------------------------- drift
@dataclass(frozen=True)
class GuestRow:
    """One line of `chaton vm list`: a guest of the cluster, an inventory VM, or both."""

    cluster: str
    vmid: int
    relation: Relation
    guest: Guest | None = None
    host: str | None = None
    inventory_node: str | None = None
    onboot: bool | None = None

    @property
    def drift(self) -> bool:
        return self.relation in ("migrated", "not-in-inventory", "missing")

    def describe(self) -> str:
        """The drift in words (empty when there is none)."""
        guest = f"{self.vmid} {self.guest.name}".strip() if self.guest else str(self.vmid)
        if self.relation == "migrated" and self.guest:
            return f"{guest} runs on {self.guest.ref.node}; host {self.host} in the inventory says {self.inventory_node}"
        if self.relation == "missing":
            return f"host {self.host} ({self.vmid} on {self.inventory_node}) has no guest on cluster {self.cluster}"
        if self.relation == "not-in-inventory":
            return f"{guest} is not in the inventory"
        return ""


def relate_guests(inventory: Inventory, cluster: str, guests: Sequence[Guest],
                  onboot: Mapping[int, bool | None] | None = None) -> list[GuestRow]:
    """Every guest of the cluster with the inventory host describing it, then the inventory's VMs the
    cluster does not have. Drift both ways: guests no host describes, VMs missing or on another node."""
    onboot = onboot or {}
    described = {vm.vmid: vm for vm in inventory_vms(inventory, cluster)}
    rows = []
    for guest in guests:
        vm = described.get(guest.ref.vmid)
        relation: Relation
        if vm is None:
            relation = "template" if guest.template else "not-in-inventory"
        else:
            relation = "inventory" if vm.node == guest.ref.node else "migrated"
        rows.append(GuestRow(cluster, guest.ref.vmid, relation, guest, vm.host if vm else None,
                             vm.node if vm else None, onboot.get(guest.ref.vmid)))
    present = {guest.ref.vmid for guest in guests}
    rows += [GuestRow(cluster, vm.vmid, "missing", None, vm.host, vm.node)
             for vm in described.values() if vm.vmid not in present]
    return rows


# ---------------------------------------------------------------------------------------- onboot
@dataclass(frozen=True)
class OnbootCheck:
    """Whether an inventory guest starts with its node, and the change that makes it do so."""

    host: str
    cluster: str
    vmid: int
    guest: Guest | None
    onboot: bool | None  # None: unknown (guest missing, node offline)
    reason: str
    call: ApiCall | None = None

    @property
    def problem(self) -> bool:
        """It would not start with its node, or nobody can tell."""
        return self.call is not None or (self.onboot is None and not (self.guest and self.guest.template))


def plan_onboot(vms: Sequence[InventoryVm], guests: Sequence[Guest],
                configs: Mapping[int, Mapping[str, Any] | None]) -> list[OnbootCheck]:
    """For each inventory VM: starts with its node, or `PUT …/config onboot=1` (with the config's digest).
    `configs[vmid]` is the guest's config, None when it could not be read (its node is offline)."""
    by_vmid = {guest.ref.vmid: guest for guest in guests}
    checks = []
    for vm in vms:
        guest = by_vmid.get(vm.vmid)
        if guest is None:
            checks.append(OnbootCheck(vm.host, vm.cluster, vm.vmid, None, None,
                                      f"no guest {vm.vmid} on cluster {vm.cluster}"))
            continue
        config = configs.get(vm.vmid)
        if config is None:
            checks.append(OnbootCheck(vm.host, vm.cluster, vm.vmid, guest, None,
                                      f"node {guest.ref.node} is offline: onboot unknown"))
            continue
        onboot = parse_onboot(config)
        if guest.template:
            checks.append(OnbootCheck(vm.host, vm.cluster, vm.vmid, guest, onboot, "a template is never started"))
        elif onboot:
            checks.append(OnbootCheck(vm.host, vm.cluster, vm.vmid, guest, True, "starts with its node"))
        else:
            digest = config.get("digest")
            checks.append(OnbootCheck(vm.host, vm.cluster, vm.vmid, guest, False, "would not start with its node",
                                      set_onboot_call(guest.ref, str(digest) if digest else None)))
    return checks


# ------------------------------------------------------------------------------------ snapshots
@dataclass(frozen=True)
class PrunePlan:
    keep: tuple[Snapshot, ...]
    delete: tuple[Snapshot, ...]
    untouched: tuple[Snapshot, ...]  # not named by chaton: never pruned


def plan_snapshot_prune(snapshots: Sequence[Snapshot], *, keep: int | None, older_than_days: float | None,
                        now: dt.datetime) -> PrunePlan:
    """Which of chaton's dated snapshots go. `keep`: all but the N newest; `older_than_days`: those taken
    before now - DAYS; both: only those both rules remove. Snapshots with other names are never touched."""
    if keep is None and older_than_days is None:
        raise UsageError("say what to keep: --keep N, --older-than DAYS, or both")
    ours = sorted((s for s in snapshots if DATED_SNAPSHOT_RE.match(s.name)),
                  key=lambda s: (s.taken or dt.datetime.min.replace(tzinfo=dt.UTC), s.name), reverse=True)
    others = tuple(s for s in snapshots if not DATED_SNAPSHOT_RE.match(s.name))
    limit = now - dt.timedelta(days=older_than_days) if older_than_days is not None else None
    doomed = []
    for index, snapshot in enumerate(ours):
        beyond_keep = keep is None or index >= keep
        old_enough = limit is None or (snapshot.taken is not None and snapshot.taken < limit)
        if beyond_keep and old_enough:
            doomed.append(snapshot)
    kept = tuple(reversed([s for s in ours if s not in doomed]))
    return PrunePlan(kept, tuple(reversed(doomed)), others)


# ------------------------------------------------------------------------------------- archives
@dataclass(frozen=True)
class ArchiveFreshness:
    """A guest's newest vzdump archive against the age its schedule allows."""

    guest: Guest
    host: str | None
    newest: Archive | None
    age_hours: float | None
    max_age_hours: float
    known: bool = True  # False: the archives of its node could not be listed

    @property
    def stale(self) -> bool:
        return self.known and (self.age_hours is None or self.age_hours > self.max_age_hours)

    def describe(self) -> str:
        if not self.known:
            return f"unknown: node {self.guest.ref.node} is offline"
        if self.newest is None:
            return "no archive"
        if self.stale:
            return f"no archive newer than {format_hours(self.max_age_hours)} (newest {format_hours(self.age_hours)} old)"
        return "ok"


def archive_freshness(guests: Iterable[Guest], archives: Sequence[Archive], hosts: Mapping[int, str],
                      max_age_hours: float, now: dt.datetime, unknown_nodes: Iterable[str] = ()) -> list[ArchiveFreshness]:
    """Per non-template guest: its newest archive and whether it is older than `max_age_hours`."""
    unknown = set(unknown_nodes)
    newest: dict[int, Archive] = {}
    for archive in archives:
        if archive.vmid is None or archive.created is None:
            continue
        best = newest.get(archive.vmid)
        if best is None or (best.created is not None and archive.created > best.created):
            newest[archive.vmid] = archive
    result = []
    for guest in guests:
        if guest.template:
            continue
        found = newest.get(guest.ref.vmid)
        age = (now - found.created).total_seconds() / 3600 if found and found.created else None
        known = found is not None or guest.ref.node not in unknown
        result.append(ArchiveFreshness(guest, hosts.get(guest.ref.vmid), found, age, max_age_hours, known))
    return result


# --------------------------------------------------------------------------------------- results
Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class GuestResult:
    """How one change on one guest ended (a vzdump, a snapshot, a rollback, an onboot fix)."""

    cluster: str
    vmid: int
    name: str
    host: str | None
    node: str
    action: str
    status: Status
    message: str = ""
    duration: float = 0.0
    upid: str | None = None
    log_tail: tuple[str, ...] = ()
    unreachable: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["log_tail"] = list(self.log_tail)
        return data


def exit_code_for(results: Sequence[GuestResult]) -> ExitCode:
    """The policy of errors.EXIT_CODES: 0 all ok (or nothing to do) · 1 all failed · 3 some failed ·
    4 all failed because unreachable."""
    return exit_code_of("ok" if result.status != "failed" else "unreachable" if result.unreachable else "failed"
                        for result in results)


# ------------------------------------------------------------------------------------ formatting
def format_compact(hours: float | None) -> str:
    """19d3h, 5h12m, 45m: a duration in a narrow column."""
    if hours is None:
        return "-"
    minutes = int(round(hours * 60))
    days, minutes = divmod(minutes, 24 * 60)
    if days:
        return f"{days}d{minutes // 60}h" if minutes // 60 else f"{days}d"
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def format_hours(hours: float | None) -> str:
    """3 h, 2 d 4 h, 45 min: an age at a glance."""
    if hours is None:
        return "-"
    minutes = int(round(hours * 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes < 6 * 60 and minutes % 60 else "")
    days, rest = divmod(minutes // 60, 24)
    return f"{days} d" + (f" {rest} h" if rest else "")


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# ---------------------------------------------------------------------------------------- changes
@dataclass(frozen=True)
class Change:
    """One planned change on one guest: the API call it takes, shown by --dry-run and journaled."""

    ref: GuestRef
    name: str
    host: str | None
    action: str
    call: ApiCall
    timeout: float  # how long its task may run
    condition: str | None = None  # applied only when this holds at that point (e.g. after a rollback)

    @property
    def cluster(self) -> str:
        return self.ref.cluster

    @property
    def vmid(self) -> int:
        return self.ref.vmid

    @property
    def node(self) -> str:
        return self.ref.node

    @property
    def target(self) -> str:
        return f"{self.host or self.name or self.vmid} ({self.cluster}/{self.vmid})"

    def with_call(self, call: ApiCall) -> Change:
        return Change(self.ref, self.name, self.host, self.action, call, self.timeout, self.condition)

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "vmid": self.vmid, "name": self.name, "host": self.host,
                "node": self.node, "action": self.action, "call": self.call.as_dict(), "condition": self.condition}


def change_for(guest: Guest, host: str | None, action: str, call: ApiCall, timeout: float,
               condition: str | None = None) -> Change:
    return Change(guest.ref, guest.name, host, action, call, timeout, condition)


# ---------------------------------------------------------------------------------------- runbooks
# The kinds of change, each an action of the runbook engine (ops/vm/actions.py).
StepKind = Literal["onboot", "snapshot", "delete-snapshot", "rollback", "start", "vzdump"]


def step_key(kind: StepKind, change: Change, subject: str = "") -> str:
    """A stable key: vm-snapshot:hutte/103@pve1:before-work, vm-vzdump:hutte/101@pve1."""
    key = f"vm-{kind}:{change.cluster}/{change.vmid}@{change.node}"
    return f"{key}:{subject}" if subject else key


def vm_step(kind: StepKind, change: Change, *, subject: str = "", noop: str | None = None,
            problem: str | None = None, lane: str | None = None, needs: tuple[str, ...] = (),
            independent: bool = False) -> PlannedStep:
    """One change on one guest as a runbook step. By default the steps of a guest share a lane (one after
    another, a failure skips the rest); `problem`: known before the run (its node offline), refused
    without a call; `noop`: planned not to run, with the reason."""
    inputs: dict[str, Any] = {**change.as_dict(), "request": change.call.describe(), "timeout": change.timeout}
    if subject:
        inputs["subject"] = subject
    if problem is not None:
        inputs["problem"] = problem
    return PlannedStep(key=step_key(kind, change, subject), action=f"vm-{kind}",
                       title=f"{change.target}: {change.action}", host=change.node, target=change.target,
                       lane=lane or f"guest:{change.cluster}/{change.vmid}", needs=needs, inputs=inputs,
                       noop=noop, independent=independent)


def onboot_runbook(changes: Sequence[Change]) -> Plan:
    """`vm onboot --fix`: one step per guest that would not start with its node (the others are the
    checks' rows, each with its reason); a lane per guest."""
    return Plan("vm onboot", tuple(vm_step("onboot", change) for change in changes))


def snapshot_runbook(change: Change, name: str) -> Plan:
    return Plan("vm snapshot", (vm_step("snapshot", change, subject=name),), {"name": name})


def rollback_runbook(rollback: Change, start: Change, name: str, *, was_running: bool) -> Plan:
    """The rollback, then the start of a guest that was running (only if the rollback left it stopped:
    checked just before); a guest that was stopped stays so (a no-op)."""
    first = vm_step("rollback", rollback, subject=name)
    then = vm_step("start", start, needs=(first.key,),
                   noop=None if was_running else "stopped before the rollback, it stays stopped")
    return Plan("vm rollback", (first, then), {"name": name})


def prune_runbook(delete: Sequence[tuple[Change, str]], kept: Sequence[tuple[Change, str]],
                  untouched: Sequence[tuple[Change, str]]) -> Plan:
    """One delete per snapshot beyond the policy, each on its own (a failed one does not stop the next);
    the snapshots kept and those chaton did not name, as no-ops with their reason."""
    steps = [vm_step("delete-snapshot", change, subject=name, independent=True) for change, name in delete]
    steps += [vm_step("delete-snapshot", change, subject=name, noop="kept by the policy") for change, name in kept]
    steps += [vm_step("delete-snapshot", change, subject=name, noop="not named by chaton, never pruned")
              for change, name in untouched]
    return Plan("vm snapshot --prune", tuple(steps))


def vzdump_runbook(changes: Sequence[tuple[Change, str | None]], templates: Sequence[Change] = ()) -> Plan:
    """One vzdump per guest. PVE's vzdump takes a node-wide lock: the guests of a node share a lane (one
    after another; a failed one does not stop the next), nodes run side by side up to the run's jobs.
    A guest whose node is offline is refused without a call; templates are no-ops (as PVE's --all)."""
    steps = [vm_step("vzdump", change, problem=problem, lane=f"node:{change.cluster}/{change.node}",
                     independent=True) for change, problem in changes]
    steps += [vm_step("vzdump", change, lane=f"node:{change.cluster}/{change.node}",
                      noop="a template is never backed up (as PVE's --all)") for change in templates]
    return Plan("vm vzdump", tuple(steps))
