"""Restore plans from facts: staging beside each path, kept-aside names, refusals with their numbers,
snapshot choice by the service tag, stop/start and after_restore only where they belong."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.inventory import Database
from chaton_ops.core.restore import (
    DestinationState,
    DumpSnapshot,
    RestoreFacts,
    SnapshotInfo,
    check_snapshot_service,
    choose_data_snapshot,
    choose_dumps,
    kept_aside_path,
    plan_restore,
    staging_folder,
)
from chaton_ops.errors import UsageError

STARTED = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)
STAMP = "20261122T100000Z"


def snap(id_: str, *, service: str = "mail", paths: tuple[str, ...] = ("/srv/mail",), hours_ago: float = 2,
         database: str | None = None) -> SnapshotInfo:
    tags = ("chaton", f"service:{service}") + ((f"database:{database}",) if database else ())
    return SnapshotInfo(id=id_ * 8, short_id=id_ * 2, time=STARTED - dt.timedelta(hours=hours_ago),
                        hostname="primary", paths=paths, tags=tags)


def state(path: str, *, exists: bool = True, mount: bool = False, free: int | None = 10**9,
          kind: str = "directory") -> DestinationState:
    return DestinationState(path=path, exists=exists, kind=kind if exists else None, is_mount_point=mount,
                            filesystem="/srv", free_bytes=free)


def facts(**changes) -> RestoreFacts:
    base = dict(service="mail", host="primary", home="primary", mode="in-place", repository="main",
                restic_version="0.14.0", started=STARTED, snapshot=snap("a"),
                bytes_by_path={"/srv/mail": 1000}, entries_by_path={"/srv/mail": 10},
                destinations=(state("/srv/mail"),))
    base.update(changes)
    return RestoreFacts(**base)


def test_existing_path_is_staged_beside_it_then_swapped_with_the_old_content_kept_aside():
    plan = plan_restore(facts())
    (item,) = plan.paths
    assert item.action == "swap"
    assert item.staging == f"/srv/.chaton-restore-{STAMP}"
    assert item.staged_path == f"/srv/.chaton-restore-{STAMP}/srv/mail"
    assert item.kept_aside == f"/srv/.mail.chaton-prev-{STAMP}"
    assert plan.kept_aside == [item.kept_aside]
    assert plan.live and not plan.refusals
    assert plan.snapshot_age_seconds == 7200


def test_missing_path_is_created_and_nothing_is_kept_aside():
    plan = plan_restore(facts(destinations=(state("/srv/mail", exists=False),)))
    assert plan.paths[0].action == "create" and plan.paths[0].kept_aside is None
    assert not plan.live  # nothing live is replaced: no confirmation


def test_restore_onto_another_host_is_not_live_and_runs_no_playbook_steps():
    plan = plan_restore(facts(host="vps", stop=("stop postfix",), start=("reload postfix",),
                              after_restore=("command postqueue -f",)))
    assert not plan.live and plan.stop == () and plan.after_restore == ()
    assert {noop.what for noop in plan.noops} == {"playbook stop/start", "after_restore steps"}


def test_live_restore_on_the_home_host_stops_starts_and_runs_after_restore():
    plan = plan_restore(facts(stop=("stop postfix",), start=("reload postfix",), after_restore=("postqueue",)))
    assert plan.live and plan.stop == ("stop postfix",) and plan.start == ("reload postfix",)
    assert plan.after_restore == ("postqueue",)


def test_shortfall_of_free_space_is_refused_with_both_numbers():
    plan = plan_restore(facts(destinations=(state("/srv/mail", free=5000),)))
    (refusal,) = plan.refusals
    assert "needs 41.0 KiB (41960 bytes), 4.9 KiB (5000 bytes) are free" in refusal
    assert plan.space[0].needed_bytes == 1000 + 10 * 4096 and not plan.space[0].enough


def test_a_mount_point_cannot_be_swapped():
    plan = plan_restore(facts(destinations=(state("/srv/mail", mount=True),)))
    assert any("mount point" in r for r in plan.refusals)


def test_target_folder_must_be_empty_and_nothing_is_stopped_or_swapped():
    root_state = state("/tmp/insp", kind="directory")
    plan = plan_restore(facts(mode="target", root="/tmp/insp", root_state=root_state, root_is_empty=False,
                              destinations=(), stop=("stop x",)))
    assert plan.paths[0].action == "write" and plan.paths[0].destination == "/tmp/insp/srv/mail"
    assert plan.paths[0].staging is None and plan.stop == () and not plan.live
    assert any("not empty" in r for r in plan.refusals)


def test_databases_load_into_a_staging_name_and_keep_the_live_one_under_another():
    site = Database(engine="postgres", name="site")
    dump = DumpSnapshot(database=site, snapshot=snap("d", database="postgres:site", paths=("/postgres-site.sql",)),
                        file="/postgres-site.sql")
    plan = plan_restore(facts(dumps=(dump,), existing_databases=("postgres:site",)))
    (db,) = plan.databases
    assert db.action == "load" and db.staging_name == "site_chaton_new_20261122t100000z"
    assert db.kept_aside == "site_chaton_prev_20261122t100000z"
    fresh = plan_restore(facts(dumps=(dump,), existing_databases=()))
    assert fresh.databases[0].kept_aside is None


def test_long_database_names_are_shortened_to_the_engine_limit():
    name = "n" * 63
    dump = DumpSnapshot(database=Database(engine="postgres", name=name), snapshot=snap("d", database=f"postgres:{name}"),
                        file="/x.sql")
    (db,) = plan_restore(facts(dumps=(dump,), existing_databases=(f"postgres:{name}",))).databases
    assert len(db.staging_name) == 63 and len(db.kept_aside) == 63 and db.staging_name != db.kept_aside


def test_a_missing_database_engine_is_refused():
    dump = DumpSnapshot(database=Database(engine="mariadb", name="shop"), snapshot=snap("d", database="mariadb:shop"),
                        file="/mariadb-shop.sql")
    plan = plan_restore(facts(dumps=(dump,), missing_engines=("mysql",)))
    assert any("mariadb is not installed on primary" in r for r in plan.refusals)


def test_drill_restores_under_the_scratch_folder_and_loads_scratch_databases():
    dump = DumpSnapshot(database=Database(engine="postgres", name="site"), snapshot=snap("d", database="postgres:site"),
                        file="/postgres-site.sql")
    plan = plan_restore(facts(mode="drill", host="vps", root="/var/tmp/chaton-drill-mail-x",
                              root_state=state("/var/tmp/chaton-drill-mail-x", exists=False), destinations=(),
                              dumps=(dump,)))
    assert plan.paths[0].destination == "/var/tmp/chaton-drill-mail-x/srv/mail"
    assert plan.databases[0].action == "scratch" and plan.databases[0].staging_name.startswith("site_chaton_drill_")
    assert not plan.live and not plan.refusals


def test_a_service_without_any_snapshot_is_refused():
    plan = plan_restore(facts(snapshot=None, bytes_by_path={}, entries_by_path={}))
    assert plan.refusals == ("service mail has no snapshot in repository main",)


def test_latest_data_snapshot_is_the_newest_that_is_not_a_dump():
    snapshots = [snap("a", hours_ago=5), snap("b", hours_ago=1), snap("c", hours_ago=0.5, database="postgres:site"),
                 snap("e", service="www", hours_ago=0.1)]
    assert choose_data_snapshot(snapshots, "mail", "latest").short_id == "bb"
    assert choose_data_snapshot(snapshots, "nothing", "latest") is None


def test_a_snapshot_id_of_another_service_is_refused_naming_both():
    snapshots = [snap("a"), snap("e", service="www")]
    with pytest.raises(UsageError, match="belongs to service www, not to mail"):
        choose_data_snapshot(snapshots, "mail", "eeee")
    with pytest.raises(UsageError, match="no snapshot ffff"):
        choose_data_snapshot(snapshots, "mail", "ffff")
    with pytest.raises(UsageError, match="belongs to no chaton service"):
        check_snapshot_service(SnapshotInfo(id="x" * 64, short_id="xxxxxxxx", time=STARTED, hostname="h",
                                            paths=("/",), tags=()), "mail")


def test_ambiguous_prefix_is_refused():
    with pytest.raises(UsageError, match="ambiguous"):
        choose_data_snapshot([snap("a"), SnapshotInfo(**{**snap("a").model_dump(), "id": "a" * 7 + "b"})],
                             "mail", "aaaa")


def test_each_database_gets_the_dump_closest_to_the_data_snapshot():
    site = Database(engine="postgres", name="site")
    shop = Database(engine="mariadb", name="shop")
    snapshots = [snap("1", hours_ago=26, database="postgres:site"), snap("2", hours_ago=1.99, database="postgres:site"),
                 snap("3", hours_ago=0.1, database="postgres:site")]
    chosen, missing = choose_dumps(snapshots, "mail", [site, shop], anchor=STARTED - dt.timedelta(hours=2))
    assert [c.snapshot.short_id for c in chosen] == ["22"] and missing == ["mariadb:shop"]
    newest, _ = choose_dumps(snapshots, "mail", [site], anchor=None)
    assert newest[0].snapshot.short_id == "33"


def test_names_of_staging_and_kept_aside_places_stay_in_the_same_folder():
    assert staging_folder("/srv/www/", STAMP) == f"/srv/.chaton-restore-{STAMP}"
    assert staging_folder("/data", STAMP) == f"/.chaton-restore-{STAMP}"
    assert kept_aside_path("/var/spool/postfix", STAMP) == f"/var/spool/.postfix.chaton-prev-{STAMP}"
