"""Load an inventory from a file or a directory of `*.yml`, in two validation passes.

Pass 1 (structure): YAML syntax, duplicate keys, types, unknown keys, name formats.
Pass 2 (references): service→host, →tenant, →repository, →zone, →fallback, secrets, duplicates.
Every problem of a pass is reported at once, located by file, line, column and dotted path.
"""

from __future__ import annotations

import difflib
import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from chaton_ops.core.inventory import NAME_PATTERN, Inventory
from chaton_ops.core.placement import Placement
from chaton_ops.core.references import find_reference_problems
from chaton_ops.core.validation import located_problems
from chaton_ops.core.yaml_source import PathKey, Position, Positions, read_yaml_file
from chaton_ops.errors import InventoryError, Problem

ENV_VARIABLE = "CHATON_INVENTORY"
DEFAULT_LOCATION = Path("inventory")
SECTIONS_BY_NAME = ("secrets", "repositories", "proxmox", "hosts", "dns", "tenants", "services")
SINGLE_SECTIONS = ("collective", "defaults")


@dataclass(frozen=True)
class LoadedInventory:
    """A validated inventory with where it came from."""

    inventory: Inventory
    source: Path
    files: tuple[Path, ...]
    positions: Positions
    # where moved services run now (core/placement.py); `inventory` then has them on those hosts and
    # `declared` is the inventory as written (every service on its home)
    placements: Mapping[str, Placement] = field(default_factory=dict)
    declared: Inventory | None = None

    def home_of(self, service: str) -> str:
        """The service's home host, as the inventory declares it."""
        return (self.declared or self.inventory).services[service].host

    @property
    def base_dir(self) -> Path:
        return self.source if self.source.is_dir() else self.source.parent

    def resolve_path(self, value: str) -> Path:
        """A path from the inventory: `~` expanded, relative paths taken from the inventory's folder."""
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.base_dir / path

    @property
    def own_playbooks(self) -> Path | None:
        """The collective's own playbooks folder (`playbooks:` in the inventory), searched before the
        inventory's `playbooks/` and the built-in ones; None when the inventory names none."""
        named = self.inventory.playbooks
        return None if named is None else self.resolve_path(named)

    def playbook_search_path(self, environ: dict[str, str] | None = None) -> list[Path]:
        from chaton_ops.core.playbook import playbook_search_path

        return playbook_search_path(self.base_dir, environ, own=self.own_playbooks)

    def where(self, path: PathKey) -> str:
        position = self.positions.find(path)
        return f"{position.file}:{position.line}" if position else str(self.source)


def locate_inventory(option: str | None, environ: dict[str, str] | None = None) -> Path:
    """`-i PATH`, else `$CHATON_INVENTORY`, else `./inventory/`."""
    environ = dict(os.environ) if environ is None else environ
    if option:
        return Path(option)
    if environ.get(ENV_VARIABLE):
        return Path(environ[ENV_VARIABLE])
    return DEFAULT_LOCATION


def list_inventory_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted([*source.glob("*.yml"), *source.glob("*.yaml")])
        if not files:
            raise InventoryError(Problem("no *.yml file in this directory", file=str(source)))
        return files
    if not source.exists():
        hint = f" (set -i PATH or ${ENV_VARIABLE})" if source == DEFAULT_LOCATION else ""
        raise InventoryError(Problem(f"no such file or directory{hint}", file=str(source)))
    return [source]


def load_inventory(source: Path) -> LoadedInventory:
    """Read, merge and validate; raise InventoryError listing every problem found."""
    with _cyclic_gc_paused():
        return _load(source)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    # Loading builds hundreds of thousands of small acyclic objects (events, data, marks, models): the
    # cyclic collector would run again and again for nothing. Once loaded, they live as long as the
    # command, so they are moved out of the collector's sight (gc.freeze) before it is switched back on:
    # else its first run walks them all (40 % of a 10,000-service `inventory check`).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _load(source: Path) -> LoadedInventory:
    files = list_inventory_files(source)
    positions = Positions()
    problems: list[Problem] = []
    merged = _merge_files(files, positions, problems)
    if problems:
        raise InventoryError(problems)
    try:
        inventory = Inventory.model_validate(merged)
    except ValidationError as error:
        raise InventoryError(_structure_problems(error, merged, positions, files)) from None
    references = [positions.problem(message, path) for message, path in find_reference_problems(inventory)]
    if references:
        raise InventoryError(references)
    return LoadedInventory(inventory, source, tuple(files), positions)


def _merge_files(files: list[Path], positions: Positions, problems: list[Problem]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    defined_in: dict[PathKey, Position] = {}
    for path in files:
        local = Positions()
        data = read_yaml_file(path, local, problems)
        # What came first keeps its place, so a duplicate points at the first definition.
        positions.extend(local)
        if data is None:
            continue
        if not isinstance(data, dict):
            root = local.find(()) or Position(str(path), 1, 1)
            problems.append(Problem("the top level must be a mapping (version:, collective:, hosts:, …)",
                                    file=str(path), line=root.line, column=root.column))
            continue
        for key, value in data.items():
            here = local.find((key,))
            if key in SECTIONS_BY_NAME and isinstance(value, dict):
                section = merged.setdefault(key, {})
                if not isinstance(section, dict):
                    continue
                names_at = local.keys_at((key,))
                for name, item in value.items():
                    where = names_at.get(name)
                    first = defined_in.get((key, name))
                    if first is not None:
                        problems.append(Problem(
                            f"'{name}' is already defined in {first.file}:{first.line}", f"{key}.{name}",
                            str(path), where.line if where else None, where.column if where else None))
                        continue
                    section[name] = item
                    if where:
                        defined_in[(key, name)] = where
            elif key == "version" and "version" in merged:
                if merged["version"] != value and here:
                    problems.append(Problem(f"version {value!r} differs from the other files' {merged['version']!r}",
                                            "version", here.file, here.line, here.column))
            else:
                if key in merged and (key,) in defined_in and here:
                    first = defined_in[(key,)]
                    problems.append(Problem(f"'{key}' is already given in {first.file}:{first.line}", key,
                                            here.file, here.line, here.column))
                    continue
                merged[key] = value
                if here:
                    defined_in[(key,)] = here
    return merged


def _structure_problems(error: ValidationError, data: Any, positions: Positions, files: list[Path]) -> list[Problem]:
    return located_problems(error, positions, file=str(files[0]), explain=_explain, fallback_column=1)


def _explain(item: Any, loc: PathKey) -> tuple[PathKey, str]:
    kind = item["type"]
    message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "[key]" in loc:
        cut = loc.index("[key]")
        path = loc[:cut]
        if kind == "string_pattern_mismatch" and item["ctx"]["pattern"] == NAME_PATTERN:
            return path, f"name {str(path[-1])!r} must be lowercase letters, digits and '-' ({NAME_PATTERN})"
        if kind == "string_pattern_mismatch":
            return path, f"name {str(path[-1])!r} does not have the expected form ({item['ctx']['pattern']})"
        return path, message
    if kind == "extra_forbidden":
        key = str(loc[-1])
        suggestion = _suggest(key, loc[:-1])
        return loc, f"unknown key '{key}'" + (f" (did you mean '{suggestion}'?)" if suggestion else "")
    if kind == "missing":
        return loc, f"'{loc[-1]}' is required"
    if loc and loc[-1] in SECRET_NAME_FIELDS and loc[0] != "secrets":
        # Where a secret's name is expected, an admin may have pasted the secret: never echo it.
        return loc, "must be the name of a secret (a key of `secrets:`), not the secret itself"
    if loc and loc[0] == "secrets":
        # Anything under `secrets:` may be a value pasted by mistake: describe, never quote.
        return loc, _without_input(item, message)
    if kind == "string_pattern_mismatch" and loc and loc[-1] in NAME_FIELDS:
        return loc, f"must be a name ({NAME_PATTERN}); got {item.get('input')!r}"
    if kind == "string_pattern_mismatch":
        return loc, f"{item.get('input')!r} does not have the expected form ({item['ctx']['pattern']})"
    if kind in ("dict_type", "model_type", "model_attributes_type") and item.get("input") is None:
        return loc, "is empty; give a mapping or remove the key"
    if kind in PLAIN_MESSAGES:
        return loc, f"{PLAIN_MESSAGES[kind]}; got {_short(item.get('input'))}"
    if kind == "literal_error":
        return loc, f"must be {item['ctx']['expected']}; got {_short(item.get('input'))}"
    return loc, _without_input(item, message)


# Where the model wants a secret's name; the value found there is never shown.
SECRET_NAME_FIELDS = ("password", "token", "key")
NAME_FIELDS = ("host", "tenant", "fallback", "playbook", "repository", "proxmox", "node")
# pydantic's wording for common type errors, said the way an admin reads a YAML file.
PLAIN_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list (`- item` lines or [a, b])",
    "dict_type": "must be a mapping (`key: value` lines or {key: value})",
    "model_type": "must be a mapping (`key: value` lines or {key: value})",
    "model_attributes_type": "must be a mapping (`key: value` lines or {key: value})",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
}


def _without_input(item: Any, message: str) -> str:
    kind = item["type"]
    if kind in PLAIN_MESSAGES:
        return PLAIN_MESSAGES[kind]
    if kind == "string_pattern_mismatch":
        return f"does not have the expected form ({item['ctx']['pattern']})"
    return message.replace("Input should be", "must be")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(key: str, parent: PathKey) -> str | None:
    model = _model_at(parent)
    if model is None:
        return None
    matches = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _model_at(path: PathKey) -> type[BaseModel] | None:
    """The model class a dotted path lands on, following fields, dict values and list items."""
    import typing

    current: Any = Inventory
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin is dict and args:
            current = args[1]
        elif origin is list and args:
            current = args[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    import types
    import typing

    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation
