"""The DNS adapter against the lab's knot: reads, one signed update conditioned on what was read,
every authoritative server checked, and each way a server can say no."""

from __future__ import annotations

import base64
import time

import pytest

from chaton_ops.adapters.dns import Rfc2136Dns
from chaton_ops.core.dns import RecordChange, RecordSet, point_at, put_back
from chaton_ops.core.loader import load_inventory
from chaton_ops.errors import DnsError, ExitCode


@pytest.fixture
def zone_settings(lab):
    return load_inventory(lab.inventory).inventory.dns


@pytest.fixture
def dns_port(lab, zone_settings):
    return Rfc2136Dns(zone_settings, {lab.zone: lab.tsig_secret}, timeout=3)


@pytest.fixture
def restore_www(lab, dns_port):
    original = dns_port.read(lab.zone, "www", "A")
    yield original
    current = dns_port.read(lab.zone, "www", "A")
    if current != original:
        dns_port.update(lab.zone, [put_back(current, original)])


def test_records_are_read_from_the_primary_and_the_zone_names_its_servers(lab, dns_port):
    www = dns_port.read(lab.zone, "www", "A")

    assert www == RecordSet("www", "A", 300, (lab.address("primary"),))
    assert dns_port.read(lab.zone, "nosuch", "A") == RecordSet("nosuch", "A", None, ())
    assert dns_port.authoritative_servers(lab.zone) == [lab.address("dns")]


def test_a_switch_changes_value_and_ttl_in_one_update_and_every_server_answers_it(lab, dns_port, restore_www):
    change = point_at(restore_www, lab.address("vps"), 60)

    dns_port.update(lab.zone, [change])
    answers = dns_port.wait_until_served(lab.zone, change, timeout=10, interval=0.2)

    assert answers == {lab.address("dns"): RecordSet("www", "A", 60, (lab.address("vps"),))}
    dig = lab.ssh("primary", f"kdig +short +norecurse @{lab.address('dns')} www.{lab.zone} A")
    assert dig.stdout.split() == [lab.address("vps")]

    dns_port.update(lab.zone, [put_back(dns_port.read(lab.zone, "www", "A"), restore_www)])
    assert dns_port.read(lab.zone, "www", "A") == restore_www


def test_records_edited_since_they_were_read_make_the_whole_update_refused(lab, dns_port, restore_www):
    stale = RecordSet("www", "A", 300, ("192.0.2.99",))  # not what the server holds
    mail_before = dns_port.read(lab.zone, "mail", "A")

    with pytest.raises(DnsError) as raised:
        dns_port.update(lab.zone, [point_at(mail_before, lab.address("vps"), 60),
                                   point_at(stale, lab.address("vps"), 60)])

    assert raised.value.rcode == "NXRRSET"
    assert "someone else edited them" in raised.value.message and "nothing was changed" in raised.value.message
    assert dns_port.read(lab.zone, "www", "A") == restore_www
    assert dns_port.read(lab.zone, "mail", "A") == mail_before  # the other change of the message did not apply


def test_a_wrong_tsig_key_changes_nothing_and_says_so(lab, zone_settings, dns_port, restore_www):
    wrong = Rfc2136Dns(zone_settings, {lab.zone: base64.b64encode(b"x" * 32).decode()}, timeout=3)

    with pytest.raises(DnsError) as raised:
        wrong.update(lab.zone, [point_at(restore_www, lab.address("vps"), 60)])
    with pytest.raises(DnsError):
        wrong.check_update_key(lab.zone)

    assert "TSIG" in raised.value.message and "nothing was changed" in raised.value.message
    assert base64.b64encode(b"x" * 32).decode() not in raised.value.message
    assert dns_port.read(lab.zone, "www", "A") == restore_www
    dns_port.check_update_key(lab.zone)  # the right key is accepted, and the preflight changes nothing
    assert dns_port.read(lab.zone, "www", "A") == restore_www


def test_a_dns_server_that_does_not_answer_is_unreachable_within_the_timeout(lab, dns_port):
    lab.raw.stop_host("dns")
    try:
        began = time.monotonic()
        with pytest.raises(DnsError) as raised:
            dns_port.read(lab.zone, "www", "A")
        assert time.monotonic() - began < 6
    finally:
        lab.raw.start_host("dns")
    assert raised.value.unreachable and raised.value.exit_code == ExitCode.UNREACHABLE
    assert f"{lab.address('dns')}:53 did not answer" in raised.value.message


def test_waiting_for_a_value_no_server_answers_names_the_server_and_what_it_answers(lab, dns_port, restore_www):
    never = RecordChange(restore_www, RecordSet("www", "A", 60, ("192.0.2.1",)))

    with pytest.raises(DnsError) as raised:
        dns_port.wait_until_served(lab.zone, never, timeout=0.5, interval=0.1)

    assert f"{lab.address('dns')} ({lab.address('primary')})" in raised.value.message
