"""DNS through dnspython: records read from a zone's primary server, RFC 2136 updates signed with
TSIG, the zone's authoritative servers queried one by one.

- reads and queries go over TCP, non-recursive, straight to the servers: no resolver cache between
  what chaton changed and what it checks;
- an update carries all of a service's changes in ONE message, each with a prerequisite that its
  record set is still what was read (RFC 2136 §2.4.2, value dependent): a record edited meanwhile
  makes the server refuse the whole message, and nothing changes;
- anything but NOERROR is an error naming the rcode; a wrong TSIG key changes nothing and says so;
- no secret ever leaves this module: errors name the key, never its value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.resolver
import dns.tsig
import dns.tsigkeyring
import dns.update

from chaton_ops.core.dns import RecordChange, RecordSet, absolute_name, relative_name
from chaton_ops.core.inventory import DnsZone
from chaton_ops.errors import DnsError

QUERY_TIMEOUT = 5.0

ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,
}

RCODE_MEANING = {
    "NXRRSET": "the records changed since they were read (someone else edited them)",
    "YXRRSET": "records exist that were absent when read (someone else added them)",
    "NXDOMAIN": "a name that was read no longer exists",
    "YXDOMAIN": "a name exists that was absent when read",
    "NOTAUTH": "the server is not authoritative for the zone, or refused the TSIG key",
    "REFUSED": "the server refused the update (its ACL does not allow this key to update this zone)",
    "NOTZONE": "a record is outside the zone",
    "SERVFAIL": "the server failed",
    "FORMERR": "the server did not understand the message",
    "NOTIMP": "the server does not implement dynamic updates",
}


class Rfc2136Dns:
    """The `Dns` port for zones updated with RFC 2136 + TSIG (knot, BIND, PowerDNS…)."""

    def __init__(self, zones: Mapping[str, DnsZone], tsig_secrets: Mapping[str, str], *,
                 timeout: float = QUERY_TIMEOUT, resolvers: Sequence[str] = ()) -> None:
        self.zones = zones
        self._secrets = tsig_secrets  # zone → base64 TSIG secret (resolved by the caller)
        self.timeout = timeout
        self.resolvers = tuple(resolvers)
        self._servers: dict[str, list[str]] = {}  # each zone's authoritative servers, asked once per run
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading
    def read(self, zone: str, name: str, rtype: str) -> RecordSet:
        """The record set as the zone's primary server holds it."""
        settings = self._zone(zone)
        return self.query(settings.server, zone, name, rtype, port=settings.port)

    def query(self, server: str, zone: str, name: str, rtype: str, *, port: int = 53) -> RecordSet:
        """Ask one server (TCP, no recursion) for a record set of the zone."""
        fqdn = absolute_name(zone, name)
        request = dns.message.make_query(fqdn, rtype)
        request.flags &= ~dns.flags.RD
        response = self._exchange(request, server, port, f"query {fqdn} {rtype}")
        rcode = dns.rcode.to_text(response.rcode())
        if rcode == "NXDOMAIN":
            return RecordSet(name, rtype, None, ())
        if rcode != "NOERROR":
            raise DnsError(f"DNS server {server}: query of {fqdn} {rtype} answered {rcode}")
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rtype) and rrset.name == dns.name.from_text(fqdn):
                return RecordSet(name, rtype, rrset.ttl, tuple(sorted(r.to_text() for r in rrset)))
        return RecordSet(name, rtype, None, ())

    def authoritative_servers(self, zone: str) -> list[str]:
        """Addresses of every server named in the zone's NS records (asked of its primary); the
        primary itself when the NS names cannot be resolved."""
        settings = self._zone(zone)
        names = self.query(settings.server, zone, "@", "NS", port=settings.port).values
        addresses: list[str] = []
        for target in names:
            for rtype in ("A", "AAAA"):
                addresses += self._address_of(target, rtype, settings)
        return list(dict.fromkeys(addresses)) or [settings.server]

    def _address_of(self, target: str, rtype: str, settings: DnsZone) -> list[str]:
        zone_names = [z for z in self.zones if dns.name.from_text(target).is_subdomain(dns.name.from_text(z))]
        if zone_names:  # in one of our zones: its primary knows (glue)
            zone = max(zone_names, key=len)
            relative = relative_name(zone, target)
            return list(self.query(self.zones[zone].server, zone, relative, rtype,
                                   port=self.zones[zone].port).values)
        return self.resolve(target, rtype)

    def address_of(self, name: str) -> str | None:
        """The address an authoritative server of one of the inventory's zones gives `name` (A, else
        AAAA), asked directly (no resolver cache in between); None when no zone of the inventory holds
        the name (the system's resolver is then the one to ask). DnsError when no server answers."""
        fqdn = name.rstrip(".") + "."
        zones = [z for z in self.zones if dns.name.from_text(fqdn).is_subdomain(dns.name.from_text(z))]
        if not zones:
            return None
        zone = max(zones, key=len)
        relative, port = relative_name(zone, fqdn), self.zones[zone].port
        failures = []
        for server in self._servers_of(zone):
            try:
                for rtype in ("A", "AAAA"):
                    values = self.query(server, zone, relative, rtype, port=port).values
                    if values:
                        return values[0]
                raise DnsError(f"{fqdn} has no A or AAAA record on {server}")
            except DnsError as failure:
                if not failure.unreachable:
                    raise
                failures.append(failure.message)
        raise DnsError(f"no authoritative server of {zone} answered for {fqdn}: {'; '.join(failures)}", unreachable=True)

    def _servers_of(self, zone: str) -> list[str]:
        with self._lock:
            known = self._servers.get(zone)
        if known is None:
            known = self.authoritative_servers(zone)
            with self._lock:
                self._servers[zone] = known
        return known

    def resolve(self, name: str, rtype: str) -> list[str]:
        """A recursive lookup through `resolvers` (defaults.resolvers), else the system's."""
        resolver = dns.resolver.Resolver(configure=not self.resolvers)
        if self.resolvers:
            resolver.nameservers = list(self.resolvers)
        resolver.lifetime = self.timeout
        try:
            return sorted(r.to_text() for r in resolver.resolve(name, rtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as failure:
            raise DnsError(f"cannot resolve {name} {rtype}: {failure}") from None

    def wait_until_served(self, zone: str, change: RecordChange, *, timeout: float = 60.0,
                          interval: float = 1.0) -> dict[str, RecordSet]:
        """Ask every authoritative server until each answers the new values; raise DnsError naming
        those that still do not after `timeout` seconds. Returns each server's last answer."""
        servers = self.authoritative_servers(zone)
        port = self._zone(zone).port
        deadline = time.monotonic() + timeout
        answers: dict[str, RecordSet] = {}
        while True:
            pending = []
            for server in servers:
                try:
                    answers[server] = self.query(server, zone, change.name, change.type, port=port)
                except DnsError:
                    pending.append(server)
                    continue
                if answers[server].values != change.new.values:
                    pending.append(server)
            if not pending:
                return answers
            if time.monotonic() >= deadline:
                shown = ", ".join(f"{s} ({' '.join(answers[s].values) or 'no answer'})" if s in answers else
                                  f"{s} (unreachable)" for s in pending)
                raise DnsError(f"{absolute_name(zone, change.name)} {change.type}: after {timeout:g} s these "
                               f"authoritative servers still do not answer {' '.join(change.new.values)}: {shown}")
            time.sleep(interval)

    # ------------------------------------------------------------------ changing
    def update(self, zone: str, changes: Sequence[RecordChange]) -> None:
        """Apply every change in one signed UPDATE, each on condition that its records are still as read."""
        if not changes:
            return
        settings = self._zone(zone)
        message = self._update_message(zone, settings)
        for change in changes:
            fqdn = absolute_name(zone, change.name)
            if change.old.values:
                message.present(fqdn, _rdataset(change.type, change.old))
            else:
                message.absent(fqdn, change.type)
            if change.new.values:
                message.replace(fqdn, change.new.ttl or settings.ttl, change.type, *change.new.values)
            else:
                message.delete(fqdn, change.type)
        self._send_update(message, settings, zone, f"update of {', '.join(c.describe() for c in changes)}")

    def check_update_key(self, zone: str) -> None:
        """Prove that the server takes updates signed with the zone's key, changing nothing: an UPDATE
        whose only prerequisite (a record set that does not exist) fails, so the server answers
        NXRRSET after checking the signature and the ACL."""
        settings = self._zone(zone)
        message = self._update_message(zone, settings)
        message.present(absolute_name(zone, "chaton-preflight-never-exists"), "TXT")
        try:
            self._send_update(message, settings, zone, "preflight update (changes nothing)")
        except DnsError as failure:
            if failure.rcode in ("NXRRSET", "NXDOMAIN"):
                return
            raise
        raise DnsError(f"DNS server {settings.server}: a preflight update that must fail was accepted")

    def _update_message(self, zone: str, settings: DnsZone) -> dns.update.UpdateMessage:
        secret = self._secrets.get(zone)
        if secret is None:
            raise DnsError(f"zone {zone}: no TSIG secret resolved for key {settings.key_name}")
        try:
            keyring = dns.tsigkeyring.from_text({settings.key_name: secret})
        except (ValueError, dns.exception.DNSException):
            raise DnsError(f"zone {zone}: the TSIG secret of key {settings.key_name} (secret "
                           f"'{settings.key}') is not valid base64") from None
        return dns.update.UpdateMessage(zone, keyring=keyring, keyname=dns.name.from_text(settings.key_name),
                                        keyalgorithm=ALGORITHMS[settings.algorithm])

    def _send_update(self, message: dns.update.UpdateMessage, settings: DnsZone, zone: str, what: str) -> None:
        try:
            response = self._exchange(message, settings.server, settings.port, what)
        except DnsError as failure:
            if failure.rcode is None and "TSIG" in failure.message:
                raise DnsError(f"{failure.message}; nothing was changed", rcode="BADSIG") from None
            raise
        rcode = dns.rcode.to_text(response.rcode())
        if rcode != "NOERROR":
            meaning = RCODE_MEANING.get(rcode, "")
            raise DnsError(f"DNS server {settings.server}: {what} in zone {zone} refused: {rcode}"
                           f"{' — ' + meaning if meaning else ''}; nothing was changed", rcode=rcode)

    def _exchange(self, request: dns.message.Message, server: str, port: int, what: str) -> dns.message.Message:
        try:
            return dns.query.tcp(request, server, timeout=self.timeout, port=port)
        except (dns.tsig.PeerBadSignature, dns.tsig.PeerBadKey, dns.tsig.PeerBadTime,
                dns.tsig.PeerBadTruncation, dns.tsig.PeerError) as failure:
            kind = type(failure).__name__.removeprefix("Peer")
            raise DnsError(f"DNS server {server}:{port} rejected the TSIG signature of {what} ({kind}): "
                           f"wrong key name, secret or algorithm") from None
        except dns.message.UnknownTSIGKey:
            raise DnsError(f"DNS server {server}:{port}: {what}: the answer is signed with a key chaton does "
                           f"not know") from None
        except dns.exception.Timeout:
            raise DnsError(f"DNS server {server}:{port} did not answer {what} within {self.timeout:g} s",
                           unreachable=True) from None
        except ConnectionRefusedError:
            raise DnsError(f"DNS server {server}:{port} refused the connection ({what})",
                           unreachable=True) from None
        except OSError as failure:
            raise DnsError(f"DNS server {server}:{port}: {what}: {failure.strerror or failure}",
                           unreachable=True) from None
        except (dns.exception.DNSException, EOFError) as failure:
            raise DnsError(f"DNS server {server}:{port}: {what}: {failure or type(failure).__name__}") from None

    def _zone(self, zone: str) -> DnsZone:
        settings = self.zones.get(zone)
        if settings is None:
            raise DnsError(f"zone {zone} is not in the inventory's dns section")
        return settings


def _rdataset(rtype: str, records: RecordSet) -> dns.rdataset.Rdataset:
    # a prerequisite's TTL must be 0 (RFC 2136 §2.4.2): servers answer FORMERR otherwise
    return dns.rdataset.from_text(dns.rdataclass.IN, rtype, 0, *records.values)
