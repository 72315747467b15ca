"""YAML reading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them ourselves so that
duplicate keys are errors (not silently last-wins) and every dotted path maps back to file:line:column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from chaton_ops.errors import Problem

PathKey = tuple[str | int, ...]

# libyaml's parser is ten times faster than the pure-Python one and gives the same nodes and marks.
_COMPOSE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


class Position(NamedTuple):
    """Where a key or list item stands: 1-based line and column. (A tuple: a big inventory has tens of
    thousands of them.)"""

    file: str
    line: int
    column: int


@dataclass
class Positions:
    """Dotted path → where its key (or list item) stands in the source."""

    by_path: dict[PathKey, Position] = field(default_factory=dict)

    def find(self, path: PathKey) -> Position | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.by_path.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def problem(self, message: str, path: PathKey) -> Problem:
        where = self.find(path)
        dotted = dotted_path(path)
        if where is None:
            return Problem(message, path=dotted)
        return Problem(message, path=dotted, file=where.file, line=where.line, column=where.column)


def dotted_path(path: PathKey) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


class _Builder:
    def __init__(self, file: str, positions: Positions, problems: list[Problem]) -> None:
        self.file = file
        self.positions = positions
        self.problems = problems
        self.constructor = yaml.SafeLoader("")  # only used to construct scalars

    def mark(self, node: yaml.Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            result = []
            for index, item in enumerate(node.value):
                self.positions.by_path.setdefault((*path, index), self.mark(item))
                result.append(self.build(item, (*path, index)))
            return result
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # most scalars: skip the constructor's dispatch
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError):
            # A scalar that looks like a date or number but is not one (2026-13-40): keep the text, so
            # the model reports it where a date is expected and accepts it where text is.
            return node.value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            where = self.mark(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(Problem("YAML merge keys (<<) are not supported", dotted_path(path),
                                             where.file, where.line, where.column))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem("a key must be a plain value", dotted_path(path),
                                             where.file, where.line, where.column))
                continue
            key = str(self.constructor.construct_object(key_node))
            if key in seen:
                first = seen[key]
                self.problems.append(Problem(
                    f"duplicate key '{key}' (first at line {first.line})",
                    dotted_path((*path, key)), where.file, where.line, where.column))
                continue
            seen[key] = where
            self.positions.by_path[(*path, key)] = where
            result[key] = self.build(value_node, (*path, key))
        return result


def read_yaml_file(path: Path, positions: Positions, problems: list[Problem]) -> Any:
    """Parse one YAML file into plain data, recording positions; syntax errors become problems."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        problems.append(Problem("no such file", file=file))
        return None
    except OSError as error:
        problems.append(Problem(f"cannot read: {error.strerror}", file=file))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(Problem(f"not a UTF-8 text file (byte {error.start})", file=file))
        return None
    if "\0" in text:
        problems.append(Problem("not a text file (contains NUL bytes)", file=file))
        return None
    try:
        node = yaml.compose(text, Loader=_COMPOSE_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = _describe_yaml_error(error, text)
        if mark is None:
            problems.append(Problem(message, file=file))
        else:
            problems.append(Problem(message, file=file, line=mark.line + 1, column=mark.column + 1))
        return None
    except yaml.YAMLError as error:  # ReaderError: unprintable characters
        problems.append(Problem(f"not valid YAML: {error}", file=file))
        return None
    if node is None:
        problems.append(Problem("the file is empty", file=file))
        return None
    builder = _Builder(file, positions, problems)
    positions.by_path.setdefault((), builder.mark(node))
    try:
        return builder.build(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problems.append(Problem(_describe_yaml_error(error, text), file=file, line=line, column=column))
        return None


def _describe_yaml_error(error: yaml.MarkedYAMLError, text: str) -> str:
    problem = error.problem or "invalid YAML"
    mark = error.problem_mark
    if mark is not None and "\t" in problem or (mark is not None and _has_tab_at(text, mark.line)):
        return f"YAML syntax error: {problem} (tabs cannot indent YAML; use spaces)"
    context = f" {error.context}" if error.context else ""
    return f"YAML syntax error: {problem}{context}".strip()


def _has_tab_at(text: str, line_index: int) -> bool:
    lines = text.splitlines()
    if 0 <= line_index < len(lines):
        line = lines[line_index]
        return "\t" in line[: len(line) - len(line.lstrip())]
    return False
