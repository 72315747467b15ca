"""Facts of a failover, gathered in parallel and changing nothing (the preflight):

- the fallback answers, has restic (its version) and free disk;
- each source host answers or not, waited on no longer than its connect timeout (a dead primary is
  then never touched again);
- the repository is reachable *from the fallback*, with the password: the newest snapshot of each
  service, its time (the data a failover without final backup loses) and size;
- each DNS zone involved: its server answers and takes the TSIG key (a preflight update that changes
  nothing); the service's records as they are now (what a failback puts back);
- for mail services, warnings when the zone's SPF record or the reverse DNS do not cover the fallback;
- the restore speed measured on the fallback by earlier restores and drills (the estimate).
"""

from __future__ import annotations

import ipaddress
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaton_ops.core.dns import address_family_matches, relative_name, spf_verdict
from chaton_ops.core.failover import FailoverFacts, HostFacts, ServiceFacts, SnapshotFact
from chaton_ops.core.free_space import parse_df_posix
from chaton_ops.core.inventory import TcpCheck
from chaton_ops.errors import ChatonError, ConnectError, DnsError
from chaton_ops.ops.failover.context import FailoverContext
from chaton_ops.ops.failover.playbooks import playbook_features
from chaton_ops.ops.restore import prepare_restore

GIB = 1024**3
LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")  # the local transport: nothing to connect to
# restores smaller than this measure fixed costs (key derivation, connections), not speed
MIN_MEASURED_BYTES = 8 * 1024 * 1024


def gather_failover_facts(ctx: FailoverContext, services: Sequence[str], to: str) -> FailoverFacts:
    inventory = ctx.inventory
    sources = sorted({inventory.services[s].host for s in services} - {to})
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="preflight") as pool:
        fallback_job = pool.submit(fallback_facts, ctx, to, services)
        source_jobs = {host: pool.submit(host_answers, ctx, host) for host in sources}
        snapshots_job = pool.submit(latest_snapshots, ctx, to, services)
        dns_job = pool.submit(dns_facts, ctx, services, to)
        fallback = fallback_job.result()
        source_facts = {host: job.result() for host, job in source_jobs.items()}
        snapshots, snapshot_problems = snapshots_job.result()
        records, dns_problems, dns_warnings = dns_job.result()
    problems: list[str] = []
    if not fallback.answers:
        problems.append(f"the fallback {to} cannot be reached: {fallback.problem}")
    problems += snapshot_problems + dns_problems
    facts_by_service = []
    for name in services:
        service = inventory.services[name]
        features = playbook_features(ctx.loaded, name, to)
        facts_by_service.append(ServiceFacts(
            name=name, source=service.host, home=ctx.loaded.home_of(name), snapshot=snapshots.get(name),
            has_playbook=service.playbook is not None, has_after_restore=features.after_restore,
            has_stop=features.stop, has_check=_has_check(service),
            dns_zones=tuple(dict.fromkeys(r.zone for r in service.dns)), already_there=service.host == to))
    return FailoverFacts(fallback=fallback, sources=source_facts, services=tuple(facts_by_service), now=ctx.clock(),
                         restore_speed=measured_restore_speed(ctx, to), problems=tuple(problems),
                         warnings=tuple(dns_warnings), records=records)


def _has_check(service: Any) -> bool:
    check = service.check
    return check is not None and any((check.http, check.smtp, check.tcp))


# ---------------------------------------------------------------------------------------------
# Hosts
# ---------------------------------------------------------------------------------------------


# A host whose SSH port does not even take a TCP connection within this long is dead for the failover:
# a live host's kernel answers a SYN in milliseconds, however loaded it is, and 2 s leave room for one
# lost SYN (resent after 1 s); only then is SSH (with the host's own, longer, connect timeout) tried.
TCP_PROBE_SECONDS = 2.0


def host_answers(ctx: FailoverContext, host: str) -> HostFacts:
    """Whether a host answers SSH: its port takes a TCP connection within TCP_PROBE_SECONDS (or its
    connect timeout, if shorter), then a command runs within its connect timeout."""
    address = ctx.inventory.hosts[host].address
    settings = ctx.inventory.ssh_for(host)
    if address not in LOCAL_ADDRESSES:
        port = ctx.probes.tcp(TcpCheck(host=address, port=settings.port,
                                       timeout=min(TCP_PROBE_SECONDS, settings.connect_timeout)))
        if port.error is not None:
            return HostFacts(host, address, False, problem=f"port {settings.port}: {port.error}")
    try:
        ctx.transports(host).run(["true"], timeout=ctx.inventory.ssh_for(host).connect_timeout, check=True)
    except ConnectError as failure:
        return HostFacts(host, address, False, problem=failure.cause)
    except ChatonError as failure:
        return HostFacts(host, address, False, problem=failure.message)
    return HostFacts(host, address, True)


def fallback_facts(ctx: FailoverContext, host: str, services: Sequence[str]) -> HostFacts:
    """The fallback: reachable, its restic version, the free space where the services' data goes."""
    inventory = ctx.inventory
    settings = inventory.hosts[host]
    capacity = int(settings.capacity.disk_gb * GIB) if settings.capacity else None
    transport = ctx.transports(host)
    try:
        version = ctx.versions.get(transport, settings.restic)
    except ConnectError as failure:
        return HostFacts(host, settings.address, False, problem=failure.cause, capacity_bytes=capacity)
    except ChatonError as failure:
        return HostFacts(host, settings.address, False, problem=failure.message, capacity_bytes=capacity)
    paths = [path for name in services for path in inventory.services[name].data[:1]] or ["/"]
    return HostFacts(host, settings.address, True, restic=".".join(map(str, version)),
                     free_bytes=_least_free_bytes(transport, paths), capacity_bytes=capacity)


def _least_free_bytes(transport: Any, paths: Sequence[str]) -> int | None:
    """Free bytes of the fullest filesystem that would hold `paths` (their nearest existing folder)."""
    script = ('for p; do while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -P -k "$p" | tail -n 1; done')
    result = transport.run(["sh", "-c", script, "sh", *paths], timeout=60, check=False)
    if not result.ok:
        return None
    free = [space.available_bytes for line in result.stdout.splitlines()
            if (space := parse_df_posix("header\n" + line)) is not None]
    return min(free) if free else None


# ---------------------------------------------------------------------------------------------
# Snapshots, from the fallback
# ---------------------------------------------------------------------------------------------


def latest_snapshots(ctx: FailoverContext, to: str, services: Sequence[str]) -> tuple[dict[str, SnapshotFact], list[str]]:
    """Each service's newest snapshot, found by restic on the fallback (which proves the repository is
    reachable from there with the password) by the service's tag, never by host. Each service's
    restore is prepared there at the same time (its snapshot's listing, the destination's state): the
    restore step takes it over when it restores that very snapshot, so the listing is read once, while
    the preflight waits on the source hosts."""
    found: dict[str, SnapshotFact] = {}
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="prepare-restore") as pool:
        jobs = {name: pool.submit(prepare_restore, ctx.loaded, name, ctx.transports, secrets=ctx.secrets,
                                 templates=ctx.templates, snapshot="latest", to=to)
                for name in services if ctx.inventory.services[name].host != to}
        for name, job in jobs.items():
            try:
                prepared = job.result()
            except ChatonError as failure:
                repository = ctx.repository_of(name)
                problems.append(f"repository {repository} cannot be used from {to} for {name}: {failure.message}")
                continue
            plan = prepared.plan
            snapshot = plan.snapshot
            if snapshot is None:
                continue
            ctx.remember_prepared(name, prepared)
            found[name] = SnapshotFact(snapshot.id, snapshot.time, plan.total_bytes)
    return found, problems


def measured_restore_speed(ctx: FailoverContext, host: str) -> float | None:
    """Median bytes/s of the recent restores and drills on `host` big enough to measure speed."""
    speeds = []
    for action in ("restore", "drill"):
        for step in ctx.journal.latest_steps(action, limit=50):
            if step.status not in ("ok", "changed", "warning"):
                continue
            detail = {**step.detail, **step.detail.get("outputs", {})}
            size, took = detail.get("bytes"), detail.get("duration")
            if detail.get("host", step.host) != host or not isinstance(size, int) or not took:
                continue
            if size >= MIN_MEASURED_BYTES:
                speeds.append(size / float(took))
    return statistics.median(speeds) if speeds else None


# ---------------------------------------------------------------------------------------------
# DNS
# ---------------------------------------------------------------------------------------------


def dns_facts(ctx: FailoverContext, services: Sequence[str], to: str
              ) -> tuple[dict[str, dict[str, list[dict[str, object]]]], list[str], list[str]]:
    """The records of each service as they are now, problems (a zone that cannot be updated) and
    warnings (mail from the fallback that SPF or reverse DNS would not vouch for)."""
    inventory = ctx.inventory
    zones = sorted({record.zone for name in services for record in inventory.services[name].dns})
    records: dict[str, dict[str, list[dict[str, object]]]] = {}
    problems: list[str] = []
    warnings: list[str] = []
    if not zones:
        return records, problems, warnings
    dns = ctx.require_dns()
    usable = []
    for zone in zones:
        try:
            dns.check_update_key(zone)
            usable.append(zone)
        except DnsError as failure:
            problems.append(f"zone {zone} cannot be updated: {failure.message}")
    address = inventory.hosts[to].address
    try:
        _read_records(ctx, services, to, address, usable, records, problems, warnings)
    except DnsError as failure:
        problems.append(f"DNS records cannot be read: {failure.message}")
    return records, problems, warnings


def _read_records(ctx: FailoverContext, services: Sequence[str], to: str, address: str, usable: list[str],
                  records: dict[str, dict[str, list[dict[str, object]]]], problems: list[str],
                  warnings: list[str]) -> None:
    dns = ctx.require_dns()
    for name in services:
        service = ctx.inventory.services[name]
        for record in service.dns:
            if record.zone not in usable:
                continue
            if not address_family_matches(record.type, address):
                problems.append(f"service {name}: record {record.name} {record.type} cannot point at {to}'s "
                                f"address {address}")
                continue
            current = dns.read(record.zone, record.name, record.type)
            records.setdefault(name, {}).setdefault(record.zone, []).append(current.as_dict())
        if service.check is not None and service.check.smtp is not None:
            warnings += _mail_warnings(ctx, name, [r.zone for r in service.dns if r.zone in usable], to, address)


def _mail_warnings(ctx: FailoverContext, service: str, zones: Sequence[str], to: str, address: str) -> list[str]:
    dns = ctx.require_dns()
    warnings = []
    for zone in dict.fromkeys(zones):
        txt = dns.read(zone, "@", "TXT").values
        mechanisms = {"a": _addresses(dns.read, zone, "@"),
                      "mx": [a for mx in dns.read(zone, "@", "MX").values
                             for a in _addresses(dns.read, zone, mx.split()[-1])]}
        verdict = spf_verdict(txt, address, mechanisms)
        if verdict is not None:
            warnings.append(f"{service}: {zone}: {verdict}")
    ptr = _reverse_names(ctx, address)
    if ptr is None:
        warnings.append(f"{service}: the reverse DNS of {to} ({address}) was not checked: its reverse zone is not in "
                        f"the inventory's dns section")
    elif not ptr:
        warnings.append(f"{service}: {address} ({to}) has no reverse DNS name: mail sent from there may be rejected")
    return warnings


def _addresses(read: Callable[..., Any], zone: str, name: str) -> list[str]:
    relative = relative_name(zone, name) if name.endswith(".") else name
    if relative.endswith("."):
        return []  # outside the zone: not looked up
    return [*read(zone, relative, "A").values, *read(zone, relative, "AAAA").values]


def _reverse_names(ctx: FailoverContext, address: str) -> list[str] | None:
    """The PTR names of `address` from a reverse zone of the inventory; None when none holds it."""
    reverse = ipaddress.ip_address(address).reverse_pointer + "."
    zones = [z for z in ctx.inventory.dns if reverse.endswith("." + z.rstrip(".") + ".")]
    if not zones:
        return None
    zone = max(zones, key=len)
    return list(ctx.require_dns().read(zone, relative_name(zone, reverse), "PTR").values)
