"""The actions of the runbook engine for `chaton vm`: one per kind of change on a guest.

Each action's `check` re-reads the guest just before its step (the snapshot is not there yet, the
guest still exists and its node is online, onboot still differs…) and `apply` sends the call, awaits
the PVE task within its bound and reads the result back. The actions journal their own rows, one per
change as `history` has always shown a vm run (`journals_parts`), and keep each guest's result: the
report and the exit code are made of those.

A refused token or an API that cannot be reached stops the run's other calls to that cluster: they are
refused ("not tried"); `vzdump` goes on with the other clusters and reports the guests as unreachable,
the other commands raise the error once the run is journaled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from chaton_ops.core.ports import Proxmox
from chaton_ops.core.proxmox import parse_onboot, set_onboot_call
from chaton_ops.core.runbook import PlannedStep
from chaton_ops.core.vm_plan import Change, GuestResult
from chaton_ops.errors import ChatonError, ConnectError, ExitCode, ProxmoxAuthError
from chaton_ops.ops.engine import GO, Done, Refuse, RunState, StepOutput, Verdict
from chaton_ops.ops.vm.runner import (
    ApiFactory,
    JournalRun,
    apply_change,
    failed_result,
    read_cluster_state,
    read_config,
    read_guests,
    read_running,
    read_snapshots,
)

Notify = Callable[[str], None]


class GuestChanges:
    """What the actions of one `chaton vm` run share: the planned change of each step, the API of each
    cluster, the journal rows, each step's result, and the clusters no call may go to any more."""

    def __init__(self, changes: Mapping[str, Change], api_for: ApiFactory, rows: JournalRun, *,
                 notify: Notify = lambda note: None, tolerate_unreachable: bool = False) -> None:
        self.changes = changes
        self.api_for = api_for
        self.rows = rows
        self.notify = notify
        self.tolerate_unreachable = tolerate_unreachable
        self.results: dict[str, GuestResult] = {}
        self.notes: list[str] = []
        self.errors: dict[str, ChatonError] = {}  # raised after the run: a refused token, an API gone
        self.stopped: dict[str, str] = {}  # cluster → why no call goes to it any more
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)
        self.notify(text)

    def keep(self, key: str, result: GuestResult) -> GuestResult:
        with self._lock:
            self.results[key] = result
        return result

    def lost(self, change: Change, error: ChatonError) -> GuestResult:
        """A refused token or an unreachable API: the cluster's other steps are not tried."""
        unreachable = isinstance(error, ConnectError)
        with self._lock:
            if unreachable:
                self.stopped.setdefault(change.cluster, f"the API of {change.cluster} could not be reached")
            else:
                self.stopped.setdefault(change.cluster, f"the token was refused by {change.cluster}")
            if not (unreachable and self.tolerate_unreachable):
                self.errors.setdefault(change.cluster, error)
        return failed_result(change, error.message, unreachable=unreachable)

    def refuse(self, key: str, change: Change, reason: str, *, unreachable: bool = False) -> Refuse:
        """Not sent: journaled as failed with the reason, the guest's result failed."""
        with self.rows.step(change.target, change.action, {"call": change.call.describe()}) as record:
            record.update(status="failed", error=reason)
        self.keep(key, failed_result(change, reason, unreachable=unreachable))
        return Refuse(reason)

    def done(self, change: Change, reason: str) -> Done:
        """Its effect is already there: journaled as skipped with the reason."""
        with self.rows.step(change.target, change.action, {"call": change.call.describe()}) as record:
            record.update(status="skipped", reason=reason)
        return Done(reason)

    def results_in(self, keys: list[str]) -> list[GuestResult]:
        return [self.results[key] for key in keys if key in self.results]


def output_of(result: GuestResult) -> StepOutput:
    outputs: dict[str, Any] = {"upid": result.upid} if result.upid else {}
    if result.status == "ok":
        return StepOutput("changed", outputs, result.message)
    return StepOutput("failed", outputs, result.message)


class GuestAction:
    """The common part: refusals before any call, errors of the precondition's reads, the journal rows."""

    journals_parts = True

    def __init__(self, shared: GuestChanges) -> None:
        self.shared = shared

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        change = self.shared.changes[step.key]
        stopped = self.shared.stopped.get(change.cluster)
        if stopped is not None:
            return self.shared.refuse(step.key, change, f"not tried: {stopped}", unreachable=True)
        problem = step.inputs.get("problem")
        if problem:
            return self.shared.refuse(step.key, change, str(problem), unreachable=True)
        try:
            return self.precondition(step, change, self.shared.api_for(change.cluster))
        except (ProxmoxAuthError, ConnectError) as error:
            result = self.shared.lost(change, error)
            return self.shared.refuse(step.key, change, result.message, unreachable=result.unreachable)
        except ChatonError as error:
            return self.shared.refuse(step.key, change, getattr(error, "detail", error.message),
                                      unreachable=error.exit_code == ExitCode.UNREACHABLE)

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        change = self.shared.changes[step.key]
        try:
            result = self.change(step, change, self.shared.api_for(change.cluster), run)
        except (ProxmoxAuthError, ConnectError) as error:
            result = self.shared.lost(change, error)
        return output_of(self.shared.keep(step.key, result))

    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        return GO

    def change(self, step: PlannedStep, change: Change, api: Proxmox, run: RunState) -> GuestResult:
        return apply_change(api, change, self.shared.rows)


class SetOnboot(GuestAction):
    """onboot=1 with the digest of the config just read: PVE refuses it if the config changed since."""

    def __init__(self, shared: GuestChanges) -> None:
        super().__init__(shared)
        self.digests: dict[str, str | None] = {}

    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        config = read_config(api, change.ref)
        if parse_onboot(config):
            self.shared.keep(step.key, GuestResult(change.cluster, change.vmid, change.name, change.host,
                                                   change.node, change.action, "ok", "already set (changed meanwhile)"))
            return self.shared.done(change, "onboot was set meanwhile")
        digest = config.get("digest")
        self.digests[step.key] = str(digest) if digest else None
        return GO

    def change(self, step: PlannedStep, change: Change, api: Proxmox, run: RunState) -> GuestResult:
        result = apply_change(api, change.with_call(set_onboot_call(change.ref, self.digests.get(step.key))),
                              self.shared.rows)
        if result.status == "ok" and not parse_onboot(read_config(api, change.ref)):
            return failed_result(change, "PVE accepted the change, but the config still reads onboot=0")
        return result


class TakeSnapshot(GuestAction):
    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        name = step.inputs["subject"]
        if name in {s.name for s in read_snapshots(api, change.ref)}:
            return self.shared.refuse(step.key, change, f"a snapshot named {name} appeared meanwhile: not taken")
        return GO

    def change(self, step: PlannedStep, change: Change, api: Proxmox, run: RunState) -> GuestResult:
        result = apply_change(api, change, self.shared.rows)
        if result.status == "ok" and step.inputs["subject"] not in {s.name for s in read_snapshots(api, change.ref)}:
            return failed_result(change, "PVE reported success, but the snapshot is not listed")
        return result


class DeleteSnapshot(GuestAction):
    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        if step.inputs["subject"] not in {s.name for s in read_snapshots(api, change.ref)}:
            self.shared.keep(step.key, GuestResult(change.cluster, change.vmid, change.name, change.host,
                                                   change.node, change.action, "ok", "already gone"))
            return self.shared.done(change, "deleted meanwhile")
        return GO

    def change(self, step: PlannedStep, change: Change, api: Proxmox, run: RunState) -> GuestResult:
        result = apply_change(api, change, self.shared.rows)
        if result.status == "ok" and step.inputs["subject"] in {s.name for s in read_snapshots(api, change.ref)}:
            return failed_result(change, "PVE reported success, but the snapshot is still listed")
        return result


class Rollback(GuestAction):
    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        name = step.inputs["subject"]
        if name not in {s.name for s in read_snapshots(api, change.ref)}:
            return self.shared.refuse(step.key, change, f"the snapshot {name} is gone (deleted meanwhile)")
        return GO


class StartAgain(GuestAction):
    """After a rollback, a guest that was running: started only if the rollback left it stopped (a
    snapshot with RAM state resumes by itself)."""

    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        if read_running(api, change.ref):
            self.shared.note(f"{change.host or change.name} is running again (the snapshot holds its RAM state): "
                             "not started")
            return self.shared.done(change, "running after the rollback")
        return GO


class Vzdump(GuestAction):
    """One guest's backup; the guest must still be on its node, and the node online."""

    def precondition(self, step: PlannedStep, change: Change, api: Proxmox) -> Verdict:
        guest = next((g for g in read_guests(api) if g.ref.vmid == change.vmid), None)
        if guest is None:
            return self.shared.refuse(step.key, change, f"cluster {change.cluster} has no guest {change.vmid} any more")
        if guest.ref.node != change.node:
            return self.shared.refuse(step.key, change, f"it moved to node {guest.ref.node} meanwhile")
        if change.node in read_cluster_state(api).offline_nodes:
            return self.shared.refuse(step.key, change, f"node {change.node} is offline", unreachable=True)
        return GO

    def change(self, step: PlannedStep, change: Change, api: Proxmox, run: RunState) -> GuestResult:
        run.progress(step, f"{change.target}: vzdump on {change.node} …")
        try:
            result = apply_change(api, change, self.shared.rows)
        except ConnectError as error:  # the cluster's API is gone: its other guests are not tried
            result = self.shared.lost(change, error)
        run.progress(step, f"{change.target}: vzdump {result.status} after {result.duration:.0f} s")
        return result


def vm_actions(shared: GuestChanges) -> dict[str, GuestAction]:
    """The engine's action for each kind of step (core/vm_plan.StepKind)."""
    return {"vm-onboot": SetOnboot(shared), "vm-snapshot": TakeSnapshot(shared),
            "vm-delete-snapshot": DeleteSnapshot(shared), "vm-rollback": Rollback(shared),
            "vm-start": StartAgain(shared), "vm-vzdump": Vzdump(shared)}
