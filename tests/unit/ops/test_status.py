"""The status use case over in-memory hosts and probes: one round trip per host, parallel checks, a dead
host reported once, backups from the journal first and the repository else, readiness."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chaton_ops.core.dns import RecordSet
from chaton_ops.core.health import Finding
from chaton_ops.core.inventory import HttpCheck, Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import CommandResult
from chaton_ops.core.probes import HttpResult
from chaton_ops.core.readiness import RecordedStep
from chaton_ops.core.yaml_source import Positions
from chaton_ops.errors import ConnectError, DnsError, ExitCode, UsageError
from chaton_ops.ops.status import JournalView, gather_status, resolver_lookup_name, select
from tests.fakes import FakeProbes, FakeTransport

SAMPLE = (Path(__file__).parents[1] / "core" / "host_facts_samples" / "lab-primary.txt").read_text()
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def loaded_inventory(**overrides: Any) -> LoadedInventory:
    data: dict[str, Any] = {
        "version": 1,
        "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
        "defaults": {"ssh": {"connect_timeout": 2}},
        "secrets": {"pw": {"env": "UNUSED"}},
        "repositories": {"main": {"url": "/srv/restic", "password": "pw"}},
        "hosts": {"web": {"address": "192.0.2.23"}, "mail": {"address": "192.0.2.21"},
                  "vps": {"address": "198.51.100.7", "kind": "fallback", "capacity": {"disk_gb": 20, "memory_gb": 2}}},
        "dns": {"ti-nuage.example": {"server": "192.0.2.53", "key_name": "chaton", "key": "pw"}},
        "services": {
            "www": {"host": "web", "data": ["/srv/www"], "fallback": "vps",
                    "dns": [{"zone": "ti-nuage.example", "name": "www"}],
                    "check": {"http": {"url": "http://www.ti-nuage.example/"}}},
            "wiki": {"host": "web", "check": {"tcp": {"host": "wiki.ti-nuage.example", "port": 443}}},
            "mx": {"host": "mail", "data": ["/var/mail"], "check": {"smtp": {"host": "mx.ti-nuage.example"}}},
        },
    }
    data.update(overrides)
    return LoadedInventory(Inventory.model_validate(data), Path("inventory.yml"), (Path("inventory.yml"),), Positions())


class Host(FakeTransport):
    """A host answering the facts script with a captured output (after `delay`), or failing."""

    def __init__(self, name: str, *, failure: Exception | None = None, delay: float = 0.0) -> None:
        super().__init__(name, failure, delay=delay)

    def answer(self, argv: list[str]) -> CommandResult:
        return self.result(argv, 0, SAMPLE)


Probes = FakeProbes  # answers each probe as told; records when each ran


def hosts(*special: Host) -> dict[str, Host]:
    found = {name: Host(name) for name in ("web", "mail", "vps")}
    found.update({host.host: host for host in special})
    return found


def backup(service: str, hours_ago: float, status: str = "ok", **detail: Any) -> RecordedStep:
    return RecordedStep("backup", f"{service}@main", status, {"service": service, **detail},
                        NOW - dt.timedelta(hours=hours_ago))


def by_title(findings: Sequence[Finding]) -> dict[str, Finding]:
    return {finding.title(): finding for finding in findings}


def test_one_round_trip_per_host_and_every_check_judged() -> None:
    fleet = hosts()
    journal = JournalView(backups=(backup("www", 2, total_bytes=10**9), backup("mx", 3)))

    report = gather_status(loaded_inventory(), transports=fleet.__getitem__, probes=Probes(), journal=journal, now=NOW)

    assert all(len(host.commands) == 1 and host.commands[0][:2] == ["sh", "-c"] for host in fleet.values())
    assert fleet["web"].commands[0][-1] == "www.ti-nuage.example"  # the name each host must resolve
    found = by_title(report.findings)
    assert {"web disk /", "web memory", "mail resolver www.ti-nuage.example", "www http http://www.ti-nuage.example/",
            "wiki tcp wiki.ti-nuage.example:443", "mx smtp mx.ti-nuage.example:25", "www backup main",
            "mx backup main", "www drill", "mx drill", "vps capacity"} <= set(found)
    assert found["www backup main"].level == "ok"
    assert found["vps capacity"].level == "ok" and "1.0 GB needed" in found["vps capacity"].summary
    assert found["www drill"].level == "warning"
    assert report.exit_code == ExitCode.FAILED  # never drilled
    assert report.notes == ("DNS records: not checked (no DNS port given)",)


def test_a_dead_host_is_one_finding_and_its_services_probes_are_folded_into_it() -> None:
    fleet = hosts(Host("web", failure=ConnectError("web", "timed out after 2 s (no answer from 192.0.2.23 port 22)")))
    probes = Probes(down=["http://www.ti-nuage.example/", "wiki.ti-nuage.example"])

    report = gather_status(loaded_inventory(), transports=fleet.__getitem__, probes=probes, journal=JournalView(),
                           now=NOW)

    criticals = [finding.title() for finding in report.findings if finding.level == "critical"]
    assert criticals == ["web reachable", "www backup main", "mx backup main"]  # never backed up; probes folded
    [down] = [finding for finding in report.findings if finding.unreachable]
    assert down.affects == ("www", "wiki") and "timed out after 2 s" in down.summary
    assert report.exit_code == ExitCode.UNREACHABLE


def test_one_slow_host_does_not_delay_the_others() -> None:
    fleet = hosts(Host("mail", delay=1.0))
    probes = Probes(delay=0.3)
    started = time.monotonic()

    gather_status(loaded_inventory(), transports=fleet.__getitem__, probes=probes, journal=JournalView(), now=NOW)

    took = time.monotonic() - started
    assert took < 1.5  # everything ran beside the slow host: not 1 + 3 × 0.3 s one after another


def test_the_repository_is_asked_only_for_services_the_journal_does_not_know() -> None:
    asked: list[tuple[str, str, str]] = []

    def snapshots(service: str, repository: str, host: str) -> dt.datetime | None:
        asked.append((service, repository, host))
        return NOW - dt.timedelta(hours=30)

    report = gather_status(loaded_inventory(), transports=hosts().__getitem__, probes=Probes(),
                           journal=JournalView(backups=(backup("www", 1),)), snapshots=snapshots, now=NOW)

    assert asked == [("mx", "main", "mail")]
    mx = by_title(report.findings)["mx backup main"]
    assert mx.level == "warning" and "(from the repository)" in mx.summary


def test_selection_by_host_and_service() -> None:
    inventory = loaded_inventory().inventory

    assert select(inventory, hosts=["web"]) == select(inventory, hosts=["web"], services=["www"])
    assert select(inventory, hosts=["web"]).services == ("www", "wiki")
    assert select(inventory, services=["mx"]).hosts == ("mail",)
    with pytest.raises(UsageError, match="unknown host: nope"):
        select(inventory, hosts=["nope"])
    with pytest.raises(UsageError, match="unknown service: nope"):
        select(inventory, services=["nope"])


def test_a_selection_still_measures_the_fallback_for_capacity_but_does_not_report_its_host() -> None:
    fleet = hosts()
    report = gather_status(loaded_inventory(), transports=fleet.__getitem__, probes=Probes(), journal=JournalView(),
                           selection=select(loaded_inventory().inventory, services=["www"]), now=NOW)

    assert fleet["vps"].commands and not fleet["mail"].commands
    assert {finding.subject for finding in report.findings if finding.section == "hosts"} == {"web"}


def test_the_lookup_name() -> None:
    assert resolver_lookup_name(loaded_inventory().inventory) == "www.ti-nuage.example"
    assert resolver_lookup_name(loaded_inventory(services={}).inventory) is None
    custom = loaded_inventory(defaults={"resolver_lookup": "debian.org"}).inventory
    assert resolver_lookup_name(custom) == "debian.org"


def test_silences_mark_findings() -> None:
    report = gather_status(loaded_inventory(), transports=hosts().__getitem__, probes=Probes(down=["wiki.ti-nuage.example"]),
                           journal=JournalView(), silences={"wiki": NOW + dt.timedelta(hours=1)}, now=NOW)

    wiki = by_title(report.findings)["wiki tcp wiki.ti-nuage.example:443"]
    assert wiki.level == "critical" and wiki.silenced is not None and "wiki silenced until" in wiki.silenced


class BrokenProbes(Probes):
    def http(self, check: HttpCheck, *, address: str | None = None) -> HttpResult:
        raise RuntimeError("a bug in a probe")


def test_a_surprise_in_one_check_is_an_unknown_finding_not_a_crash() -> None:
    fleet = hosts(Host("mail", failure=OSError("socket closed oddly")))

    report = gather_status(loaded_inventory(), transports=fleet.__getitem__, probes=BrokenProbes(),
                           journal=JournalView(), now=NOW)

    found = by_title(report.findings)
    assert found["www http"].level == "unknown" and "RuntimeError: a bug in a probe" in found["www http"].summary
    assert found["mail facts"].level == "unknown" and "socket closed oddly" in found["mail facts"].summary
    assert found["wiki tcp wiki.ti-nuage.example:443"].level == "ok"


class Zone:
    """A zone served by two authoritative servers; `answers[server]` is what each holds for www."""

    def __init__(self, answers: dict[str, RecordSet | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, str]] = []

    def authoritative_servers(self, zone: str) -> list[str]:
        return list(self.answers)

    def query(self, server: str, zone: str, name: str, rtype: str, *, port: int = 53) -> RecordSet:
        self.asked.append((server, name, rtype))
        answer = self.answers[server]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def address_of(self, name: str) -> str | None:  # where service probes are aimed: names outside the fake
        self.asked.append(("address_of", name, ""))
        return None

    def __getattr__(self, name: str) -> Any:  # read, update…: status never calls them
        raise AssertionError(f"status must not call Dns.{name}")


def test_records_are_asked_of_every_authoritative_server_and_must_point_where_the_service_runs_now() -> None:
    from dataclasses import replace as replace_loaded

    from chaton_ops.core.placement import Placement, apply_placements

    zone = Zone({"192.0.2.53": RecordSet("www", "A", 3600, ("192.0.2.23",)),
                 "192.0.2.54": DnsError("DNS server 192.0.2.54:53 did not answer", unreachable=True)})
    loaded = loaded_inventory()
    moved, _ = apply_placements(loaded.inventory, {"www": Placement("www", "vps", "web", "2026-11-22T10:00:00+00:00")})
    placed = replace_loaded(loaded, inventory=moved, declared=loaded.inventory)

    report = gather_status(placed, transports=hosts().__getitem__, probes=Probes(), journal=JournalView(), dns=zone,
                           now=NOW)

    found = by_title(report.findings)
    record = found["www dns www.ti-nuage.example A"]
    assert record.level == "critical" and record.host == "vps"
    assert "192.0.2.53 answers 192.0.2.23 instead of 198.51.100.7 (vps)" in record.summary
    assert "192.0.2.54 does not answer" in record.summary
    assert found["www dns-ttl www.ti-nuage.example A"].level == "warning"
    assert sorted(a for a in zone.asked if a[0] != "address_of") == [("192.0.2.53", "www", "A"), ("192.0.2.54", "www", "A")]
    assert ("address_of", "www.ti-nuage.example", "") in zone.asked  # its HTTP probe is aimed where DNS says
    assert report.notes == ()


def test_a_zone_whose_servers_cannot_be_listed_makes_its_records_unknown() -> None:
    class Unlisted(Zone):
        def authoritative_servers(self, zone: str) -> list[str]:
            raise DnsError("DNS server 192.0.2.53:53 did not answer query ti-nuage.example. NS within 5 s")

    report = gather_status(loaded_inventory(), transports=hosts().__getitem__, probes=Probes(), journal=JournalView(),
                           dns=Unlisted({}), now=NOW)

    record = by_title(report.findings)["www dns www.ti-nuage.example A"]
    assert record.level == "unknown" and "the zone's servers are unknown" in record.summary
