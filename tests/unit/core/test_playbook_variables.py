"""Playbooks declare their variables; services' `vars` are checked against them at `inventory check`
(and before `deploy` renders anything), each problem at the service's value (file:line:column)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from chaton_ops.core.playbook import PlaybookError, builtin_playbooks_dir, load_playbook
from chaton_ops.core.playbook_variables import VariableDeclaration, find_variable_problems
from chaton_ops.errors import InventoryError
from chaton_ops.ops.inventory_check import check_inventory_at

SHIPPED = sorted(builtin_playbooks_dir().glob("*.yml"))
STEPS = "steps:\n  - command: [true]\n"


def write_playbook(folder: Path, text: str) -> Path:
    path = folder / "playbooks" / "demo.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(("declaration", "message"), [
    ("{type: integer, default: '22', description: d}", "the default must be a whole number; got '22'"),
    ("{type: integer, default: true, description: d}", "the default must be a whole number; got True"),
    ("{type: dns_name, default: 'a b', description: d}", "the default 'a b' is not a DNS name"),
    ("{type: string, pattern: '[', description: d}", "`pattern` is not a regular expression"),
    ("{type: integer, pattern: '[0-9]+', description: d}", "`pattern` is only for text values"),
    ("{type: list, description: d}", "`items` (the type of the items) is given for a list, and only for a list"),
    ("{type: string, items: string, description: d}", "`items` (the type of the items)"),
    ("{type: string, required: true, default: x, description: d}", "a required variable has no default"),
    ("{type: string, minimum: 1, description: d}", "`minimum` and `maximum` are only for an integer"),
    ("{type: float, description: d}", "must be 'string', 'integer'"),
    ("{type: string}", "'description' is required"),
    ("{type: string, description: d, secret: true}", "unknown key 'secret'"),
])
def test_a_bad_declaration_is_a_located_problem_of_the_playbook(tmp_path: Path, declaration: str, message: str) -> None:
    path = write_playbook(tmp_path, f"description: demo\nvariables:\n  port: {declaration}\n{STEPS}")
    with pytest.raises(PlaybookError) as raised:
        load_playbook(path)
    problem = raised.value.problems[0]
    assert message in problem.message and problem.file == str(path) and problem.line == 3


def test_a_playbook_still_giving_vars_defaults_is_told_about_variables(tmp_path: Path) -> None:
    path = write_playbook(tmp_path, f"vars: {{index: index.html}}\n{STEPS}")
    with pytest.raises(PlaybookError, match="declare their variables under `variables:`"):
        load_playbook(path)


@pytest.mark.parametrize("playbook", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_shipped_playbook_declares_every_variable_its_templates_use_and_uses_every_one(playbook: Path) -> None:
    declared = set(load_playbook(playbook).playbook.variables)
    texts = [playbook.read_text(), *(template.read_text() for template in (playbook.parent / playbook.stem).glob("*"))]
    used = {name for text in texts for name in re.findall(r"\bvars\.([A-Za-z_]\w*)", text)}
    assert used == declared


# ------------------------------------------------------------------------------ a service's vars
DECLARATIONS = {
    "port": VariableDeclaration(type="integer", minimum=1, maximum=65535, default=25, description="d"),
    "tls": VariableDeclaration(type="boolean", default=False, description="d"),
    "names": VariableDeclaration(type="list", items="dns_name", default=[], description="d"),
    "mode": VariableDeclaration(type="string", pattern="on|off", default="on", description="d"),
    "root": VariableDeclaration(type="path", required=True, description="the site's folder"),
}


@pytest.mark.parametrize(("given", "expected"), [
    ({"root": "/srv", "port": True}, [("port", "must be a whole number; got True")]),
    ({"root": "/srv", "port": "25"}, [("port", "must be a whole number; got '25'")]),
    ({"root": "/srv", "port": 0}, [("port", "must be at least 1; got 0")]),
    ({"root": "/srv", "tls": "yes"}, [("tls", "must be true or false; got 'yes'")]),
    ({"root": "/srv", "names": "a.example"}, [("names", "must be a list of DNS names")]),
    ({"root": "/srv", "names": ["a.example", "b;c"]}, [("names", "item 1 'b;c' is not a DNS name")]),
    ({"root": "/srv", "mode": "onn"}, [("mode", "'onn' does not match on|off")]),
    ({"root": "/srv/../etc"}, [("root", "has a '.' or '..' segment")]),
    ({"root": "/srv", "prot": 25}, [("prot", "has no variable 'prot' (did you mean")]),
    ({}, [("", "needs the variable 'root' (the site's folder)")]),
    ({"root": "/srv", "port": 2525, "tls": True, "names": ["a.example"], "mode": "off"}, []),
])
def test_a_service_s_vars_are_checked_against_the_declarations(given: dict, expected: list) -> None:
    found = [("".join(path), message) for message, path in find_variable_problems(DECLARATIONS, given, "demo")]
    assert [name for name, _ in found] == [name for name, _ in expected]
    for (_, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message and "playbook demo" in message


def test_inventory_check_locates_a_bad_variable_at_the_service_s_value(tmp_path: Path) -> None:
    inventory = {
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "hosts": {"web": {"address": "192.0.2.1"}},
        "services": {"www": {"host": "web", "playbook": "static-site",
                             "vars": {"server_name": "www.t.example", "index": "../../etc/passwd"}}},
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    with pytest.raises(InventoryError) as raised:
        check_inventory_at(path, environ={})
    [problem] = raised.value.problems
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "index:" in text)
    assert (problem.path, problem.file, problem.line) == ("services.www.vars.index", str(path), line)
    assert "does not match [A-Za-z0-9][A-Za-z0-9._-]*" in problem.message
