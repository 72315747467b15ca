"""Where services run now: the journal's placements applied to the inventory every command acts on."""

from __future__ import annotations

from pathlib import Path

from chaton_ops.adapters.journal import Journal
from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.placement import Placement, apply_placements
from chaton_ops.ops.placement import place_services


def make_inventory() -> Inventory:
    return Inventory.model_validate({
        "version": 1,
        "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"pw": {"env": "PW"}},
        "repositories": {"main": {"url": "sftp:backup@b.example:/srv/restic/main", "password": "pw"}},
        "hosts": {"primary": {"address": "192.0.2.1"},
                  "vps": {"address": "192.0.2.9", "kind": "fallback"}},
        "services": {"www": {"host": "primary", "data": ["/srv/www"], "fallback": "vps"},
                     "mail": {"host": "primary", "data": ["/var/mail"], "fallback": "vps"}},
    })


def test_a_moved_service_is_on_its_new_host_and_the_others_stay_home():
    inventory = make_inventory()
    placed, warnings = apply_placements(inventory, {"www": Placement("www", "vps", "primary", "2026-11-22T01:00")})

    assert placed.services["www"].host == "vps" and placed.services["mail"].host == "primary"
    assert inventory.services["www"].host == "primary"  # the declaration is untouched
    assert warnings == []


def test_a_service_moved_back_home_is_home():
    inventory = make_inventory()
    placed, _ = apply_placements(inventory, {"www": Placement("www", "primary", "primary", "2026-11-22T02:00")})
    assert placed is inventory


def test_a_placement_on_a_host_the_inventory_no_longer_has_is_ignored_with_a_warning():
    inventory = make_inventory()
    placed, warnings = apply_placements(inventory, {"www": Placement("www", "old-vps", "primary", "t", 7)})

    assert placed.services["www"].host == "primary"
    assert warnings == ["service www was moved to old-vps (run 7), which the inventory no longer has: "
                        "acting on its home primary"]


def test_after_a_failover_the_nightly_backup_runs_on_the_fallback(tmp_path: Path):
    loaded = LoadedInventory(make_inventory(), Path("inv.yml"), (Path("inv.yml"),), positions=None)  # type: ignore[arg-type]
    with Journal(tmp_path / "journal.sqlite3") as journal:
        run_id = journal.start_run("failover", ["--to", "vps"])
        journal.set_placement("www", "vps", home="primary", run_id=run_id, reason="failover")

        placed, warnings = place_services(loaded, journal)

    plan = plan_backup(placed.inventory, ["www", "mail"])
    assert {t.service: t.host for t in plan.targets} == {"www": "vps", "mail": "primary"}
    assert placed.home_of("www") == "primary" and placed.placements["www"].run_id == run_id
    assert warnings == []
