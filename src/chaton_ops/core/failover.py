"""Failover, rehearsal and failback as pure planning: facts in, a runbook plan out (core/runbook.py).

The plan of a failover, per service in priority order:
  phase 1, on the source (only when it still answers: a planned migration): stop, final backup;
  phase 2, on the fallback: exact restore, deploy, after_restore steps, local check, placement;
  phase 3: DNS switch (only once the local check passed);
  phase 4: verification from outside, through the new name.
A rehearsal runs phase 2 without the placement, then undoes it on the fallback; a failback backs up
on the fallback, restores, deploys and checks at home, puts the DNS records recorded before the
failover back, verifies, then stops the service on the fallback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.core.units import format_bytes
from chaton_ops.errors import UsageError

# Assumed when no restore or drill has measured the fallback's speed yet (bytes/s): conservative.
ASSUMED_RESTORE_SPEED = 30 * 1024 * 1024
# Deploy, after_restore and checks of one service, in seconds, on top of its restore.
SERVICE_OVERHEAD_SECONDS = 15.0


# ---------------------------------------------------------------------------------------------
# Which services
# ---------------------------------------------------------------------------------------------


def select_failover_services(inventory: Inventory, to: str, names: Sequence[str] = (), *,
                             source: str | None = None) -> list[str]:
    """The services to move to `to`: those named, or those placed on `source`, or every service whose
    fallback is `to`; always only services whose fallback is `to`; in priority order."""
    if to not in inventory.hosts:
        raise UsageError(f"unknown host: {to} (known: {', '.join(sorted(inventory.hosts))})")
    if inventory.hosts[to].kind != "fallback":
        raise UsageError(f"{to} is not a fallback host (hosts.{to}.kind is {inventory.hosts[to].kind})")
    if source is not None and source not in inventory.hosts:
        raise UsageError(f"unknown host: {source} (known: {', '.join(sorted(inventory.hosts))})")
    unknown = [n for n in names if n not in inventory.services]
    if unknown:
        raise UsageError(f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(inventory.services)) or 'none'})")
    elsewhere = [n for n in names if inventory.services[n].fallback != to]
    if elsewhere:
        described = ", ".join(f"{n} ({'no fallback' if inventory.services[n].fallback is None else 'fallback ' + str(inventory.services[n].fallback)})"
                              for n in elsewhere)
        raise UsageError(f"not failed over to {to}: {described}; set services.NAME.fallback: {to} in the inventory")
    if names:
        chosen = list(dict.fromkeys(names))
    else:
        chosen = [n for n, s in inventory.services.items()
                  if s.fallback == to and (source is None or s.host == source)]
        if not chosen:
            where = f" placed on {source}" if source else ""
            raise UsageError(f"no service{where} has {to} as its fallback")
    return inventory.services_by_priority(chosen)


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotFact:
    id: str
    time: dt.datetime
    bytes: int | None = None

    def age_seconds(self, now: dt.datetime) -> float:
        return max(0.0, (now - self.time).total_seconds())


@dataclass(frozen=True)
class ServiceFacts:
    name: str
    source: str  # where it runs now
    home: str  # where the inventory says it runs
    snapshot: SnapshotFact | None
    has_playbook: bool = False
    has_after_restore: bool = False
    has_stop: bool = False
    has_check: bool = False
    dns_zones: tuple[str, ...] = ()
    already_there: bool = False  # placed on the fallback already


@dataclass(frozen=True)
class HostFacts:
    name: str
    address: str
    answers: bool
    problem: str | None = None  # why it does not answer
    restic: str | None = None  # version
    free_bytes: int | None = None
    capacity_bytes: int | None = None


@dataclass(frozen=True)
class FailoverFacts:
    fallback: HostFacts
    sources: dict[str, HostFacts]
    services: tuple[ServiceFacts, ...]
    now: dt.datetime
    restore_speed: float | None = None  # bytes/s measured by earlier restores and drills on the fallback
    # each service's DNS records as the zone's primary holds them now: zone → [record set as dict]
    records: dict[str, dict[str, list[dict[str, object]]]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # preflight problems: refuse before any change
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceEstimate:
    service: str
    source: str
    source_answers: bool
    snapshot: SnapshotFact | None
    data_age_seconds: float | None  # RPO: what would be lost (0 with a final backup)
    bytes: int | None
    seconds: float  # estimated duration


@dataclass(frozen=True)
class FailoverPlan:
    plan: Plan
    estimates: tuple[ServiceEstimate, ...]
    total_bytes: int
    estimated_seconds: float
    speed: float
    speed_measured: bool
    refusals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------------
# Failover and rehearsal
# ---------------------------------------------------------------------------------------------


def plan_failover(facts: FailoverFacts, *, final_backup: bool = True, rehearse: bool = False) -> FailoverPlan:
    """The runbook of a failover (or a rehearsal) from the facts gathered; refusals when it must not start."""
    fallback = facts.fallback.name
    speed = facts.restore_speed or ASSUMED_RESTORE_SPEED
    steps: list[PlannedStep] = []
    estimates: list[ServiceEstimate] = []
    refusals = list(facts.problems)
    for service in facts.services:
        source = facts.sources.get(service.source)
        answers = bool(source and source.answers) and not service.already_there
        if service.snapshot is None and not (answers and final_backup and not rehearse):
            refusals.append(f"service {service.name} has no snapshot to restore (back it up first, or fail over "
                            f"while {service.source} still answers so that a final backup is taken)")
        with_final = answers and final_backup and not rehearse
        size = service.snapshot.bytes if service.snapshot else None
        estimates.append(ServiceEstimate(
            service.name, service.source, answers, service.snapshot,
            0.0 if with_final else (service.snapshot.age_seconds(facts.now) if service.snapshot else None),
            size, (size or 0) / speed + SERVICE_OVERHEAD_SECONDS))
        if not rehearse:
            steps += _source_steps(service, source, final_backup)
        steps += _fallback_steps(service, fallback, facts.fallback.address, with_final, rehearse)
        if rehearse and not service.already_there:
            steps.append(PlannedStep(f"undo:{service.name}@{fallback}", "undo",
                                     f"{service.name}: put {fallback} back as it was", host=fallback,
                                     target=service.name, phase=3, lane=f"undo:{service.name}",
                                     inputs={"service": service.name, "host": fallback, "rehearsal": True}))
        else:
            steps += _dns_and_verify_steps(service, fallback, facts.fallback.address, facts.records.get(service.name, {}))
    total = sum(e.bytes or 0 for e in estimates)
    refusals += _capacity_refusals(facts.fallback, total)
    plan = Plan("failover" if not rehearse else "rehearsal", tuple(steps), inputs={
        "to": fallback, "fallback_address": facts.fallback.address, "rehearse": rehearse,
        "final_backup": final_backup, "services": [s.name for s in facts.services],
        "snapshots": {s.name: (s.snapshot.id if s.snapshot else None) for s in facts.services},
        "estimated_seconds": round(sum(e.seconds for e in estimates), 1),
        "warnings": list(facts.warnings),
    })
    return FailoverPlan(plan, tuple(estimates), total, sum(e.seconds for e in estimates), speed,
                        facts.restore_speed is not None, tuple(refusals), facts.warnings)


def _source_steps(service: ServiceFacts, source: HostFacts | None, final_backup: bool) -> list[PlannedStep]:
    host = service.source
    lane = f"source:{service.name}"
    base = {"service": service.name, "host": host}
    if service.already_there:
        reason = "already runs on the fallback"
    elif source is None or not source.answers:
        why = source.problem if source and source.problem else "does not answer"
        reason = f"{host} {why}: never touched again"
    elif not final_backup:
        reason = "--no-final-backup: the latest snapshot is restored as it is"
    else:
        reason = ""
    stop_noop = reason or (None if service.has_stop else "the playbook has no stop: commands")
    return [
        PlannedStep(f"stop:{service.name}@{host}", "stop", f"{service.name}: stop on {host}", host=host,
                    target=service.name, phase=1, lane=lane, inputs=base, noop=stop_noop),
        PlannedStep(f"final-backup:{service.name}@{host}", "backup",
                    f"{service.name}: final backup on {host}", host=host, target=service.name, phase=1,
                    lane=lane, inputs=base, noop=reason or None),
    ]


def _fallback_steps(service: ServiceFacts, fallback: str, address: str, with_final: bool,
                    rehearse: bool) -> list[PlannedStep]:
    name = service.name
    lane = f"fallback:{name}"
    base = {"service": name, "host": fallback}
    there = "already runs on the fallback" if service.already_there else None
    needs = (f"final-backup:{name}@{service.source}",) if with_final else ()
    steps = [
        PlannedStep(f"restore:{name}@{fallback}", "restore", f"{name}: restore on {fallback}", host=fallback,
                    target=name, phase=2, lane=lane, needs=needs,
                    inputs={**base, "snapshot": "latest" if with_final or not service.snapshot else service.snapshot.id},
                    noop=there),
        PlannedStep(f"deploy:{name}@{fallback}", "deploy", f"{name}: deploy on {fallback}", host=fallback,
                    target=name, phase=2, lane=lane, inputs={**base, "phase": "steps"},
                    noop=there or (None if service.has_playbook else "no playbook: the restored data is all")),
        PlannedStep(f"after-restore:{name}@{fallback}", "deploy", f"{name}: after_restore steps on {fallback}",
                    host=fallback, target=name, phase=2, lane=lane, inputs={**base, "phase": "after_restore"},
                    noop=there or (None if service.has_after_restore else "the playbook has no after_restore steps")),
        PlannedStep(f"check-local:{name}@{fallback}", "check", f"{name}: check on {fallback}", host=fallback,
                    target=name, phase=2, lane=lane, inputs={**base, "address": address, "where": "local"},
                    noop=None if service.has_check else "no check in the inventory (services.NAME.check)"),
    ]
    if not rehearse:
        steps.append(PlannedStep(f"place:{name}", "place", f"{name}: runs on {fallback} now", host=fallback,
                                 target=name, phase=2, lane=lane,
                                 inputs={"service": name, "host": fallback, "home": service.home,
                                         "reason": "failover"}, noop=there))
    return steps


def _dns_and_verify_steps(service: ServiceFacts, fallback: str, address: str,
                          records: dict[str, list[dict[str, object]]]) -> list[PlannedStep]:
    name = service.name
    dns_needs = (f"check-local:{name}@{fallback}", f"place:{name}")
    no_records = None if service.dns_zones else "no DNS records in the inventory (services.NAME.dns)"
    return [
        PlannedStep(f"dns:{name}", "dns", f"{name}: DNS records to {fallback}", target=name, phase=3,
                    lane=f"dns:{name}", needs=dns_needs,
                    # the records as read before the switch: what failback puts back
                    inputs={"service": name, "host": fallback, "address": address, "records_before": records},
                    noop=no_records),
        PlannedStep(f"verify:{name}", "check", f"{name}: check from outside", target=name, phase=4,
                    lane=f"verify:{name}", needs=(f"dns:{name}",),
                    inputs={"service": name, "host": fallback, "where": "outside"},
                    noop=None if service.has_check else "no check in the inventory (services.NAME.check)"),
    ]


def _capacity_refusals(fallback: HostFacts, total: int) -> list[str]:
    refusals = []
    if fallback.capacity_bytes is not None and total > fallback.capacity_bytes:
        refusals.append(f"{fallback.name} cannot take {format_bytes(total)} of data: its inventory capacity is "
                        f"{format_bytes(fallback.capacity_bytes)} (hosts.{fallback.name}.capacity.disk_gb)")
    if fallback.free_bytes is not None and total > fallback.free_bytes:
        refusals.append(f"{fallback.name} has {format_bytes(fallback.free_bytes)} free, the services need "
                        f"{format_bytes(total)}")
    return refusals


# ---------------------------------------------------------------------------------------------
# Failback
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailbackService:
    name: str
    fallback: str  # where it runs now
    home: str
    failover_run: int | None
    has_playbook: bool = False
    has_after_restore: bool = False
    has_stop: bool = False
    has_check: bool = False
    dns_zones: tuple[str, ...] = ()


def select_failback_services(placed_away: dict[str, tuple[str, str]], names: Sequence[str]) -> list[str]:
    """Services to bring home: those named (each must be away), else every service away from home.
    `placed_away` maps a service to (where it runs, its home)."""
    if names:
        home_already = [n for n in names if n not in placed_away]
        if home_already:
            raise UsageError(f"not failed over (already at home): {', '.join(home_already)}")
        return list(dict.fromkeys(names))
    if not placed_away:
        raise UsageError("no service is failed over: nothing to bring home")
    return sorted(placed_away)


def plan_failback(services: Sequence[FailbackService], *, home_addresses: dict[str, str], stop_first: bool = False,
                  clean: bool = False) -> Plan:
    steps: list[PlannedStep] = []
    for service in services:
        name, fallback, home = service.name, service.fallback, service.home
        base = {"service": name, "host": fallback}
        lane_away, lane_home = f"fallback:{name}", f"home:{name}"
        stop_noop = None if service.has_stop else "the playbook has no stop: commands"
        if stop_first:
            steps.append(PlannedStep(f"stop-first:{name}@{fallback}", "stop", f"{name}: stop on {fallback}",
                                     host=fallback, target=name, phase=1, lane=lane_away, inputs=base,
                                     noop=stop_noop))
        steps += [
            PlannedStep(f"final-backup:{name}@{fallback}", "backup", f"{name}: back up on {fallback}",
                        host=fallback, target=name, phase=1, lane=lane_away, inputs=base),
            PlannedStep(f"restore:{name}@{home}", "restore", f"{name}: restore on {home}", host=home, target=name,
                        phase=2, lane=lane_home, needs=(f"final-backup:{name}@{fallback}",),
                        inputs={"service": name, "host": home, "snapshot": "latest"}),
            PlannedStep(f"deploy:{name}@{home}", "deploy", f"{name}: deploy on {home}", host=home, target=name,
                        phase=2, lane=lane_home, inputs={"service": name, "host": home, "phase": "steps"},
                        noop=None if service.has_playbook else "no playbook: the restored data is all"),
            PlannedStep(f"after-restore:{name}@{home}", "deploy", f"{name}: after_restore steps on {home}",
                        host=home, target=name, phase=2, lane=lane_home,
                        inputs={"service": name, "host": home, "phase": "after_restore"},
                        noop=None if service.has_after_restore else "the playbook has no after_restore steps"),
            PlannedStep(f"check-local:{name}@{home}", "check", f"{name}: check on {home}", host=home, target=name,
                        phase=2, lane=lane_home,
                        inputs={"service": name, "host": home, "address": home_addresses[home], "where": "local"},
                        noop=None if service.has_check else "no check in the inventory (services.NAME.check)"),
            PlannedStep(f"dns:{name}", "dns-back", f"{name}: DNS records back as before the failover", target=name,
                        phase=3, lane=f"dns:{name}", needs=(f"check-local:{name}@{home}",),
                        inputs={"service": name, "host": home, "failover_run": service.failover_run,
                                "zones": list(service.dns_zones)},
                        noop=None if service.dns_zones else "no DNS records in the inventory (services.NAME.dns)"),
            PlannedStep(f"verify:{name}", "check", f"{name}: check from outside", target=name, phase=4,
                        lane=f"verify:{name}", needs=(f"dns:{name}",),
                        inputs={"service": name, "host": home, "where": "outside"},
                        noop=None if service.has_check else "no check in the inventory (services.NAME.check)"),
            PlannedStep(f"place:{name}", "place", f"{name}: runs on {home} again", host=home, target=name, phase=4,
                        lane=f"verify:{name}", needs=(f"dns:{name}",),
                        inputs={"service": name, "host": home, "home": home, "reason": "failback"}),
        ]
        if not stop_first:
            steps.append(PlannedStep(f"stop:{name}@{fallback}", "stop", f"{name}: stop on {fallback}", host=fallback,
                                     target=name, phase=5, lane=f"leave:{name}", needs=(f"place:{name}",),
                                     inputs=base, noop=stop_noop))
        if clean:
            steps.append(PlannedStep(f"clean:{name}@{fallback}", "undo", f"{name}: {fallback} back as before the "
                                     f"failover", host=fallback, target=name, phase=6, lane=f"leave:{name}",
                                     needs=(f"place:{name}",),
                                     inputs={**base, "failover_run": service.failover_run, "rehearsal": False}))
    return Plan("failback", tuple(steps), inputs={"services": [s.name for s in services],
                                                  "stop_first": stop_first, "clean": clean})


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
