"""DNS records as data: names, switch changes, SPF verdicts."""

from __future__ import annotations

import pytest

from chaton_ops.core.dns import (
    RecordSet,
    absolute_name,
    address_family_matches,
    point_at,
    relative_name,
    spf_verdict,
)


@pytest.mark.parametrize(("zone", "name", "fqdn"), [
    ("lab.test", "www", "www.lab.test."), ("lab.test.", "@", "lab.test."), ("lab.test", "a.b", "a.b.lab.test."),
    ("lab.test", "other.example.", "other.example."),
])
def test_names_are_made_absolute_in_their_zone_and_back(zone, name, fqdn):
    assert absolute_name(zone, name) == fqdn
    assert relative_name(zone, fqdn) == name


def test_a_switch_points_the_record_at_one_address_with_the_failover_ttl():
    current = RecordSet("www", "A", 3600, ("192.0.2.1", "192.0.2.2"))

    change = point_at(current, "198.51.100.7", 60)

    assert change.new == RecordSet("www", "A", 60, ("198.51.100.7",)) and change.old == current
    assert change.changes_anything
    assert not point_at(change.new, "198.51.100.7", 60).changes_anything
    assert RecordSet.from_dict(change.new.as_dict()) == change.new


@pytest.mark.parametrize(("rtype", "address", "matches"), [
    ("A", "192.0.2.1", True), ("AAAA", "2001:db8::1", True), ("A", "2001:db8::1", False), ("A", "vps", False)])
def test_record_types_take_addresses_of_their_family(rtype, address, matches):
    assert address_family_matches(rtype, address) is matches


@pytest.mark.parametrize(("txt", "verdict"), [
    (['"v=spf1 ip4:10.77.0.0/24 -all"'], None),
    (['"v=spf1 ip4:10.77.0.2 -all"'], "the SPF record does not allow 10.77.0.3: mail sent from there may be rejected"),
    (['"v=spf1 mx -all"'], None),
    (['"v=spf1 a -all"'], "the SPF record does not allow 10.77.0.3: mail sent from there may be rejected"),
    (['"v=spf1 include:_spf.example -all"'],
     "the SPF record does not list 10.77.0.3 itself (cannot tell through include:_spf.example)"),
    (['"v=spf1 -ip4:10.77.0.3 +all"'], "the SPF record lists 10.77.0.3 with qualifier -"),
    (['"v=spf1 +all"'], None),
    (['"google-site-verification=x"'], "the domain publishes no SPF record"),
    (['"v=spf1 ip4:10.77.0.0/" "24 -all"'], None),
])
def test_spf_tells_whether_a_host_may_send_the_domains_mail(txt, verdict):
    assert spf_verdict(txt, "10.77.0.3", {"mx": ["10.77.0.3"], "a": ["10.77.0.2"]}) == verdict
