"""Use case `status`: gather every fact and probe at once, then judge them.

Host facts (one SSH round trip per host), service probes (HTTP, SMTP, TCP from this machine), DNS
answers and repository queries all run in one bounded pool, each under its own timeout, so a slow
or dead host costs its own timeout and delays nobody else. Judging is pure (core/host_facts.py,
core/probes.py, core/readiness.py); a host that cannot be reached is reported once, with the
failing probes of its services folded into it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chaton_ops.core.dns_checks import Answer, evaluate_records
from chaton_ops.core.health import Finding, StatusReport, fold_unreachable, limits_for, silence_reason
from chaton_ops.core.host_facts import HostFacts, clock_offset, evaluate_host, facts_argv, parse_host_facts
from chaton_ops.core.inventory import DnsRecord, HttpCheck, Inventory, SmtpCheck, TcpCheck
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import Dns, Probes, Transport
from chaton_ops.core.probes import evaluate_http, evaluate_smtp, evaluate_tcp
from chaton_ops.core.readiness import (
    BackupState,
    FallbackSpace,
    RecordedStep,
    backed_up,
    backup_states_from_journal,
    evaluate_backup,
    evaluate_capacity,
    evaluate_drill,
    latest_drills,
    service_sizes,
)
from chaton_ops.errors import ChatonError, ConnectError, DnsError, UsageError

if TYPE_CHECKING:  # the Proxmox modules load only for an inventory with clusters
    from chaton_ops.ops.vm.inspect import VmHealthReport

log = logging.getLogger(__name__)

DEFAULT_JOBS = 32  # checks are light and mostly wait on the network
FACTS_EXTRA_SECONDS = 20.0  # the facts script's own bounded waits (df, lookup) on top of the connect timeout

SnapshotLookup = Callable[[str, str, str], dt.datetime | None]  # (service, repository, host) → newest
GuestsLookup = Callable[[], "VmHealthReport"]  # every Proxmox guest's health (ops/vm/inspect.vm_health)


@dataclass(frozen=True)
class Selection:
    hosts: tuple[str, ...]
    services: tuple[str, ...]


@dataclass(frozen=True)
class JournalView:
    """What status reads from the journal (read-only), newest first."""

    backups: tuple[RecordedStep, ...] = ()
    drills: tuple[RecordedStep, ...] = ()


@dataclass
class _HostOutcome:
    facts: HostFacts | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


def select(inventory: Inventory, hosts: Sequence[str] = (), services: Sequence[str] = ()) -> Selection:
    """Everything, or the named hosts (with their services) and services (with their hosts)."""
    unknown_hosts = [name for name in hosts if name not in inventory.hosts]
    unknown_services = [name for name in services if name not in inventory.services]
    if unknown_hosts:
        raise UsageError(f"unknown host: {', '.join(unknown_hosts)} (known: {', '.join(sorted(inventory.hosts))})")
    if unknown_services:
        raise UsageError(f"unknown service: {', '.join(unknown_services)} "
                         f"(known: {', '.join(sorted(inventory.services)) or 'none'})")
    if not hosts and not services:
        return Selection(tuple(inventory.hosts), tuple(inventory.services))
    chosen_services = list(dict.fromkeys([*services, *(s for h in hosts for s in inventory.services_on(h))]))
    chosen_hosts = list(dict.fromkeys([*hosts, *(inventory.services[s].host for s in services)]))
    return Selection(tuple(chosen_hosts), tuple(chosen_services))


def resolver_lookup_name(inventory: Inventory) -> str | None:
    """The name every host must be able to resolve: `defaults.resolver_lookup`, else the first service
    record (www.example.org). None: no name known to exist (a domain's apex often has no address), so
    the hosts' resolvers are not checked rather than reported broken for a name that does not exist."""
    if inventory.defaults.resolver_lookup:
        return inventory.defaults.resolver_lookup
    for service in inventory.services.values():
        for record in service.dns:
            return record.zone if record.name == "@" else f"{record.name}.{record.zone}"
    return None


def gather_status(
    loaded: LoadedInventory,
    *,
    transports: Callable[[str], Transport],
    probes: Probes,
    journal: JournalView,
    snapshots: SnapshotLookup | None = None,
    dns: Dns | None = None,
    vms: GuestsLookup | None = None,
    selection: Selection | None = None,
    jobs: int = DEFAULT_JOBS,
    silences: Mapping[str, dt.datetime] | None = None,
    now: dt.datetime | None = None,
) -> StatusReport:
    inventory = loaded.inventory
    chosen = selection or select(inventory)
    lookup = resolver_lookup_name(inventory)
    states = backup_states_from_journal(journal.backups)
    wanted_backups = [(service, repository) for service in chosen.services if backed_up(inventory, service)
                      for repository in inventory.repositories_for(service)]
    fallbacks = _fallbacks_to_measure(inventory, chosen)
    host_names = list(dict.fromkeys([*chosen.hosts, *fallbacks]))
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="status") as pool:
        host_futures = {host: pool.submit(_gather_host, inventory, host, transports, lookup) for host in host_names}
        probe_futures = [pool.submit(_probe_service, inventory, service, probes, dns) for service in chosen.services]
        repository_futures: dict[tuple[str, str], Future[BackupState]] = {
            key: pool.submit(_ask_repository, inventory, key, snapshots)
            for key in wanted_backups if key not in states and snapshots is not None
        }
        dns_futures = _ask_dns(pool, inventory, chosen, dns) if dns is not None else []
        vm_future = pool.submit(_ask_guests, vms) if vms is not None else None
        outcomes = {host: future.result() for host, future in host_futures.items()}
        probe_findings = [finding for future in probe_futures for finding in future.result()]
        dns_findings = [finding for service, record, answers in dns_futures
                        for finding in evaluate_records(inventory, service, record,
                                                        {server: answer.result() for server, answer in answers.items()})]
        asked = {key: future.result() for key, future in repository_futures.items()}
        guests = vm_future.result() if vm_future is not None else None
    checked_at = now or dt.datetime.now(dt.UTC)
    findings: list[Finding] = []
    for host in chosen.hosts:
        findings.extend(outcomes[host].findings)
    findings.extend(probe_findings)
    findings.extend(dns_findings)
    for service, repository in wanted_backups:
        state = states.get((service, repository)) or asked.get((service, repository)) or BackupState()
        max_age = inventory.services[service].max_age_hours or inventory.defaults.max_age_hours
        findings.append(evaluate_backup(service, inventory.services[service].host, repository, state, max_age,
                                        checked_at))
    findings.extend(_readiness(inventory, chosen, states, journal, outcomes, checked_at))
    if guests is not None:
        from chaton_ops.core.vm_checks import evaluate_guests

        findings.extend(evaluate_guests(guests.guests, guests.errors, set(chosen.hosts)))
    folded = fold_unreachable(findings)
    active = dict(silences or {})
    marked = [replace(finding, silenced=silence_reason(inventory, finding, checked_at, active)) for finding in folded]
    return StatusReport(checked_at, tuple(marked), tuple(_notes(inventory, chosen, dns, lookup)))


def _fallbacks_to_measure(inventory: Inventory, chosen: Selection) -> list[str]:
    return list(dict.fromkeys(inventory.services[s].fallback for s in chosen.services  # type: ignore[misc]
                              if inventory.services[s].fallback is not None))


def _gather_host(inventory: Inventory, host: str, transports: Callable[[str], Transport],
                 lookup: str | None) -> _HostOutcome:
    """One round trip: the facts script. A host that cannot be reached gives one finding saying so."""
    limits = limits_for(inventory, host=host)
    timeout = inventory.ssh_for(host).connect_timeout + FACTS_EXTRA_SECONDS
    try:
        transport = transports(host)
        connect = getattr(transport, "connect", None)
        if connect is not None:  # the handshake is not part of the clock measurement
            connect()
        sent = time.time()
        result = transport.run(facts_argv(lookup or ""), timeout=timeout, check=False)
        received = time.time()
    except ConnectError as error:
        return _HostOutcome(error=error.cause, findings=[Finding(
            "hosts", host, "reachable", "critical", f"cannot be reached: {mask_text(error.cause)}", host=host,
            unreachable=True, affects=tuple(inventory.services_on(host)))])
    except ChatonError as error:
        return _HostOutcome(error=error.message, findings=[Finding(
            "hosts", host, "facts", "unknown", f"facts not gathered: {mask_text(error.message)}", host=host)])
    except Exception as error:  # noqa: BLE001 - one host's surprise must not hide the others' results
        log.debug("facts of %s failed unexpectedly", host, exc_info=True)
        return _HostOutcome(error=_unexpected(error), findings=[Finding(
            "hosts", host, "facts", "unknown", f"facts not gathered: {_unexpected(error)}", host=host)])
    facts = parse_host_facts(result.stdout)
    findings = evaluate_host(host, facts, limits, lookup=lookup, offset=clock_offset(facts, sent, received))
    if facts.problems:
        findings.append(Finding("hosts", host, "facts", "unknown",
                                f"not readable on this host: {', '.join(facts.problems)}", host=host))
    return _HostOutcome(facts=facts, findings=findings)


DnsQueries = list[tuple[str, DnsRecord, dict[str, "Future[Answer]"]]]


def _ask_dns(pool: ThreadPoolExecutor, inventory: Inventory, chosen: Selection, dns: Dns) -> DnsQueries:
    """Each service record asked of every authoritative server of its zone, each query in the pool.
    The zones' server lists come first (one question to each zone's primary)."""
    records = [(service, record) for service in chosen.services for record in inventory.services[service].dns
               if record.zone in inventory.dns]
    zones = {zone: pool.submit(dns.authoritative_servers, zone) for zone in dict.fromkeys(r.zone for _, r in records)}
    servers: dict[str, list[str] | str] = {}
    for zone, future in zones.items():
        try:
            servers[zone] = future.result()
        except DnsError as error:
            servers[zone] = f"the zone's servers are unknown: {mask_text(error.message)}"
        except Exception as error:  # noqa: BLE001 - see _query
            servers[zone] = f"the zone's servers are unknown: {_unexpected(error)}"
    queries: DnsQueries = []
    for service, record in records:
        listed = servers[record.zone]
        if isinstance(listed, str):
            failed: Future[Answer] = Future()
            failed.set_result(listed)
            queries.append((service, record, {inventory.dns[record.zone].server: failed}))
            continue
        port = inventory.dns[record.zone].port
        queries.append((service, record, {server: pool.submit(_query, dns, server, record, port) for server in listed}))
    return queries


def _query(dns: Dns, server: str, record: DnsRecord, port: int) -> Answer:
    try:
        return dns.query(server, record.zone, record.name, record.type, port=port)
    except DnsError as error:
        return mask_text(error.message)
    except Exception as error:  # noqa: BLE001 - one server's odd answer must not hide the others
        log.debug("query of %s failed unexpectedly", server, exc_info=True)
        return _unexpected(error)


def _ask_guests(vms: GuestsLookup) -> VmHealthReport:
    from chaton_ops.ops.vm.inspect import VmHealthReport

    try:
        return vms()
    except ChatonError as error:  # vm_health reports each cluster; this is the rest (a token not resolved)
        return VmHealthReport((), {"proxmox": mask_text(error.message)})
    except Exception as error:  # noqa: BLE001 - the clusters' surprise must not hide the other checks
        log.debug("vm health failed unexpectedly", exc_info=True)
        return VmHealthReport((), {"proxmox": _unexpected(error)})


def _probe_service(inventory: Inventory, service: str, probes: Probes, dns: Dns | None) -> list[Finding]:
    """The service's probes; a name in one of the inventory's zones is reached at the address its
    authoritative servers give (the DNS section checks the records themselves)."""
    declared = inventory.services[service]
    check = declared.check
    if check is None:
        return []
    limits = limits_for(inventory, service=service)
    host = declared.host
    found: list[Finding] = []
    for kind, probe in (("http", check.http), ("smtp", check.smtp), ("tcp", check.tcp)):
        if probe is None:
            continue
        try:
            address = _authoritative_address(dns, probe)
            if isinstance(probe, HttpCheck):
                found.append(evaluate_http(service, host, probe, probes.http(probe, address=address), limits))
            elif isinstance(probe, SmtpCheck):
                found.append(evaluate_smtp(service, host, probe, probes.smtp(probe, address=address), limits))
            else:
                found.append(evaluate_tcp(service, host, probe, probes.tcp(probe, address=address), limits))
        except Exception as error:  # noqa: BLE001 - a probe's bug must not hide the other checks
            log.debug("%s probe of %s failed unexpectedly", kind, service, exc_info=True)
            found.append(Finding("services", service, kind, "unknown", f"probe failed: {_unexpected(error)}",
                                 host=host, service=service))
    return found


def _authoritative_address(dns: Dns | None, probe: HttpCheck | SmtpCheck | TcpCheck) -> str | None:
    if dns is None:
        return None
    if isinstance(probe, HttpCheck):
        import httpx

        name = str(httpx.URL(probe.url).host)
    else:
        name = probe.host
    try:
        return dns.address_of(name)
    except DnsError:
        return None  # the probe then resolves the name itself, and says so when it cannot


def _unexpected(error: Exception) -> str:
    return mask_text(f"unexpected error: {type(error).__name__}: {error}".rstrip(": "))


def _ask_repository(inventory: Inventory, key: tuple[str, str], snapshots: SnapshotLookup | None) -> BackupState:
    """The newest snapshot from the repository itself, for a service the journal knows nothing about."""
    service, repository = key
    if snapshots is None:
        return BackupState()
    try:
        newest = snapshots(service, repository, inventory.services[service].host)
    except ConnectError as error:
        return BackupState(error=f"{error.host} unreachable")
    except ChatonError as error:
        return BackupState(error=mask_text(error.message))
    except Exception as error:  # noqa: BLE001 - a repository's surprise must not hide the other checks
        log.debug("snapshots of %s in %s failed unexpectedly", service, repository, exc_info=True)
        return BackupState(error=_unexpected(error))
    return BackupState(newest, "repository")


def _readiness(inventory: Inventory, chosen: Selection, states: Mapping[tuple[str, str], BackupState],
               journal: JournalView, outcomes: Mapping[str, _HostOutcome], now: dt.datetime) -> list[Finding]:
    findings: list[Finding] = []
    drills = latest_drills(journal.drills)
    for service in chosen.services:
        if backed_up(inventory, service):
            findings.append(evaluate_drill(service, inventory.services[service].host, drills.get(service),
                                           limits_for(inventory, service=service), now))
    sizes = service_sizes(states, drills)
    for fallback in _fallbacks_to_measure(inventory, chosen):
        moving = [name for name, service in inventory.services.items()
                  if service.fallback == fallback and service.host != fallback]
        if not moving:
            continue
        facts = outcomes[fallback].facts if fallback in outcomes else None
        space = FallbackSpace({fs.mount: fs.available_kb for fs in facts.filesystems}) if facts else None
        findings.append(evaluate_capacity(inventory, fallback, moving, sizes, space))
    return findings


def _notes(inventory: Inventory, chosen: Selection, dns: Dns | None, lookup: str | None) -> list[str]:
    notes = []
    if lookup is None and chosen.hosts:
        notes.append("the hosts' resolvers are not checked: set defaults.resolver_lookup to a name that exists")
    if dns is None and any(inventory.services[s].dns for s in chosen.services):
        notes.append("DNS records: not checked (no DNS port given)")
    return notes
