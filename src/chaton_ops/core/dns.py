"""DNS records as pure data: record sets, the changes a switch makes, and what SPF allows.

The DNS adapter (adapters/dns.py) reads and changes them; planning here decides which change each
of a service's records needs to point at a host, and tells whether a mail domain's SPF record lets a
host send its mail.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def absolute_name(zone: str, name: str) -> str:
    zone = zone.rstrip(".") + "."
    if name in ("@", ""):
        return zone
    if name.endswith("."):
        return name
    return f"{name}.{zone}"


def relative_name(zone: str, fqdn: str) -> str:
    zone = zone.rstrip(".").lower()
    name = fqdn.rstrip(".").lower()
    if name == zone:
        return "@"
    if name.endswith("." + zone):
        return name[: -len(zone) - 1]
    return fqdn if fqdn.endswith(".") else fqdn + "."


@dataclass(frozen=True)
class RecordSet:
    """The records of one name and type, as a server holds them (no values: absent)."""

    name: str
    type: str
    ttl: int | None
    values: tuple[str, ...]

    @property
    def exists(self) -> bool:
        return bool(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordSet:
        return cls(data["name"], data["type"], data.get("ttl"), tuple(data.get("values", ())))


@dataclass(frozen=True)
class RecordChange:
    """old → new for one record set; applied only while the server still holds `old`."""

    old: RecordSet
    new: RecordSet

    @property
    def name(self) -> str:
        return self.new.name

    @property
    def type(self) -> str:
        return self.new.type

    @property
    def changes_anything(self) -> bool:
        return self.old.values != self.new.values or self.old.ttl != self.new.ttl

    def describe(self) -> str:
        before = " ".join(self.old.values) or "(none)"
        after = " ".join(self.new.values) or "(none)"
        return f"{self.name} {self.type} {before} (ttl {self.old.ttl}) → {after} (ttl {self.new.ttl})"


def point_at(current: RecordSet, address: str, ttl: int) -> RecordChange:
    """The change that makes a record set answer `address` alone, with `ttl`."""
    return RecordChange(current, RecordSet(current.name, current.type, ttl, (address,)))


def put_back(current: RecordSet, recorded: RecordSet) -> RecordChange:
    """The change that restores record values and TTL recorded before a failover."""
    return RecordChange(current, recorded)


def address_family_matches(record_type: str, address: str) -> bool:
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        return False
    return (record_type, version) in (("A", 4), ("AAAA", 6))


def spf_verdict(txt_values: Sequence[str], address: str, mechanism_addresses: Mapping[str, Sequence[str]]
                ) -> str | None:
    """Whether the SPF record among `txt_values` authorises `address`: None when it does, else why not.

    `mechanism_addresses` gives the addresses of the `a` and `mx` mechanisms (looked up by the caller).
    `include:`/`redirect=` are not followed: they make the verdict "cannot tell"."""
    records = [v.strip('"').replace('" "', "") for v in txt_values]
    spf = [r for r in records if r.lower().startswith("v=spf1")]
    if not spf:
        return "the domain publishes no SPF record"
    ip = ipaddress.ip_address(address)
    unknown = []
    for term in spf[0].split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        body = term[1:] if term[0] in "+-~?" else term
        kind, _, value = body.partition(":")
        kind = kind.lower()
        covered = False
        if kind in ("ip4", "ip6"):
            try:
                covered = ip in ipaddress.ip_network(value, strict=False)
            except ValueError:
                continue
        elif kind in ("a", "mx"):
            covered = address in mechanism_addresses.get(kind, ())
        elif kind in ("include", "exists") or body.lower().startswith("redirect="):
            unknown.append(term)
        elif kind == "all":
            if qualifier == "+":
                return None
            break
        if covered:
            return None if qualifier == "+" else f"the SPF record lists {address} with qualifier {qualifier}"
    if unknown:
        return f"the SPF record does not list {address} itself (cannot tell through {', '.join(unknown)})"
    return f"the SPF record does not allow {address}: mail sent from there may be rejected"
