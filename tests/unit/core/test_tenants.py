"""Tenants as pure data: silence against the limit, when a removal may go on, which snapshots are a
service's data, where files go in an export, and the removal's plan."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.inventory import Database, Inventory
from chaton_ops.core.tenants import (
    SnapshotRef,
    archive_compression,
    inactivity,
    member_name,
    newest_snapshots,
    plan_tenant_removal,
    removal_refusal,
)
from chaton_ops.errors import UsageError

TODAY = dt.date(2026, 11, 22)


def inventory(limit: int | None = 365, last_contact: str | None = "2025-01-10") -> Inventory:
    tenant = {"contact": "c@cigales.example", **({"last_contact": dt.date.fromisoformat(last_contact)}
                                                  if last_contact else {})}
    return Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "defaults": {"inactive_after": limit} if limit else {},
        "secrets": {"pw": {"env": "PW"}}, "repositories": {"main": {"url": "/srv/r", "password": "pw"},
                                                             "off": {"url": "/srv/o", "password": "pw"}},
        "hosts": {"web": {"address": "192.0.2.1"}}, "tenants": {"cigales": tenant},
        "services": {"site": {"host": "web", "tenant": "cigales", "data": ["/srv/site"], "playbook": "static-site",
                              "databases": [{"engine": "postgres", "name": "site"}]},
                     "empty": {"host": "web", "tenant": "cigales"}}})


@pytest.mark.parametrize("limit, last, force, refused", [
    (365, "2025-01-10", False, None),  # 681 days: past the limit
    (365, "2026-10-01", False, "within the collective's limit of 365 days"),
    (365, "2026-10-01", True, None),
    (None, "2020-01-01", False, "sets no limit"),
    (365, None, False, "has no last_contact"),
])
def test_a_removal_goes_on_only_past_the_limit_or_when_forced(limit, last, force, refused):
    state = inactivity(inventory(limit, last), "cigales", TODAY)

    reason = removal_refusal(state, "cigales", force=force)

    assert (reason is None) == (refused is None) and (refused is None or refused in reason)


def test_silence_is_counted_in_days_and_described():
    state = inactivity(inventory(365, "2025-01-10"), "cigales", TODAY)
    assert (state.days, state.past_limit) == (681, True)
    assert state.describe() == "681 days ago, past the limit of 365"


def snap(id_: str, day: int, *tags: str) -> SnapshotRef:
    return SnapshotRef(id_, dt.datetime(2026, 11, day, tzinfo=dt.UTC), "web", ("/srv/site",),
                       ("chaton", "service:site", *tags))


def test_the_newest_data_snapshot_and_the_newest_dump_of_each_database_are_chosen():
    db = Database(engine="postgres", name="site")
    found = [snap("d1", 1), snap("d2", 2), snap("p1", 1, "database:postgres:site"),
             snap("p3", 3, "database:postgres:site"), SnapshotRef("x", dt.datetime(2026, 11, 9, tzinfo=dt.UTC), "web",
                                                                  ("/srv/other",), ("service:other",))]

    chosen = newest_snapshots("site", ["/srv/site"], [db], found)

    assert chosen.data is not None and chosen.data.id == "d2"
    assert [(d.name, s.id if s else None) for d, s in chosen.databases] == [("site", "p3")]


@pytest.mark.parametrize("name, compression", [("a.tar.gz", "gz"), ("a.tgz", "gz"), ("a.tar", "")])
def test_the_archive_kind_comes_from_its_name(name, compression):
    assert archive_compression(name) == compression


def test_another_archive_name_is_a_usage_error():
    with pytest.raises(UsageError, match=".tar.gz, .tgz or .tar"):
        archive_compression("export.zip")


@pytest.mark.parametrize("path, member", [("/srv/site/index.html", "cigales/site/data/srv/site/index.html"),
                                          ("srv/site/./a", "cigales/site/data/srv/site/a"),
                                          ("/srv/../etc/passwd", None), ("/", None)])
def test_files_go_under_the_service_folder_and_nothing_climbs_out(path, member):
    assert member_name("cigales", "site", path) == member


def test_the_removal_exports_first_then_works_per_service_lane():
    plan = plan_tenant_removal(inventory(), "cigales", hosts={"site": "web", "empty": "web"},
                               export_to="/x/cigales.tar.gz", undeploy={"site": True, "empty": False})

    keys = [s.key for s in plan.steps]
    assert keys[0] == "export"
    assert keys[1:] == ["undeploy:site@web", "remove-data:site@web", "forget:site@main", "forget:site@off",
                        "undeploy:empty@web", "remove-data:empty@web", "forget:empty@main", "forget:empty@off"]
    assert all(s.needs == ("export",) for s in plan.steps[1:])
    noops = {s.key: s.noop for s in plan.steps if s.noop}
    assert noops == {"undeploy:empty@web": "no playbook", "remove-data:empty@web": "no data, no database",
                     "forget:empty@main": "nothing was ever backed up", "forget:empty@off": "nothing was ever backed up"}


@pytest.mark.parametrize("path, unsafe", [("/", True), ("/srv", True), ("//etc/", True), ("/srv/site", False),
                                          ("/var/spool/postfix", False)])
def test_a_top_level_folder_is_never_removed_for_a_leaving_tenant(path, unsafe):
    from chaton_ops.core.tenants import unsafe_to_remove

    assert unsafe_to_remove(path) is unsafe
