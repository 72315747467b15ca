"""Failover actions that move data and services on a host: stop, exact restore, and undo.

The restore is `chaton restore --to HOST` (ops/restore.py): staged, verified, swapped, databases
loaded with the previous ones kept aside. Undo puts a host back as it was before a rehearsal (or,
with `failback --clean`, before the failover): services the deploy started are stopped, files it
changed come back from their `.chaton-prev` copy (or go, when it created them), the data kept aside
by the restore is swapped back and the restored copy removed, databases likewise.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping
from typing import Any

from chaton_ops.core.database import derived_name, drop_argv
from chaton_ops.core.inventory import Database
from chaton_ops.core.playbook_plan import PREVIOUS_SUFFIX, service_commands
from chaton_ops.core.restic_output import RestoreProgress
from chaton_ops.core.runbook import PlannedStep
from chaton_ops.core.units import format_bytes
from chaton_ops.errors import ChatonError
from chaton_ops.ops.deploy import prepare_deploy, probing_with, run_playbook
from chaton_ops.ops.engine import RunState, StepOutput
from chaton_ops.ops.failover.actions import FailoverStepError, _Base
from chaton_ops.ops.restore import apply_restore, prepare_restore
from chaton_ops.ops.restore_db import swap_database
from chaton_ops.ops.restore_steps import SWAP_SCRIPT, remove_tree

UNDO_MARK = ".chaton-prev-undo-"
SHORT_TIMEOUT = 600.0


class StopAction(_Base):
    """The playbook's `stop` steps on the step's host (before a final backup, or when leaving a host)."""

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name, host = step.inputs["service"], step.host
        assert host is not None
        prepared = prepare_deploy(self.ctx.loaded, name, host, templates=self.ctx.templates, phase="stop")
        report = run_playbook(prepared, self.ctx.transports(host), probe=probing_with(self.ctx.probes))
        if report.failure is not None:
            raise FailoverStepError(f"{host}: stopping {name}: {report.failure.label}: {report.failure.message}")
        return StepOutput("changed" if report.changed else "ok", {"changed": report.changed},
                          message=f"{name} stopped on {host}")


class RestoreAction(_Base):
    """Exact restore of the service's snapshot (the newest, or the one planned) on the step's host."""

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name, host = step.inputs["service"], step.host
        assert host is not None
        prepared = self.ctx.prepared_restore(name, host, step.inputs["snapshot"]) or prepare_restore(
            self.ctx.loaded, name, self.ctx.transports, secrets=self.ctx.secrets, templates=self.ctx.templates,
            snapshot=step.inputs["snapshot"], to=host)
        plan = prepared.plan
        if plan.refusals:
            raise FailoverStepError(f"{host}: restore of {name} refused: {'; '.join(plan.refusals)} (nothing written)")

        def progress(text: str, status: RestoreProgress | None) -> None:
            shown = f" {status.fraction:.0%}" if status is not None else ""
            run.progress(step, f"{name}: {text}{shown} on {host}")

        report = apply_restore(self.ctx.loaded, prepared, self.ctx.transports(host), templates=self.ctx.templates,
                               probe=probing_with(self.ctx.probes), progress=progress)
        snapshot = plan.snapshot
        age = (self.ctx.clock() - snapshot.time).total_seconds() if snapshot else None
        speed = report.bytes / report.restore_seconds if report.restore_seconds else None
        return StepOutput("changed", {
            "host": host, "snapshot": snapshot.id if snapshot else None,
            "snapshot_time": snapshot.time.isoformat() if snapshot else None,
            "snapshot_age_seconds": round(age, 1) if age is not None else None,
            "bytes": report.bytes, "restore_seconds": round(report.restore_seconds, 3),
            "bytes_per_second": round(speed) if speed else None, "verified": report.verified,
            "swaps": [s.detail() for s in report.swaps], "databases": [d.detail() for d in report.databases],
        }, message=f"snapshot {(snapshot.id if snapshot else '-')[:8]}, {format_bytes(report.bytes)}"
                   + (f" at {speed / 1e6:.0f} MB/s" if speed and report.bytes >= 1e6 else "")
                   + (", verified" if report.verified else ""))


class UndoAction(_Base):
    """Put a host back as it was before a rehearsal (or a failover, with `failback --clean`)."""

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name, host = step.inputs["service"], step.host
        assert host is not None
        restored, deploys = self._earlier_outputs(step, run)
        transport = self.ctx.transports(host)
        stamp = self.ctx.clock().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        done: list[str] = []
        started = [svc for d in deploys for svc in d.get("started", [])]
        if started:
            self._stop(name, host)
            done.append(f"stopped {', '.join(started)}")
        for deploy in reversed(deploys):
            for changed in deploy.get("files", []):
                done.append(_put_file_back(transport, changed["path"], existed=changed["existed"]))
        for database in (restored or {}).get("databases", []):
            done.append(self._database_back(transport, name, database, stamp))
        for swap in reversed((restored or {}).get("swaps", [])):
            done.append(_data_back(transport, swap, stamp))
        reloaded = [svc for d in deploys for svc in d.get("reloaded", [])]
        for service in dict.fromkeys(reloaded):
            self._reload(name, host, service)
            done.append(f"reloaded {service}")
        return StepOutput("changed" if done else "ok", {"undone": done},
                          message="; ".join(done) if done else "nothing to undo")

    def _earlier_outputs(self, step: PlannedStep, run: RunState) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]]]:
        name, host = step.inputs["service"], step.host
        keys = (f"restore:{name}@{host}", f"deploy:{name}@{host}", f"after-restore:{name}@{host}")
        if step.inputs.get("rehearsal", True):
            outputs = [run.outputs(key) for key in keys]
        else:  # failback --clean: what the failover did on this host
            failover = step.inputs.get("failover_run")
            if failover is None:
                raise FailoverStepError(f"{name}: no failover run recorded: nothing known to undo on {host}")
            steps = self.ctx.journal.keyed_steps(int(failover))
            outputs = [steps[key].detail.get("outputs") if key in steps and steps[key].done else None for key in keys]
        return outputs[0], [o for o in outputs[1:] if o]

    def _stop(self, name: str, host: str) -> None:
        prepared = prepare_deploy(self.ctx.loaded, name, host, templates=self.ctx.templates, phase="stop")
        report = run_playbook(prepared, self.ctx.transports(host), probe=probing_with(self.ctx.probes))
        if report.failure is not None:
            raise FailoverStepError(f"{host}: stopping {name}: {report.failure.label}: {report.failure.message}")

    def _reload(self, name: str, host: str, service: str) -> None:
        prepared = prepare_deploy(self.ctx.loaded, name, host, templates=self.ctx.templates, phase="steps")
        for item in prepared.steps:
            if item.step.reload is not None and item.step.reload.service == service:
                commands = service_commands(item.step, prepared.manager)
                if commands.reload is not None:
                    self.ctx.transports(host).run(commands.reload, timeout=SHORT_TIMEOUT, check=True)
                return

    def _database_back(self, transport: Any, service: str, loaded: Mapping[str, Any], stamp: str) -> str:
        database = next((d for d in self.ctx.inventory.services[service].databases
                         if d.engine == loaded["engine"] and d.name == loaded["name"]),
                        Database(engine=loaded["engine"], name=loaded["name"]))
        kept = loaded.get("kept_aside")
        if kept is None:
            transport.run(drop_argv(database, loaded["name"]), timeout=SHORT_TIMEOUT, check=True)
            return f"dropped {loaded['engine']} database {loaded['name']} (it did not exist before)"
        trash = derived_name(database, f"chaton_undo_{stamp.lower()}")
        try:
            swap_database(transport, database, live=loaded["name"], staging=kept, kept_aside=trash)
        except ChatonError as failure:
            raise FailoverStepError(f"putting {database.engine} database {loaded['name']} back failed: "
                                    f"{failure.message} (the previous one is kept as {kept})") from failure
        transport.run(drop_argv(database, trash), timeout=SHORT_TIMEOUT, check=True)
        return f"{loaded['engine']} database {loaded['name']} back as it was"


def _put_file_back(transport: Any, path: str, *, existed: bool) -> str:
    if existed:
        transport.run(["mv", "-f", "--", path + PREVIOUS_SUFFIX, path], timeout=SHORT_TIMEOUT, check=True)
        return f"{path} back as it was"
    transport.run(["rm", "-f", "--", path, path + PREVIOUS_SUFFIX], timeout=SHORT_TIMEOUT, check=True)
    return f"{path} removed (it did not exist before)"


def _data_back(transport: Any, swap: Mapping[str, Any], stamp: str) -> str:
    """The previous content back at its path, the restored copy removed; one atomic exchange where it can."""
    path, kept = swap["path"], swap.get("kept_aside")
    parent, base = posixpath.split(path.rstrip("/"))
    trash = posixpath.join(parent or "/", f".{base}{UNDO_MARK}{stamp}")
    if kept is None:  # nothing was there: the restored copy goes
        transport.run(["mv", "-T", "--", path, trash], timeout=SHORT_TIMEOUT, check=True)
        remove_tree(transport, trash, marker=".chaton-prev-")
        return f"{path} removed (it did not exist before)"
    result = transport.run(["sh", "-c", SWAP_SCRIPT, "sh", kept, path, trash], timeout=SHORT_TIMEOUT, check=False)
    if not result.ok:
        raise FailoverStepError(f"{transport.host}: putting {kept} back at {path} failed: "
                                f"{result.stderr_tail(3) or f'exit {result.returncode}'}")
    remove_tree(transport, trash, marker=".chaton-prev-")
    return f"{path} back as it was"
