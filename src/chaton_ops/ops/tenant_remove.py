"""`chaton tenant remove TENANT`: a member leaves (or has been silent past the collective's limit).

Refused inside the limit unless forced (core/tenants.py); then a plan, run on the runbook engine and
journaled: an export first (the member's data kept as one archive), then per service its playbook's
`undeploy:` steps on its host, its data folders and databases removed there, its snapshots forgotten
in each repository (the space comes back at the next `chaton prune`). The inventory itself is the
admins' to edit: chaton says what to remove from it.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaton_ops.core.database import drop_argv, list_databases_argv, parse_database_names
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Probes, RunJournal, Secrets, TemplatesFor, Transport
from chaton_ops.core.restic import build_forget_ids_argv
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.core.tenants import (
    check_tenant,
    inactivity,
    plan_tenant_removal,
    removal_refusal,
    unsafe_to_remove,
)
from chaton_ops.errors import ChatonError, UsageError
from chaton_ops.ops.engine import (
    GO,
    Action,
    Done,
    EventSink,
    Refuse,
    RunResult,
    RunState,
    StepOutput,
    Verdict,
    apply_plan,
    start_run,
)
from chaton_ops.ops.restic_calls import run_restic_waiting_for_lock
from chaton_ops.ops.restore_facts import current_host
from chaton_ops.ops.snapshots import list_repository_snapshots

FORGET_TIMEOUT = 3600.0
FORGET_LOCK_WAIT = 600.0


def default_export_path(state_dir: Path, tenant: str, now: dt.datetime) -> Path:
    return state_dir / "exports" / f"{tenant}-{now.strftime('%Y%m%d-%H%M%S')}.tar.gz"


def prepare_removal(loaded: LoadedInventory, tenant: str, *, export_to: Path, force: bool,
                    today: dt.date | None = None) -> Plan:
    """The plan, or UsageError when the tenant is unknown or inside the collective's limit (without --force)."""
    from chaton_ops.ops.compose import playbook_templates
    from chaton_ops.ops.deploy import prepare_deploy

    inventory = loaded.inventory
    check_tenant(inventory, tenant)
    refusal = removal_refusal(inactivity(inventory, tenant, today or dt.date.today()), tenant, force=force)
    if refusal:
        raise UsageError(f"not removed: {refusal}")
    if export_to.exists():
        raise UsageError(f"{export_to} exists: give --export-to another file")
    hosts = {name: current_host(loaded, name) for name in inventory.services_of(tenant)}
    undeploy = {}
    templates = playbook_templates()
    for name, host in hosts.items():
        service = inventory.services[name]
        undeploy[name] = bool(service.playbook) and bool(
            prepare_deploy(loaded, name, host, templates=templates, phase="undeploy").steps)
    return plan_tenant_removal(inventory, tenant, hosts=hosts, export_to=str(export_to), undeploy=undeploy)


@dataclass
class Export:
    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    secrets: Secrets

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        target = Path(step.inputs["to"])
        if target.exists():
            return Done(f"already exported to {target}")  # an earlier attempt of this run finished it
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        from chaton_ops.ops.tenants import export_tenant

        target = Path(step.inputs["to"])
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        report = export_tenant(self.loaded, step.inputs["tenant"], self.transports, target, secrets=self.secrets,
                               progress=lambda text: run.progress(step, text))
        return StepOutput("changed", {"archive": str(target), "files": report.files, "bytes": report.bytes})


@dataclass
class Undeploy:
    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    templates: TemplatesFor
    probes: Probes

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        from chaton_ops.ops.deploy import prepare_deploy, probing_with, run_playbook

        assert step.host is not None
        prepared = prepare_deploy(self.loaded, step.inputs["service"], step.host, templates=self.templates,
                                  phase="undeploy")
        outcome = run_playbook(prepared, self.transports(step.host), probe=probing_with(self.probes))
        if outcome.failure is not None:
            raise ChatonError(f"{step.host}: undeploy step {outcome.failure.label!r} failed: "
                              f"{outcome.failure.message} {outcome.failure.output_tail}".strip())
        changed = any(o.status == "changed" for o in outcome.outcomes)
        return StepOutput("changed" if changed else "ok",
                          {"steps": [f"{o.label}: {o.status}" for o in outcome.outcomes]})


@dataclass
class RemoveData:
    """rm -rf of the service's data folders and DROP DATABASE of its databases, on its host."""

    loaded: LoadedInventory
    transports: Callable[[str], Transport]

    def _present(self, step: PlannedStep) -> tuple[list[str], list[str]]:
        assert step.host is not None
        transport = self.transports(step.host)
        paths = step.inputs["paths"]
        present = []
        if paths:
            script = 'for p; do [ -e "$p" ] && printf "%s\\n" "$p"; done; true'
            present = transport.run(["sh", "-c", script, "sh", *paths], timeout=60).stdout.split("\n")
        databases = []
        for database in self._databases(step):
            names = parse_database_names(transport.run(list_databases_argv(database), timeout=120).stdout)
            if database.name in names:
                databases.append(f"{database.engine}:{database.name}")
        return [p for p in present if p], databases

    def _databases(self, step: PlannedStep) -> list:
        service = self.loaded.inventory.services[step.inputs["service"]]
        return list(service.databases)

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        unsafe = [path for path in step.inputs["paths"] if unsafe_to_remove(path)]
        if unsafe:
            return Refuse(f"not removing {', '.join(unsafe)}: a top-level folder; remove what is the tenant's "
                          "by hand")
        paths, databases = self._present(step)
        return GO if paths or databases else Done("no data folder or database left on the host")

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        assert step.host is not None
        transport = self.transports(step.host)
        paths, present = self._present(step)
        if paths:
            # `--one-file-system`: a mount under a data folder (another disk) is never followed
            transport.run(["rm", "-rf", "--one-file-system", "--", *paths], timeout=3600)
        dropped = []
        for database in self._databases(step):
            if f"{database.engine}:{database.name}" in present:
                transport.run(drop_argv(database, database.name), timeout=600)
                dropped.append(f"{database.engine}:{database.name}")
        return StepOutput("changed", {"removed": paths, "dropped": dropped})


@dataclass
class ForgetAll:
    """Every snapshot of the service (tag service:NAME) forgotten in one repository."""

    loaded: LoadedInventory
    transports: Callable[[str], Transport]
    secrets: Secrets

    def _snapshots(self, step: PlannedStep) -> list[str]:
        assert step.host is not None
        found = list_repository_snapshots(self.loaded, step.inputs["repository"], self.transports(step.host),
                                          secrets=self.secrets, service=step.inputs["service"])
        return [snapshot.id for snapshot in found]

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO if self._snapshots(step) else Done("no snapshot of it left")

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        assert step.host is not None
        inventory = self.loaded.inventory
        repository = inventory.repositories[step.inputs["repository"]]
        ids = self._snapshots(step)
        argv = build_forget_ids_argv(inventory.hosts[step.host].restic, repository.url, ids)
        password = self.secrets.resolve(repository.password).reveal()
        done = run_restic_waiting_for_lock(self.transports(step.host), argv, password, wait=FORGET_LOCK_WAIT,
                                           timeout=FORGET_TIMEOUT)
        if not done.succeeded:
            raise done.error(f"forget the snapshots of {step.inputs['service']}")
        return StepOutput("changed", {"forgotten": len(ids), "command": shlex.join(argv[:4]) + " …",
                                      "note": "the space comes back at the next `chaton prune`"})


def remove_tenant(loaded: LoadedInventory, plan: Plan, *, args: list[str], warn: Callable[[str], None],
                  on_event: EventSink | None = None) -> RunResult:
    """`chaton tenant remove` as one use case: the locks of its services and repositories, the hosts,
    the journal, then the plan, then the admins told (delivery problems to `warn`)."""
    from chaton_ops.ops.compose import inventory_secrets, network_probes, playbook_templates, run_on_hosts

    secrets, templates, probes = inventory_secrets(loaded), playbook_templates(), network_probes()
    return run_on_hosts(loaded, plan, lambda transports, journal: run_removal(
        loaded, plan, transports=transports, secrets=secrets, templates=templates, probes=probes, journal=journal,
        args=args, on_event=on_event), warn=warn, wait_option=False)


def run_removal(loaded: LoadedInventory, plan: Plan, *, transports: Callable[[str], Transport], secrets: Secrets,
                templates: TemplatesFor, probes: Probes, journal: RunJournal, args: list[str],
                on_event: EventSink | None = None) -> RunResult:
    run_id = start_run(journal, plan, args)
    actions: dict[str, Action] = {"export": Export(loaded, transports, secrets),
                                  "undeploy": Undeploy(loaded, transports, templates, probes),
                                  "remove-data": RemoveData(loaded, transports),
                                  "forget": ForgetAll(loaded, transports, secrets)}
    return apply_plan(plan, actions, journal, run_id, on_event=on_event)


def inventory_advice(loaded: LoadedInventory, tenant: str) -> str:
    """What the admins remove from the inventory themselves (chaton never edits it)."""
    services = loaded.inventory.services_of(tenant)
    where = json.dumps(services)
    return (f"now remove tenants.{tenant}" + (f" and services {where}" if services else "")
            + " from the inventory, and run `chaton prune` to free the repository space")
