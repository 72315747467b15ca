"""Where an inventory comes from: a file, a directory of *.yml merged, or nothing usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.core.loader import load_inventory, locate_inventory
from chaton_ops.errors import InventoryError

EXAMPLE = Path(__file__).parents[3] / "inventory" / "example.yml"
HEAD = "version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\n"


def test_the_example_inventory_loads_and_locates_its_objects() -> None:
    loaded = load_inventory(EXAMPLE)

    assert len(loaded.inventory.services) == 12
    imap_line = EXAMPLE.read_text().splitlines().index("  imap:") + 1
    assert loaded.where(("services", "imap")) == f"{EXAMPLE}:{imap_line}"
    assert loaded.where(("services", "imap", "retention", "daily")).startswith(f"{EXAMPLE}:")


def test_a_directory_merges_its_yml_files(tmp_path: Path) -> None:
    (tmp_path / "00-base.yml").write_text(HEAD + "hosts:\n  web: {address: 10.77.0.10}\n")
    (tmp_path / "10-more.yaml").write_text("hosts:\n  mail: {address: 10.77.0.11}\n"
                                           "services:\n  www: {host: web}\n")
    (tmp_path / "notes.txt").write_text("not read")

    loaded = load_inventory(tmp_path)

    assert set(loaded.inventory.hosts) == {"web", "mail"}
    assert loaded.where(("hosts", "mail")) == f"{tmp_path / '10-more.yaml'}:2"
    assert [f.name for f in loaded.files] == ["00-base.yml", "10-more.yaml"]


def test_problems_from_several_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(HEAD + "hosts:\n  web: {address: 10.77.0.10, colour: red}\n")
    (tmp_path / "b.yml").write_text("hosts:\n  mail: {adress: 10.77.0.11}\n")

    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path)

    located = {(Path(p.file).name, p.line, p.path) for p in raised.value.problems}
    assert ("a.yml", 4, "hosts.web.colour") in located
    assert ("b.yml", 2, "hosts.mail.adress") in located


def test_a_missing_file_is_one_located_problem(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path / "missing.yml")

    assert raised.value.problems[0].render() == f"{tmp_path / 'missing.yml'}: no such file or directory"


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a UTF-8 text file"),
    (b"version: 1\x00\n", "not a text file (contains NUL bytes)"),
])
def test_a_binary_file_is_refused_without_parsing(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "inventory.yml"
    path.write_bytes(content)

    with pytest.raises(InventoryError) as raised:
        load_inventory(path)

    assert expected in raised.value.problems[0].message


def test_duplicate_keys_are_errors_not_last_wins(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(HEAD + "hosts:\n  web: {address: 10.77.0.10}\n  web: {address: 10.77.0.99}\n")

    with pytest.raises(InventoryError) as raised:
        load_inventory(path)

    assert [(p.line, p.path) for p in raised.value.problems] == [(5, "hosts.web")]


def test_paths_in_the_inventory_are_taken_from_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(HEAD)

    loaded = load_inventory(path)

    assert loaded.resolve_path("keys/id") == tmp_path / "keys" / "id"
    assert loaded.resolve_path("/etc/x") == Path("/etc/x")
    assert loaded.resolve_path("~/x") == Path.home() / "x"


def test_the_inventory_is_found_from_option_then_environment_then_default() -> None:
    assert locate_inventory("a.yml", {"CHATON_INVENTORY": "b.yml"}) == Path("a.yml")
    assert locate_inventory(None, {"CHATON_INVENTORY": "b.yml"}) == Path("b.yml")
    assert locate_inventory(None, {}) == Path("inventory")
