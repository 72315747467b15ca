"""The actions of failover, rehearsal and failback runbooks (see ops/engine.py for the protocol).

Each re-checks its precondition just before it runs (`check`) and returns its outputs for the
journal: the snapshot it restored, the files a deploy changed, the records a DNS switch replaced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.dns import RecordChange, RecordSet, point_at
from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
from chaton_ops.core.probes import HttpResult, SmtpResult, TcpResult
from chaton_ops.core.runbook import PlannedStep
from chaton_ops.errors import ChatonError
from chaton_ops.ops.backup import BackupSettings, run_backup
from chaton_ops.ops.deploy import gather_facts, prepare_deploy, probing_with, run_playbook
from chaton_ops.ops.engine import GO, Action, Done, RunState, StepOutput, Verdict
from chaton_ops.ops.failover.context import FailoverContext

PROBE_INTERVAL = 0.5


class FailoverStepError(ChatonError):
    """A failover step failed; the message says what and where."""


class _Base:
    def __init__(self, ctx: FailoverContext) -> None:
        self.ctx = ctx

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO


# ---------------------------------------------------------------------------------------------
# Backups on the host the service runs on
# ---------------------------------------------------------------------------------------------


class BackupAction(_Base):
    """A backup of the service where it runs now (the source before a failover, the fallback before a
    failback), without retention: the snapshot the next restore takes."""

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name = step.inputs["service"]
        inventory = self.ctx.inventory
        if inventory.services[name].host != step.host:
            raise FailoverStepError(f"{name} runs on {inventory.services[name].host}, not {step.host}: not backed up")
        plan = plan_backup(inventory, [name], retention=False)
        report = run_backup(self.ctx.loaded, plan, transports=self.ctx.transports,
                            settings=BackupSettings(jobs=1, retention=False), passwords=self.ctx.passwords)
        failed = [r for r in report.results if r.status == "failed"]
        if failed:
            raise FailoverStepError("; ".join(f"backup of {r.service} to {r.repository}: {r.message}" for r in failed))
        return StepOutput("changed", {
            "snapshots": {r.repository: r.snapshot_id for r in report.results},
            "bytes_added": sum(r.bytes_added or 0 for r in report.results),
        }, message=", ".join(f"{r.repository}: snapshot {(r.snapshot_id or '-')[:8]}" for r in report.results))


# ---------------------------------------------------------------------------------------------
# Playbooks
# ---------------------------------------------------------------------------------------------


class DeployAction(_Base):
    """The service's playbook (or its after_restore steps) on the step's host. Records which files it
    changed and which services it started, so that a rehearsal can put the host back as it was."""

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name, host, phase = step.inputs["service"], step.host, step.inputs.get("phase", "steps")
        assert host is not None
        prepared = prepare_deploy(self.ctx.loaded, name, host, templates=self.ctx.templates, phase=phase)
        transport = self.ctx.transports(host)
        before = {item.index: gather_facts(transport, item.step, prepared.manager) for item in prepared.steps
                  if item.step.template is not None or item.step.reload is not None}
        report = run_playbook(prepared, transport, probe=probing_with(self.ctx.probes))
        files: list[dict[str, Any]] = []
        started: list[str] = []
        reloaded: list[str] = []
        for outcome in report.outcomes:
            item = prepared.steps[outcome.index] if outcome.index < len(prepared.steps) else None
            if item is None or outcome.status != "changed" or item.index not in before:
                continue
            facts = before[item.index]
            if item.step.template is not None:
                files.append({"path": item.step.template.dest, "existed": bool(facts.path and facts.path.exists)})
            elif item.step.reload is not None:
                (started if facts.running is False else reloaded).append(item.step.reload.service)
        if report.failure is not None:
            failure = report.failure
            tail = f": {failure.output_tail.splitlines()[-1]}" if failure.output_tail.strip() else ""
            raise FailoverStepError(f"{host}: {name}: step {failure.index + 1} ({failure.label}): "
                                    f"{failure.message}{tail}")
        return StepOutput("changed" if report.changed else "ok",
                          {"changed": report.changed, "files": files, "started": started, "reloaded": reloaded},
                          message=f"{report.changed} of {len(report.outcomes)} steps changed")


# ---------------------------------------------------------------------------------------------
# Checks: on the host's address (local), or through the new name (outside)
# ---------------------------------------------------------------------------------------------


class CheckAction(_Base):
    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        name = step.inputs["service"]
        check = self.ctx.inventory.services[name].check
        assert check is not None
        outside = step.inputs.get("where") == "outside"
        probes: list[tuple[str, Callable[[str | None], Probed], str]] = []
        if check.http is not None:
            http = check.http
            probes.append(("http", lambda a: http_verdict(http, self.ctx.probes.http(http, address=a)),
                           _url_host(http.url)))
        if check.smtp is not None:
            smtp = check.smtp
            probes.append(("smtp", lambda a: smtp_verdict(smtp, self.ctx.probes.smtp(smtp, address=a)), smtp.host))
        if check.tcp is not None:
            tcp = check.tcp
            probes.append(("tcp", lambda a: tcp_verdict(tcp, self.ctx.probes.tcp(tcp, address=a)), tcp.host))
        results: dict[str, dict[str, Any]] = {}
        for kind, probe, name_checked in probes:
            address = self._address_outside(name_checked) if outside else step.inputs["address"]
            ok, detail = _until_ok(probe, address, self.ctx.check_timeout)
            results[kind] = {"ok": ok, "detail": detail, "address": address}
            if not ok:
                where = "from outside" if outside else f"on {step.host}"
                raise FailoverStepError(f"{name}: {kind} check {where} failed: {detail}")
        return StepOutput("ok", {"checks": results}, message="; ".join(r["detail"] for r in results.values()))

    def _address_outside(self, name: str) -> str | None:
        """The address members reach `name` at: asked of an authoritative server of its zone when the
        inventory manages that zone (no resolver cache in between), else left to the system."""
        return self.ctx.dns.address_of(name) if self.ctx.dns is not None else None


def _url_host(url: str) -> str:
    import httpx

    return str(httpx.URL(url).host)


Probed = tuple[bool, str]  # whether the check passed, and what was seen


def http_verdict(check: HttpCheck, result: HttpResult) -> Probed:
    took = f"{result.elapsed * 1000:.0f} ms"
    if result.error is not None:
        return False, f"{check.url}: {result.error}"
    if result.status != check.status:
        return False, f"{check.url}: HTTP {result.status}, expected {check.status}"
    if result.contains is False:
        return False, f"{check.url}: HTTP {result.status} but the page does not contain {check.contains!r}"
    return True, f"HTTP {result.status} in {took}"


def smtp_verdict(check: SmtpCheck, result: SmtpResult) -> Probed:
    if result.error is not None:
        return False, f"SMTP {result.address}: {result.error}"
    banner = result.banner or ""
    if check.banner_contains is not None and check.banner_contains not in banner:
        return False, f"SMTP {result.address}: banner {banner[:60]!r} does not contain {check.banner_contains!r}"
    return True, f"SMTP 220 {banner[:60]}"


def tcp_verdict(check: TcpCheck, result: TcpResult) -> Probed:
    if result.error is not None:
        return False, f"TCP {result.address}: {result.error}"
    return True, f"TCP {result.address} open"


def _until_ok(probe: Callable[[str | None], Probed], address: str | None, timeout: float) -> Probed:
    """Probe again until it passes or `timeout` seconds went by (a service just started may need a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = probe(address)
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(PROBE_INTERVAL)


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


class PlaceAction(_Base):
    """Where the service runs from now on: every later command (backup, status, deploy) acts there."""

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        current = self.ctx.journal.placements().get(step.inputs["service"])
        home = step.inputs["home"]
        here = current.host if current is not None else home
        if here == step.inputs["host"] and (current is not None or step.inputs["host"] == home):
            return Done(f"already placed on {here}")
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        inputs = step.inputs
        self.ctx.journal.set_placement(inputs["service"], inputs["host"], home=inputs["home"], run_id=run.run_id,
                                       reason=inputs.get("reason", ""))
        return StepOutput("changed", {"host": inputs["host"], "home": inputs["home"]},
                          message=f"{inputs['service']} runs on {inputs['host']}")


# ---------------------------------------------------------------------------------------------
# DNS
# ---------------------------------------------------------------------------------------------


class DnsSwitchAction(_Base):
    """Every record of the service to the fallback's address with the zone's failover TTL: one signed
    update per zone, conditioned on the records read just before; then every authoritative server is
    asked until it answers the new address."""

    def _changes(self, step: PlannedStep) -> dict[str, list[RecordChange]]:
        dns = self.ctx.require_dns()
        changes: dict[str, list[RecordChange]] = {}
        for zone, recorded in step.inputs["records_before"].items():
            ttl = self.ctx.inventory.dns[zone].failover_ttl
            for record in recorded:
                current = dns.read(zone, record["name"], record["type"])
                change = point_at(current, step.inputs["address"], ttl)
                if change.changes_anything:
                    changes.setdefault(zone, []).append(change)
        return changes

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        if not self._changes(step):
            return Done(f"the records already point at {step.inputs['address']}")
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        return _apply_changes(self.ctx, self._changes(step), run, step)


class DnsBackAction(_Base):
    """The records as they were before the failover (values and TTL), read from that run's journal."""

    def _changes(self, step: PlannedStep) -> dict[str, list[RecordChange]]:
        dns = self.ctx.require_dns()
        changes: dict[str, list[RecordChange]] = {}
        for zone, recorded in recorded_before_failover(self.ctx, step.inputs).items():
            for data in recorded:
                wanted = RecordSet.from_dict(data)
                current = dns.read(zone, wanted.name, wanted.type)
                change = RecordChange(current, wanted)
                if change.changes_anything:
                    changes.setdefault(zone, []).append(change)
        return changes

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        if not self._changes(step):
            return Done("the records are already as before the failover")
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        return _apply_changes(self.ctx, self._changes(step), run, step)


def recorded_before_failover(ctx: FailoverContext, inputs: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The records a failover replaced: its DNS step's outputs, else what its plan read before."""
    run_id = inputs.get("failover_run")
    if run_id is None:
        raise FailoverStepError(f"{inputs['service']}: no failover run recorded: the records to put back are unknown")
    step = ctx.journal.keyed_steps(int(run_id)).get(f"dns:{inputs['service']}")
    if step is None:
        raise FailoverStepError(f"{inputs['service']}: failover run {run_id} has no DNS step: nothing to put back")
    outputs = step.detail.get("outputs", {})
    if outputs.get("replaced"):
        return dict(outputs["replaced"])
    return dict(step.detail.get("inputs", {}).get("records_before", {}))


def _apply_changes(ctx: FailoverContext, changes: dict[str, list[RecordChange]], run: RunState,
                   step: PlannedStep) -> StepOutput:
    dns = ctx.require_dns()
    for zone, zone_changes in changes.items():
        dns.update(zone, zone_changes)
    served = []
    for zone, zone_changes in changes.items():
        for change in zone_changes:
            run.progress(step, f"waiting for every authoritative server of {zone} to answer {change.describe()}")
            answers = dns.wait_until_served(zone, change, timeout=ctx.dns_wait)
            served += sorted(answers)
    return StepOutput("changed", {
        "replaced": {zone: [c.old.as_dict() for c in cs] for zone, cs in changes.items()},
        "new": {zone: [c.new.as_dict() for c in cs] for zone, cs in changes.items()},
        "servers": sorted(set(served)),
    }, message="; ".join(c.describe() for cs in changes.values() for c in cs))


def failover_actions(ctx: FailoverContext) -> dict[str, Action]:
    from chaton_ops.ops.failover.restore import RestoreAction, StopAction, UndoAction

    return {"backup": BackupAction(ctx), "deploy": DeployAction(ctx), "check": CheckAction(ctx),
            "place": PlaceAction(ctx), "dns": DnsSwitchAction(ctx), "dns-back": DnsBackAction(ctx),
            "restore": RestoreAction(ctx), "stop": StopAction(ctx), "undo": UndoAction(ctx)}
