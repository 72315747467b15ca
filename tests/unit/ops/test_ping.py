"""The ping use case over in-memory transports: selection, failures kept per host, bounded parallelism."""

from __future__ import annotations

import threading

import pytest

from chaton_ops.core.inventory import Inventory
from chaton_ops.errors import CommandFailed, ConnectError, ExitCode, UsageError
from chaton_ops.ops.ping import PingResult, exit_code_for, ping_hosts, select_hosts
from tests.fakes import FakeTransport


def make_inventory(*names: str, jobs: int = 4) -> Inventory:
    return Inventory.model_validate({
        "version": 1,
        "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "defaults": {"jobs": jobs, "ssh": {"connect_timeout": 3}},
        "hosts": {name: {"address": f"10.77.0.{10 + i}"} for i, name in enumerate(names)},
    })


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    FakeTransport.reset_counters()


def test_every_host_is_pinged_when_none_is_named() -> None:
    inventory = make_inventory("primary", "vps", "backup")
    transports = {name: FakeTransport(name) for name in inventory.hosts}

    results = ping_hosts(inventory, [], transports.__getitem__)

    assert [r.host for r in results] == ["primary", "vps", "backup"]
    assert all(r.ok and r.result == "ok" and r.latency_ms is not None for r in results)
    assert [r.address for r in results] == ["10.77.0.10", "10.77.0.11", "10.77.0.12"]
    assert all(t.commands == [["true"]] for t in transports.values())
    assert exit_code_for(results) == ExitCode.OK


def test_only_the_named_hosts_are_pinged_once_each_in_the_given_order() -> None:
    inventory = make_inventory("primary", "vps", "backup")
    transports = {name: FakeTransport(name) for name in inventory.hosts}

    results = ping_hosts(inventory, ["backup", "primary", "backup"], transports.__getitem__)

    assert [r.host for r in results] == ["backup", "primary"]
    assert transports["vps"].commands == []


def test_unknown_names_are_a_usage_error_listing_the_known_hosts() -> None:
    inventory = make_inventory("primary", "vps")

    with pytest.raises(UsageError) as raised:
        select_hosts(inventory, ["primary", "nope", "gone"])

    assert raised.value.exit_code == ExitCode.USAGE
    assert str(raised.value) == "unknown hosts nope, gone (known hosts: primary, vps)"


def test_an_unreachable_host_does_not_hide_the_others_and_gives_exit_3_partial() -> None:
    inventory = make_inventory("primary", "vps", "backup")
    transports = {
        "primary": FakeTransport("primary"),
        "vps": FakeTransport("vps", ConnectError("vps", "connection refused (10.77.0.11 port 22)")),
        "backup": FakeTransport("backup"),
    }

    results = ping_hosts(inventory, [], transports.__getitem__)

    assert [(r.host, r.ok, r.reachable) for r in results] == [
        ("primary", True, True), ("vps", False, False), ("backup", True, True)]
    assert results[1].result == "connection refused (10.77.0.11 port 22)"
    assert results[1].latency_ms is None
    assert exit_code_for(results) == ExitCode.PARTIAL
    assert exit_code_for(results[1:2]) == ExitCode.UNREACHABLE


def test_a_reachable_host_whose_command_fails_gives_exit_1() -> None:
    inventory = make_inventory("primary")
    failing = FakeTransport("primary", CommandFailed("primary", ["true"], 126, "permission denied"))

    results = ping_hosts(inventory, [], lambda name: failing)

    assert results[0].reachable and not results[0].ok
    assert "exited with 126" in results[0].result
    assert exit_code_for(results) == ExitCode.FAILED


def test_an_unexpected_exception_is_reported_for_its_host_only() -> None:
    inventory = make_inventory("primary", "vps")
    transports = {"primary": FakeTransport("primary", RuntimeError("boom")), "vps": FakeTransport("vps")}

    results = ping_hosts(inventory, [], transports.__getitem__)

    assert results[0] == PingResult("primary", "10.77.0.10", False, False, "unexpected error: RuntimeError: boom", None)
    assert results[1].ok


def test_a_transport_that_cannot_even_be_opened_is_reported_for_its_host() -> None:
    inventory = make_inventory("primary", "vps")

    def open_transport(name: str) -> FakeTransport:
        if name == "primary":
            raise ConnectError("primary", "identity file /nope does not exist")
        return FakeTransport(name)

    results = ping_hosts(inventory, [], open_transport)

    assert results[0].result == "identity file /nope does not exist"
    assert results[1].ok


def test_hosts_run_in_parallel_up_to_the_jobs_bound() -> None:
    inventory = make_inventory(*(f"node{i}" for i in range(9)), jobs=3)
    gate = threading.Barrier(3)
    transports = {name: FakeTransport(name, gate=gate) for name in inventory.hosts}

    results = ping_hosts(inventory, [], transports.__getitem__)

    assert all(r.ok for r in results)
    # the barrier only opens when 3 hosts wait at once, and the pool never lets a 4th in
    assert FakeTransport.most_at_once == 3


def test_the_jobs_argument_overrides_the_inventory_default() -> None:
    inventory = make_inventory(*(f"node{i}" for i in range(4)), jobs=1)
    gate = threading.Barrier(4)
    transports = {name: FakeTransport(name, gate=gate) for name in inventory.hosts}

    ping_hosts(inventory, [], transports.__getitem__, jobs=8)

    assert FakeTransport.most_at_once == 4


def test_an_inventory_without_hosts_pings_nothing() -> None:
    assert ping_hosts(make_inventory(), [], lambda name: FakeTransport(name)) == []
