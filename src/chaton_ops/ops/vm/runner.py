"""Reading facts from a cluster, and applying one planned change: send the call, await its task with a
bound, journal the step (as running before it starts, with its outcome after). The runbook engine calls
this through the actions of ops/vm/actions.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.ports import Proxmox
from chaton_ops.core.proxmox import (
    Archive,
    ClusterState,
    Guest,
    GuestRef,
    Snapshot,
    TaskStatus,
    is_upid,
    parse_archives,
    parse_cluster_state,
    parse_guests,
    parse_snapshots,
    parse_task_log,
    parse_task_status,
    storage_content_path,
    task_log_path,
    task_status_path,
    upid_node,
)
from chaton_ops.core.vm_plan import Change, GuestResult, InventoryVm
from chaton_ops.errors import (
    ChatonError,
    ConnectError,
    NodeOffline,
    ProxmoxAuthError,
    ProxmoxError,
    QuorumLost,
    TaskFailed,
)

ApiFactory = Callable[[str], Proxmox]
LOG_TAIL_LINES = 10
# PVE keeps a task's whole log; a vzdump's is a few hundred lines at most.
LOG_LINES_READ = 5000


# ------------------------------------------------------------------------------------------ facts
def read_guests(api: Proxmox) -> list[Guest]:
    return parse_guests(api.cluster, api.get("/cluster/resources", {"type": "vm"}))


def read_cluster_state(api: Proxmox) -> ClusterState:
    return parse_cluster_state(api.get("/cluster/status"))


def read_config(api: Proxmox, ref: GuestRef) -> dict[str, Any]:
    return dict(api.get(f"{ref.path}/config") or {})


def read_running(api: Proxmox, ref: GuestRef) -> bool:
    return (api.get(f"{ref.path}/status/current") or {}).get("status") == "running"


def read_snapshots(api: Proxmox, ref: GuestRef) -> list[Snapshot]:
    return parse_snapshots(api.get(f"{ref.path}/snapshot"))


def read_archives(api: Proxmox, node: str, storage: str) -> list[Archive]:
    return parse_archives(storage, api.get(storage_content_path(node, storage), {"content": "backup"}))


def locate(api: Proxmox, vm: InventoryVm) -> tuple[Guest, ClusterState]:
    """The inventory VM as the cluster has it (on whichever node it runs now), and the cluster's state.
    A guest the cluster lacks is an error; one on an offline node is NodeOffline."""
    guests = {guest.ref.vmid: guest for guest in read_guests(api)}
    state = read_cluster_state(api)
    guest = guests.get(vm.vmid)
    if guest is None:
        raise ProxmoxError(vm.cluster, f"host {vm.host}: cluster {vm.cluster} has no guest {vm.vmid} "
                           "(see `chaton vm list`)")
    if state.online(guest.ref.node) is False:
        raise NodeOffline(vm.cluster, f"host {vm.host}: node {guest.ref.node} is offline")
    return guest, state


def require_quorum(api: Proxmox, state: ClusterState | None = None) -> None:
    """Refuse before any change when the cluster has lost quorum: PVE would refuse each one."""
    state = state or read_cluster_state(api)
    if not state.quorate:
        offline = ", ".join(state.offline_nodes) or "none listed"
        raise QuorumLost(api.cluster, f"the cluster has lost quorum (offline nodes: {offline}): PVE refuses every "
                         "change until enough nodes are back; nothing was changed")


def wait_for_task(api: Proxmox, upid: str, timeout: float, *, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> TaskStatus:
    """Await a task for at most `timeout` seconds. Success is exitstatus OK, not `stopped`; a failed task
    raises TaskFailed with the last lines of its log, one still running at the bound says so."""
    node = upid_node(upid)
    deadline = clock() + timeout
    interval = 0.1
    while True:
        status = parse_task_status(upid, api.get(task_status_path(node, upid)) or {})
        if not status.running:
            break
        if clock() >= deadline:
            raise TaskFailed(api.cluster, f"task {upid} is still running after {timeout:g} s; it goes on on node "
                             f"{node} (see the node's task list)", upid=upid, exitstatus=None)
        sleep(min(interval, max(0.0, deadline - clock())))
        interval = min(interval * 1.5, 2.0)
    if status.succeeded:
        return status
    log = parse_task_log(api.get(task_log_path(node, upid), {"start": 0, "limit": LOG_LINES_READ}))
    raise TaskFailed(api.cluster, f"task failed: {status.exitstatus}", upid=upid, exitstatus=status.exitstatus,
                     log_tail=tuple(log[-LOG_TAIL_LINES:]))


# ---------------------------------------------------------------------------------------- journal
class JournalPort(Protocol):
    """What `chaton vm` needs of adapters/journal.Journal."""

    def start_run(self, command: str, args: list[str]) -> int: ...

    def step(self, run_id: int, target: str, step: str,
             detail: dict[str, Any] | None = None) -> Any: ...  # a context manager yielding a dict


class JournalRun:
    """The journal rows of one run, or nothing (unit tests, --dry-run). Thread-safe: vzdump runs nodes in
    parallel. A run the engine started is taken with `JournalRun.of(journal, run_id)`."""

    def __init__(self, journal: JournalPort | None, command: str, args: Sequence[str], *,
                 run_id: int | None = None) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        if run_id is None and journal is not None:
            run_id = journal.start_run(command, list(args))
        self.run_id = run_id

    @classmethod
    def of(cls, journal: JournalPort | None, run_id: int | None) -> JournalRun:
        return cls(journal, "", (), run_id=run_id)

    @contextmanager
    def step(self, target: str, step: str, detail: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        if self.journal is None or self.run_id is None:
            yield dict(detail)
            return
        with self._lock:
            manager = self.journal.step(self.run_id, target, step, dict(detail))
            extra = manager.__enter__()
        try:
            yield extra
        except BaseException as error:
            with self._lock:
                if not manager.__exit__(type(error), error, error.__traceback__):
                    raise
            return
        with self._lock:
            manager.__exit__(None, None, None)


# ------------------------------------------------------------------------------------------ apply
def apply_change(api: Proxmox, change: Change, run: JournalRun, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> GuestResult:
    """Send the change's call, await its task, journal the step; a failure becomes the guest's result.
    A refused token and an unreachable API are raised (no other call to that cluster could work)."""
    started = clock()
    upid = None
    with run.step(change.target, change.action, {"call": change.call.describe()}) as record:
        try:
            answer = api.send(change.call)
            if is_upid(answer):
                upid = answer
                record["upid"] = upid
                wait_for_task(api, upid, change.timeout, clock=clock, sleep=sleep)
        except (ProxmoxAuthError, ConnectError):
            raise
        except TaskFailed as error:
            record.update(status="failed", error=error.message, exitstatus=error.exitstatus,
                          log_tail=list(error.log_tail))
            return _result(change, "failed", _task_message(error), clock() - started, upid, error.log_tail)
        except NodeOffline as error:
            record.update(status="failed", error=error.message)
            return _result(change, "failed", error.detail, clock() - started, upid, unreachable=True)
        except ChatonError as error:
            record.update(status="failed", error=error.message)
            return _result(change, "failed", getattr(error, "detail", error.message), clock() - started, upid)
        record["status"] = "ok"
    return _result(change, "ok", "", clock() - started, upid)


def _task_message(error: TaskFailed) -> str:
    if error.exitstatus is None:
        return error.message.split(": ", 1)[-1]
    return f"{error.exitstatus}"


def _result(change: Change, status: str, message: str, duration: float, upid: str | None,
            log_tail: tuple[str, ...] = (), unreachable: bool = False) -> GuestResult:
    return GuestResult(change.cluster, change.vmid, change.name, change.host, change.node, change.action,
                       "ok" if status == "ok" else "failed", message, round(duration, 2), upid, log_tail, unreachable)


def failed_result(change: Change, message: str, *, unreachable: bool = False) -> GuestResult:
    """A change that was not sent (its node offline, its cluster unreachable, its precondition gone)."""
    return _result(change, "failed", message, 0.0, None, unreachable=unreachable)


def vm_hosts_by_vmid(inventory: Inventory, cluster: str) -> dict[int, str]:
    return {host.vm.vmid: name for name, host in inventory.hosts.items()
            if host.vm is not None and host.vm.proxmox == cluster}
