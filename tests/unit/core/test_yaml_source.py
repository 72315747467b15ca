"""The YAML reader never crashes, never hangs, never guesses: every hostile file is one located problem.

Classes: what is not a regular file; what is too big, too deep or expands too much through aliases;
what is not UTF-8 text YAML accepts; what YAML can express but an inventory never means (tags,
several documents, complex keys, merge keys).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from chaton_ops.core.loader import load_inventory
from chaton_ops.core.yaml_source import LIMITS, Limits, Positions, parse_yaml, read_yaml_file
from chaton_ops.errors import InventoryError, Problem

HEAD = "version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\n"


def problems_of(text: str, limits: Limits = LIMITS) -> tuple[object, list[Problem]]:
    problems: list[Problem] = []
    data = parse_yaml(text, "f.yml", Positions(), problems, limits)
    return data, problems


def load_problems(path: Path) -> list[Problem]:
    with pytest.raises(InventoryError) as raised:
        load_inventory(path)
    return raised.value.problems


def finishes_within(seconds: float, function, *args):
    """Run `function` in a thread; fail (instead of hanging the suite) when it does not return in time."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result[0]


# ------------------------------------------------------------------------------- only regular files
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_given_as_the_inventory_is_refused_without_reading_it(device: str) -> None:
    problems = finishes_within(5, load_problems, Path(device))
    assert [p.render() for p in problems] == [f"{device}: cannot read: not a regular file (a character device)"]


def test_a_fifo_without_writer_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "inventory.yml"
    os.mkfifo(fifo)
    problems = finishes_within(5, load_problems, fifo)
    assert problems[0].message == "cannot read: not a regular file (a FIFO)"


def test_a_directory_named_like_a_file_in_an_inventory_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(HEAD)
    (tmp_path / "b.yml").mkdir()
    problems = load_problems(tmp_path)
    assert [(Path(p.file).name, p.message) for p in problems] == [
        ("b.yml", "cannot read: not a regular file (a directory)")]


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text(HEAD + "# " + "x" * (2 * 1024 * 1024) + "\n")
    problems: list[Problem] = []
    assert read_yaml_file(path, Positions(), problems, Limits(max_file_bytes=1024 * 1024)) is None
    assert problems[0].message == "cannot read: the file is larger than 1 MiB (the limit of one file; split it)"


# -------------------------------------------------------------------------------------------- bounds
@pytest.mark.parametrize("text", [
    "a: " + "[" * 100_000 + "]" * 100_000,          # flow: libyaml's own composer overflows the C stack
    "a: " + "{b: " * 100_000 + "c" + "}" * 100_000,
    "a:\n" + "".join(" " * level + "- \n" for level in range(5000)),  # block sequences
    "".join(" " * level + f"k{level}:\n" for level in range(5000)),  # block mappings
])
def test_deep_nesting_is_one_problem_naming_the_limit_and_its_line(text: str) -> None:
    data, problems = finishes_within(10, problems_of, text)
    assert data is None
    assert len(problems) == 1
    problem = problems[0]
    assert problem.message == "nested deeper than 64 levels (the limit)"
    assert problem.file == "f.yml" and problem.line is not None and problem.column is not None


def test_nesting_up_to_the_limit_is_read() -> None:
    data, problems = problems_of("a: " + "[" * 63 + "1" + "]" * 63)
    assert problems == [] and isinstance(data, dict)


def test_an_alias_bomb_is_refused_at_once_at_the_alias_that_crosses_the_limit() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    started = time.monotonic()
    data, problems = finishes_within(10, problems_of, "\n".join(lines))
    assert time.monotonic() - started < 2
    assert data is None and len(problems) == 1
    assert "expand the file to more than 2,000,000 values (the limit)" in problems[0].message
    assert problems[0].line is not None and 2 <= problems[0].line <= 12


def test_aliases_within_the_limit_are_shared_values() -> None:
    data, problems = problems_of("base: &ssh {user: root, port: 22}\nweb: {ssh: *ssh}\nmail: {ssh: *ssh}\n")
    assert problems == []
    assert data == {"base": {"user": "root", "port": 22}, "web": {"ssh": {"user": "root", "port": 22}},
                    "mail": {"ssh": {"user": "root", "port": 22}}}


@pytest.mark.parametrize(("text", "message", "line"), [
    ("a: &a [1, *a]\n", "the alias *a refers to the collection that contains it", 1),
    ("a: &a {b: {c: *a}}\n", "the alias *a refers to the collection that contains it", 1),
    ("a: 1\nb: *nowhere\n", "unknown alias *nowhere (no &nowhere before it)", 2),
    ("a: &x 1\n*x : 2\n", "a key must be a plain value, not an alias", 2),
    ("? [a, b]\n: c\n", "a key must be a plain value", 1),
    ("a: 1\n---\nb: 2\n", "only one YAML document per file (a second one starts here)", 2),
    ("a: !!python/object:os.system x\n", "the YAML tag tag:yaml.org,2002:python/object:os.system is not supported", 1),
    ("a: !!binary aGVsbG8=\n", "the YAML tag tag:yaml.org,2002:binary is not supported", 1),
    ("a: !!set {x, y}\n", "the YAML tag tag:yaml.org,2002:set is not supported", 1),
    ("base: &b {x: 1}\nweb:\n  <<: *b\n", "YAML merge keys (<<) are not supported", 3),
    ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1)", 2),
])
def test_yaml_an_inventory_never_means_is_one_located_problem(text: str, message: str, line: int) -> None:
    _, problems = finishes_within(5, problems_of, text)
    assert [(p.message, p.line) for p in problems] == [(message, line)]


# ------------------------------------------------------------------------------------------ decoding
@pytest.mark.parametrize(("content", "message", "line", "column"), [
    (HEAD.encode() + b"hosts:\n  web: {address: caf\xe9.example}\n",
     "not a UTF-8 text file: invalid byte 0xe9 (save it as UTF-8)", 4, 21),
    (HEAD.encode() + b"hosts: {}\n  \x00\n", "not a text file (contains NUL bytes)", 4, 3),
    (HEAD.encode() + "hosts:\n  wéb: {address: x\x07y}\n".encode(),
     "control character U+0007 is not allowed in YAML", 4, 19),
    ("# é\n\x1b[31m: 1\n".encode(), "control character U+001B is not allowed in YAML", 2, 1),
    ("version: 1\n\u0085ok: \x9b\n".encode(), "control character U+009B is not allowed in YAML", 2, 6),
    ("version: 1\r\n".encode("utf-16"), "the file is UTF-16 text; save it as UTF-8", 1, 1),
])
def test_every_decoding_problem_is_located_at_line_and_column(tmp_path: Path, content: bytes, message: str,
                                                              line: int, column: int) -> None:
    path = tmp_path / "inventory.yml"
    path.write_bytes(content)
    problems = load_problems(path)
    assert [(p.message, p.line, p.column) for p in problems][:1] == [(message, line, column)]
    assert problems[0].file == str(path)


def test_several_control_characters_are_each_located(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text("a: \x01\nb: \x02\nc: \x03\n")
    assert [(p.line, p.column) for p in load_problems(path)] == [(1, 4), (2, 4), (3, 4)]


# ----------------------------------------------------------------------------------------- positions
def test_a_value_reached_through_an_alias_is_located_where_it_is_written() -> None:
    positions = Positions()
    problems: list[Problem] = []
    parse_yaml("base: &b {port: 22}\nhosts:\n  web:\n    ssh: *b\n", "f.yml", positions, problems)
    alias = positions.find(("hosts", "web", "ssh"))
    written = positions.find(("hosts", "web", "ssh", "port"))
    assert alias is not None and (alias.line, alias.column) == (4, 5)
    assert written is not None and (written.line, written.column) == (1, 11)


def test_a_key_holding_a_newline_or_an_escape_is_reported_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(HEAD + 'hosts:\n  web: {address: 192.0.2.1, "x;\\n  location /etc {\\u001b[2J": 1}\n')
    problems = load_problems(path)
    rendered = [p.render() for p in problems]
    assert len(rendered) == 1 and "\n" not in rendered[0] and "\x1b" not in rendered[0]
    assert "unknown key 'x;\\n  location /etc {\\x1b[2J'" in rendered[0]
