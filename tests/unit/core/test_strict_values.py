"""Strict types and checked text, for every field of the format (by class, from the models themselves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.loader import load_inventory
from chaton_ops.errors import InventoryError
from tests.unit.core.test_inventory_properties import FULL

DATA = yaml.safe_load(FULL)


def leaves(data: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in leaves(value, (*prefix, key))]
    if isinstance(data, list):
        return [leaf for index, value in enumerate(data) for leaf in leaves(value, (*prefix, index))]
    return [(prefix, data)]


NUMBERS = [(path, value) for path, value in leaves(DATA) if isinstance(value, int | float) and not isinstance(value, bool)]


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text


def problems_with(tmp_path: Path, path: tuple, value: Any) -> list[tuple[str, str]]:
    data = yaml.safe_load(FULL)
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    file = tmp_path / "inventory.yml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        load_inventory(file)
    except InventoryError as error:
        return [(p.path, p.message) for p in error.problems]
    return []


def test_the_full_inventory_has_numbers_to_try() -> None:
    assert len(NUMBERS) >= 15


@pytest.mark.parametrize(("path", "value"), NUMBERS, ids=[dotted(p) for p, _ in NUMBERS])
def test_a_number_given_as_a_boolean_or_as_text_is_refused_at_its_place(tmp_path: Path, path: tuple,
                                                                       value: int | float) -> None:
    for wrong in (True, str(value)):
        found = problems_with(tmp_path, path, wrong)
        assert [place for place, _ in found] == [dotted(path)], found
        assert found[0][1].startswith(("must be a whole number", "must be a number", "must be 1"))


def test_every_text_field_of_the_format_is_checked_for_its_form() -> None:
    """No string in the JSON Schema is free of a pattern, a format (a checked value type) or a choice."""
    unchecked = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and not any(k in node for k in ("pattern", "format", "enum", "const")):
                unchecked.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(Inventory.model_json_schema(), "")
    assert unchecked == []
