"""A service's DNS records as findings: every authoritative server must answer the address of the host
where the service runs now (after a failover: its fallback), and the records' TTL must not keep
members on a dead host long after a switch (failover readiness)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from chaton_ops.core.dns import RecordSet, absolute_name, address_family_matches
from chaton_ops.core.health import Finding, Level, worst
from chaton_ops.core.inventory import DnsRecord, Inventory

Answer = RecordSet | str  # what a server answered, or why it did not


def record_title(record: DnsRecord) -> str:
    return f"{absolute_name(record.zone, record.name).rstrip('.')} {record.type}"


def expected_address(inventory: Inventory, service: str, record: DnsRecord) -> str | None:
    """The address the record must hold: its host's, when that is an IP of the record's family."""
    address = inventory.hosts[inventory.services[service].host].address
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address if address_family_matches(record.type, address) else None


def describe_duration(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:g} day{'s' if seconds >= 2 * 86400 else ''}"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds} s"


def evaluate_records(inventory: Inventory, service: str, record: DnsRecord,
                     answers: Mapping[str, Answer]) -> list[Finding]:
    """The record on each authoritative server (`answers`: server → record set or failure text): a
    `dns` finding (right address everywhere) and a `dns-ttl` readiness finding."""
    host = inventory.services[service].host
    title = record_title(record)
    expected = expected_address(inventory, service, record)
    levels: list[Level] = []
    notes: list[str] = []
    served = {server: answer for server, answer in answers.items() if isinstance(answer, RecordSet)}
    for server, answer in answers.items():
        if isinstance(answer, str):
            levels.append("warning")
            notes.append(f"{server} does not answer ({answer})")
        elif not answer.exists:
            levels.append("critical")
            notes.append(f"{server} has no such record")
        elif expected is not None and expected not in answer.values:
            levels.append("critical")
            notes.append(f"{server} answers {' '.join(answer.values)} instead of {expected} ({host})")
        elif expected is not None and len(answer.values) > 1:
            levels.append("warning")
            notes.append(f"{server} also answers {' '.join(v for v in answer.values if v != expected)}")
    if not served:
        level: Level = "unknown"
        summary = "no authoritative server answered" + (f": {'; '.join(notes)}" if notes else "")
    else:
        level = worst(levels)
        if level == "ok":
            where = f"{expected} ({host})" if expected else " ".join(next(iter(served.values())).values)
            agreed = "" if expected else "; the host's address is a name, not compared"
            summary = f"{where} on {', '.join(served)}{agreed}"
            if expected is None and len({answer.values for answer in served.values()}) > 1:
                level, summary = "warning", "the authoritative servers disagree: " + "; ".join(
                    f"{server} answers {' '.join(answer.values)}" for server, answer in served.items())
        else:
            summary = "; ".join(notes)
    findings = [Finding("services", service, "dns", level, summary, item=title, host=host, service=service)]
    ttls = [answer.ttl for answer in served.values() if answer.exists and answer.ttl is not None]
    zone = inventory.dns.get(record.zone)
    if ttls and zone is not None:
        ttl = max(ttls)
        limit = zone.failover_ttl
        if ttl > limit:
            ttl_level: Level = "warning"
            ttl_summary = (f"TTL {ttl} s: after a switch members may stay on the old address for up to "
                           f"{describe_duration(ttl)} (failover_ttl {limit} s)")
        else:
            ttl_level, ttl_summary = "ok", f"TTL {ttl} s (failover_ttl {limit} s)"
        findings.append(Finding("readiness", service, "dns-ttl", ttl_level, ttl_summary, item=title, host=host,
                                service=service, value=float(ttl), unit="s", warning=float(limit)))
    return findings
