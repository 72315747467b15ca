"""A service's records on each authoritative server, against the host where it runs now."""

from __future__ import annotations

from chaton_ops.core.dns import RecordSet
from chaton_ops.core.dns_checks import evaluate_records
from chaton_ops.core.inventory import Inventory

INVENTORY = Inventory.model_validate({
    "version": 1,
    "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
    "secrets": {"tsig": {"env": "TSIG"}},
    "hosts": {"web": {"address": "192.0.2.23"}, "named": {"address": "web.ti-nuage.example"}},
    "dns": {"ti-nuage.example": {"server": "192.0.2.53", "key_name": "chaton", "key": "tsig", "failover_ttl": 60}},
    "services": {
        "www": {"host": "web", "dns": [{"zone": "ti-nuage.example", "name": "www"},
                                       {"zone": "ti-nuage.example", "name": "www", "type": "AAAA"}]},
        "blog": {"host": "named", "dns": [{"zone": "ti-nuage.example", "name": "blog"}]},
    },
})
WWW_A, WWW_AAAA = INVENTORY.services["www"].dns
BLOG = INVENTORY.services["blog"].dns[0]


def records(*values: str, ttl: int = 60) -> RecordSet:
    return RecordSet("www", "A", ttl if values else None, tuple(values))


def verdict(record, **answers):  # type: ignore[no-untyped-def]
    found = evaluate_records(INVENTORY, "blog" if record is BLOG else "www", record,
                             {server.replace("_", "."): answer for server, answer in answers.items()})
    return {finding.check: (finding.level, finding.summary) for finding in found}


def test_every_server_answering_the_hosts_address_with_a_short_ttl_is_ok() -> None:
    found = verdict(WWW_A, ns1=records("192.0.2.23"), ns2=records("192.0.2.23"))

    assert found["dns"] == ("ok", "192.0.2.23 (web) on ns1, ns2")
    assert found["dns-ttl"] == ("ok", "TTL 60 s (failover_ttl 60 s)")


def test_one_server_answering_another_address_is_critical() -> None:
    level, summary = verdict(WWW_A, ns1=records("192.0.2.23"), ns2=records("198.51.100.7"))["dns"]

    assert level == "critical" and summary == "ns2 answers 198.51.100.7 instead of 192.0.2.23 (web)"


def test_missing_records_extra_addresses_and_silent_servers() -> None:
    assert verdict(WWW_A, ns1=records())["dns"][0] == "critical"
    assert verdict(WWW_A, ns1=records("192.0.2.23", "192.0.2.99"))["dns"] == ("warning", "ns1 also answers 192.0.2.99")
    silent = verdict(WWW_A, ns1=records("192.0.2.23"), ns2="did not answer within 5 s")["dns"]
    assert silent == ("warning", "ns2 does not answer (did not answer within 5 s)")
    nobody = verdict(WWW_A, ns1="refused")
    assert nobody["dns"][0] == "unknown" and "dns-ttl" not in nobody


def test_a_long_ttl_is_a_readiness_warning() -> None:
    level, summary = verdict(WWW_A, ns1=records("192.0.2.23", ttl=86400))["dns-ttl"]

    assert level == "warning" and "up to 1 day (failover_ttl 60 s)" in summary


def test_an_address_of_another_family_or_a_name_is_not_compared_but_servers_must_agree() -> None:
    assert verdict(WWW_AAAA, ns1=records("2001:db8::1"))["dns"][0] == "ok"
    assert "not compared" in verdict(BLOG, ns1=records("192.0.2.9"))["dns"][1]
    assert verdict(BLOG, ns1=records("192.0.2.9"), ns2=records("192.0.2.10"))["dns"][0] == "warning"
