"""The reference pass: every dangling reference is one problem at its own place — never a crash, never a
cascade into the checks that follow that reference (the tenant's repository, the fallback's kind…)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaton_ops.core.loader import load_inventory
from chaton_ops.errors import InventoryError
from tests.unit.core.test_inventory_properties import FULL

# Every field that names another object of the inventory, in the full seed inventory.
REFERENCES = [
    ("repositories", "main", "password"),
    ("proxmox", "hutte", "token"),
    ("dns", "ti-nuage.example", "key"),
    ("notify", "healthchecks", 0),
    ("hosts", "hutte1", "proxmox"),
    ("hosts", "web", "vm", "proxmox"),
    ("tenants", "cigales", "repository"),
    ("services", "www", "host"),
    ("services", "www", "tenant"),
    ("services", "www", "repositories", 0),
    ("services", "www", "dns", 0, "zone"),
    ("services", "www", "fallback"),
    ("services", "www", "notify", "healthchecks", 0),
]


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
    return text


def write_with(tmp_path: Path, changes: dict[tuple, object]) -> Path:
    data = yaml.safe_load(FULL)
    for path, value in changes.items():
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_full_inventory_has_a_reference_of_every_kind_and_loads() -> None:
    from tests.unit.core.test_inventory_properties import SEEDS

    assert SEEDS["full"] == FULL
    assert len(REFERENCES) == 13


@pytest.mark.parametrize("reference", REFERENCES, ids=dotted)
def test_a_dangling_reference_is_one_problem_at_its_place(tmp_path: Path, reference: tuple) -> None:
    dangling = "nowhere.example" if reference[-1] == "zone" else "nowhere"
    with pytest.raises(InventoryError) as raised:
        load_inventory(write_with(tmp_path, {reference: dangling}))
    assert [p.path for p in raised.value.problems] == [dotted(reference)], raised.value.message
    assert raised.value.problems[0].line is not None


def test_every_reference_dangling_at_once_gives_one_problem_each_and_nothing_else(tmp_path: Path) -> None:
    changes: dict[tuple, object] = {ref: ("nowhere.example" if ref[-1] == "zone" else "nowhere") for ref in REFERENCES}
    with pytest.raises(InventoryError) as raised:
        load_inventory(write_with(tmp_path, changes))
    assert sorted(p.path for p in raised.value.problems) == sorted(dotted(ref) for ref in REFERENCES)


@pytest.mark.parametrize("tenant", ["nowhere", "cigales"])
def test_a_service_with_data_and_databases_of_a_dangling_tenant_is_judged_once(tmp_path: Path, tenant: str) -> None:
    """The data check follows the tenant to its repository: it runs only when the tenant resolves."""
    changes: dict[tuple, object] = {("services", "www", "tenant"): tenant, ("services", "www", "repositories"): None,
                                    ("repositories",): {}, ("tenants", "cigales", "repository"): None}
    with pytest.raises(InventoryError) as raised:
        load_inventory(write_with(tmp_path, changes))
    www = [p.path for p in raised.value.problems if p.path.startswith("services.www")]
    expected = "services.www.tenant" if tenant == "nowhere" else "services.www.data"
    assert www == [expected]
