"""YAML reading that remembers where every value came from, and that cannot be made to hang or crash.

We build plain Python data from libyaml's *events* ourselves, in one loop with an explicit stack, so that:
- duplicate keys are errors (not silently last-wins) and every dotted path maps back to file:line:column;
- nesting depth, alias expansion and file size are bounded (`Limits`): a file nested 100,000 levels deep,
  a self-referencing alias or a "billion laughs" alias bomb is one located problem, found at once —
  never a RecursionError, a C stack overflow in libyaml's recursive composer, or minutes of work;
- only regular files are read (never a FIFO, a device or a directory), at most `max_file_bytes` of them;
- every decoding problem (invalid UTF-8, NUL, control characters) is located at file:line:column.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml import events

from chaton_ops.errors import Problem

PathKey = tuple[str | int, ...]

# libyaml's parser is ten times faster than the pure-Python one and gives the same events and marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_MERGE_TAG = _TAG + "merge"
# Explicit tags a value may carry (`!!str 22`); anything else (!!python/object, !!binary, !!set, !foo)
# would build values no model expects, or run code in other loaders: refused where it is written.
_SCALAR_TAGS = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp"))
_COLLECTION_TAGS = frozenset((_TAG + "map", _TAG + "seq"))


@dataclass(frozen=True)
class Limits:
    """What one YAML file may hold. Far above any real inventory (a 10,000-service inventory is ≈ 4 MiB,
    ≈ 300,000 values and 6 levels deep), low enough that no file can exhaust memory, time or the stack."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_values: int = 2_000_000


LIMITS = Limits()


class Position(NamedTuple):
    """Where a key or list item stands: 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass
class _Source:
    """One file's data, and the libyaml mark of every key and list item, per container (by id)."""

    file: str
    root: Any
    root_mark: Any
    marks: dict[int, Any]
    # Containers dropped while building (a merge key's value, a duplicate key's value) are kept alive so
    # that their ids, used as keys of `marks`, are never reused by another container.
    kept: list[Any] = field(default_factory=list)

    def walk(self, path: PathKey) -> tuple[int, Any]:
        """How many parts of `path` exist in this file, and the mark of the last one found."""
        node, mark, depth = self.root, self.root_mark, 0
        for part in path:
            marks = self.marks.get(id(node))
            if marks is None:
                break
            if isinstance(node, dict):
                if not isinstance(part, str) or part not in marks:
                    break
                mark, node = marks[part], node[part]
            elif isinstance(node, list):
                if not isinstance(part, int) or not 0 <= part < len(marks):
                    break
                mark, node = marks[part], node[part]
            else:
                break
            depth += 1
        return depth, mark


class Positions:
    """Dotted path → where its key (or list item) stands, over every file read (the first file wins)."""

    def __init__(self) -> None:
        self._sources: list[_Source] = []

    def add(self, source: _Source) -> None:
        self._sources.append(source)

    def extend(self, other: Positions) -> None:
        """Take the files of `other` after this one's (its positions lose to those already here)."""
        self._sources.extend(other._sources)

    def find(self, path: PathKey) -> Position | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        best: tuple[int, _Source, Any] | None = None
        for source in self._sources:
            depth, mark = source.walk(path)
            if best is None or depth > best[0]:
                best = (depth, source, mark)
        if best is None:
            return None
        _, source, mark = best
        return Position(source.file, mark.line + 1, mark.column + 1)

    def keys_at(self, path: PathKey) -> dict[str, Position]:
        """Where each key of the mapping at `path` stands, in the first file that has that mapping."""
        for source in self._sources:
            depth, _ = source.walk(path)
            node: Any = source.root
            if depth < len(path):
                continue
            for part in path:
                node = node[part]
            marks = source.marks.get(id(node))
            if isinstance(node, dict) and isinstance(marks, dict):
                return {key: Position(source.file, mark.line + 1, mark.column + 1) for key, mark in marks.items()}
        return {}

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


# ----------------------------------------------------------------------------------- reading bytes
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def describe_file_kind(mode: int) -> str:
    """What a file of this mode is, in words ("a FIFO", "a character device" …)."""
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; OSError (with a plain strerror) otherwise.

    The one bounded reader of chaton (adapters/atomic.py wraps it for the files chaton keeps). Opened
    without blocking (a FIFO with no writer would wait forever) and checked with fstat on the open
    descriptor, so a FIFO, /dev/zero, /dev/urandom, a socket or a directory is refused, never read."""
    _refuse_unless_regular(os.stat(path).st_mode)  # a socket cannot even be opened: say what it is
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        info = os.fstat(descriptor)
        _refuse_unless_regular(info.st_mode)
        if info.st_size > max_bytes:
            raise OSError(0, _too_big(max_bytes))
        chunks: list[bytes] = []
        size = 0
        while True:  # st_size can lie (a file growing, /proc): read at most one byte past the limit
            chunk = os.read(descriptor, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise OSError(0, _too_big(max_bytes))
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _refuse_unless_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise OSError(0, f"not a regular file ({describe_file_kind(mode)})")


def _too_big(max_bytes: int) -> str:
    return f"the file is larger than {max_bytes // (1024 * 1024)} MiB (the limit of one file; split it)"


# YAML allows tab, line breaks and printable characters only (YAML 1.1 §5.1); libyaml would stop at the
# first other one with a character offset. We name each (up to a few) at its line and column.
_NOT_PRINTABLE = re.compile(r"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_CHARACTER_PROBLEMS = 5


def decode_text(raw: bytes, file: str, problems: list[Problem]) -> str | None:
    """UTF-8 text with only the characters YAML allows; each problem located at file:line:column."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(Problem("the file is UTF-16 text; save it as UTF-8", file=file, line=1, column=1))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_column(raw[: error.start].decode("utf-8", "replace"), error.start)
        problems.append(Problem(f"not a UTF-8 text file: invalid byte 0x{raw[error.start]:02x} (save it as UTF-8)",
                                file=file, line=line, column=column))
        return None
    found = 0
    for match in _NOT_PRINTABLE.finditer(text):
        line, column = _line_column(text, match.start())
        character = match.group()
        if character == "\0":
            problems.append(Problem("not a text file (contains NUL bytes)", file=file, line=line, column=column))
            return None
        problems.append(Problem(f"control character U+{ord(character):04X} is not allowed in YAML",
                                file=file, line=line, column=column))
        found += 1
        if found == MAX_CHARACTER_PROBLEMS:
            break
    return None if found else text


def _line_column(text: str, index: int) -> tuple[int, int]:
    index = min(index, len(text))
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


# ----------------------------------------------------------------------------------- building data
_RESOLVER: Any = yaml.SafeLoader("")  # resolves and constructs plain scalars (ints, dates, …)
_RESOLVED_FIRST_CHARACTERS = frozenset(ch for ch in _RESOLVER.yaml_implicit_resolvers if ch is not None)
_DROP = object()  # the key of a mapping entry that is reported and left out


class _Stop(Exception):
    """A limit was reached or the YAML is broken: the problem is recorded, the file yields no data."""


def _mark_problem(message: str, mark: Any, file: str, path: PathKey = ()) -> Problem:
    return Problem(message, dotted_path(path), file, mark.line + 1, mark.column + 1)


def _scalar(event: events.ScalarEvent, file: str, problems: list[Problem]) -> Any:
    value = event.value
    tag = event.tag
    if tag is None or tag == "!":
        if not event.implicit[0] or not value:
            return value
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR_TAG:
            return value
    elif tag not in _SCALAR_TAGS:
        problems.append(_mark_problem(f"the YAML tag {tag} is not supported", event.start_mark, file))
        return value
    marks: Any = (event.start_mark, event.end_mark)  # libyaml's marks, of its own Mark class
    node = yaml.ScalarNode(tag, value, *marks)
    try:
        return _RESOLVER.yaml_constructors[tag](_RESOLVER, node)
    except (ValueError, OverflowError, TypeError, yaml.YAMLError):
        # A scalar that looks like a date or number but is not one (2026-13-40): keep the text, so
        # the model reports it where a date is expected and accepts it where text is.
        return value


def parse_yaml(text: str, file: str, positions: Positions, problems: list[Problem],
               limits: Limits = LIMITS) -> Any:
    """Plain data from one YAML document; problems (located) instead of exceptions; None if unusable."""
    marks: dict[int, Any] = {}
    source = _Source(file, None, None, marks)
    loader = _LOADER(text)
    try:
        root = _build(loader, source, problems, limits)
    except _Stop:
        return None
    except yaml.MarkedYAMLError as error:
        problems.append(_syntax_problem(error, text, file))
        return None
    except yaml.YAMLError as error:  # a reader error without a mark (the text is pre-checked: rare)
        problems.append(Problem(f"not valid YAML: {error}", file=file, line=1, column=1))
        return None
    finally:
        loader.dispose()
    source.root = root
    positions.add(source)
    return root


class _Frame(NamedTuple):
    """A collection being filled, saved while a collection inside it is built."""

    container: Any
    marks: Any  # key → mark (mapping) or [mark, …] (sequence)
    is_mapping: bool
    key: Any  # in a mapping: None while a key is expected, else the key of the value being built
    key_mark: Any
    anchor: str | None
    start_mark: Any
    started_at: int  # the value count when it started, to know how many values an anchor stands for


def _build(loader: Any, source: _Source, problems: list[Problem], limits: Limits) -> Any:  # noqa: C901
    """One loop over libyaml's events with an explicit stack (no recursion, so no depth can crash it)."""
    file, all_marks = source.file, source.marks
    get_event = loader.get_event
    max_depth, max_values = limits.max_depth, limits.max_values
    scalar_event, alias_event = events.ScalarEvent, events.AliasEvent
    resolved_first = _RESOLVED_FIRST_CHARACTERS
    mapping_start, sequence_start = events.MappingStartEvent, events.SequenceStartEvent
    mapping_end, sequence_end = events.MappingEndEvent, events.SequenceEndEvent
    anchors: dict[str, tuple[Any, int]] = {}  # anchor → (value, how many values it stands for)
    stack: list[tuple[Any, ...]] = []  # _Frame's fields, as plain tuples (≈ 100,000 of them)
    # The collection being filled (None at the top level), unpacked from its frame for speed.
    container: Any = None
    marks: Any = None
    is_mapping = False
    key: Any = None
    key_mark: Any = None
    anchor: str | None = None
    start_mark: Any = None
    started_at = 0
    total = 0  # values built so far, an alias counting as every value it stands for
    root: Any = None
    documents = 0

    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            total += 1
            value = event.value
            if is_mapping and key is None:  # a key: its text as written (`yes:` is the name "yes")
                key_mark = event.start_mark
                if value in container:
                    problems.append(Problem(
                        f"duplicate key '{value}' (first at line {marks[value].line + 1})",
                        dotted_path((*_stack_path(stack), value)), file, key_mark.line + 1, key_mark.column + 1))
                    key = _DROP
                elif value == "<<" and event.implicit[0] and event.tag is None:
                    problems.append(_mark_problem("YAML merge keys (<<) are not supported", key_mark, file,
                                                  _stack_path(stack)))
                    key = _DROP
                else:
                    key = value
                continue
            if event.tag is not None or (event.implicit[0] and value and value[0] in resolved_first):
                value = _scalar(event, file, problems)  # else: quoted, or text no resolver claims
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
            item_mark = event.start_mark
        elif kind is mapping_start or kind is sequence_start:
            if is_mapping and key is None:  # a mapping or list used as a key
                problems.append(_mark_problem("a key must be a plain value", event.start_mark, file))
                key, key_mark = _DROP, event.start_mark
            if len(stack) >= max_depth:
                problems.append(_mark_problem(f"nested deeper than {max_depth} levels (the limit)",
                                              event.start_mark, file))
                raise _Stop
            total += 1
            if event.tag is not None and event.tag != "!" and event.tag not in _COLLECTION_TAGS:
                problems.append(_mark_problem(f"the YAML tag {event.tag} is not supported", event.start_mark, file))
            if container is not None:
                stack.append((container, marks, is_mapping, key, key_mark, anchor, start_mark, started_at))
            elif root is None:
                source.root_mark = event.start_mark
            is_mapping = kind is mapping_start
            container, marks = ({}, {}) if is_mapping else ([], [])
            all_marks[id(container)] = marks
            key, key_mark, anchor, start_mark, started_at = None, None, event.anchor, event.start_mark, total
            if anchor is not None:
                anchors.pop(anchor, None)  # while open, an alias to it would contain itself
            if not stack and root is None:
                root = container
            continue
        elif kind is mapping_end or kind is sequence_end:
            value, item_mark = container, start_mark
            if anchor is not None:
                anchors[anchor] = (container, total - started_at + 1)
            if not stack:
                container = None
                continue
            container, marks, is_mapping, key, key_mark, anchor, start_mark, started_at = stack.pop()
        elif kind is alias_event:
            name = event.anchor
            if is_mapping and key is None:
                problems.append(_mark_problem("a key must be a plain value, not an alias", event.start_mark, file))
                key, key_mark = _DROP, event.start_mark
                continue
            if name not in anchors:
                inside = name in {_Frame(*frame).anchor for frame in stack} or name == anchor
                problems.append(_mark_problem(
                    f"the alias *{name} refers to the collection that contains it" if inside
                    else f"unknown alias *{name} (no &{name} before it)", event.start_mark, file))
                raise _Stop
            value, size = anchors[name]
            total += size
            if total > max_values:
                problems.append(_mark_problem(f"aliases such as *{name} expand the file to more than "
                                              f"{max_values:,} values (the limit)", event.start_mark, file))
                raise _Stop
            item_mark = event.start_mark
        elif kind is events.DocumentStartEvent:
            documents += 1
            if documents > 1:
                problems.append(_mark_problem("only one YAML document per file (a second one starts here)",
                                              event.start_mark, file))
                raise _Stop
            continue
        elif kind is events.StreamEndEvent:
            break
        else:  # stream start, document end
            continue
        # A value is complete: put it in its collection.
        if container is None:
            if root is None:
                root = value
                source.root_mark = item_mark
        elif is_mapping:
            if key is not _DROP:
                container[key] = value
                marks[key] = key_mark
            elif isinstance(value, dict | list):
                source.kept.append(value)
            key = None
        else:
            container.append(value)
            marks.append(item_mark)
        if total > max_values:
            problems.append(_mark_problem(f"the file holds more than {max_values:,} values (the limit)",
                                          item_mark, file))
            raise _Stop
    return root


def _stack_path(stack: list[tuple[Any, ...]]) -> PathKey:
    frames = [_Frame(*frame) for frame in stack]
    return tuple(frame.key if frame.is_mapping else len(frame.container) for frame in frames
                 if frame.key is not _DROP)


def _syntax_problem(error: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    message = _describe_yaml_error(error, text)
    if mark is None:
        return Problem(message, file=file, line=1, column=1)
    return Problem(message, file=file, line=mark.line + 1, column=mark.column + 1)


def read_yaml_file(path: Path, positions: Positions, problems: list[Problem], limits: Limits = LIMITS) -> Any:
    """Read one YAML file into plain data, recording positions; every problem is located in the file."""
    file = str(path)
    try:
        raw = read_regular_file(path, limits.max_file_bytes)
    except FileNotFoundError:
        problems.append(Problem("no such file", file=file))
        return None
    except OSError as error:
        problems.append(Problem(f"cannot read: {error.strerror}", file=file))
        return None
    text = decode_text(raw, file, problems)
    if text is None:
        return None
    before = len(problems)
    data = parse_yaml(text, file, positions, problems, limits)
    if data is None and len(problems) == before:
        problems.append(Problem("the file is empty", file=file, line=1, column=1))
    return data


def _describe_yaml_error(error: yaml.MarkedYAMLError, text: str) -> str:
    problem = error.problem or "invalid YAML"
    mark = error.problem_mark
    if mark is not None and ("\t" in problem or _has_tab_at(text, mark.line)):
        return f"YAML syntax error: {problem} (tabs cannot indent YAML; use spaces)"
    context = f" {error.context}" if error.context else ""
    return f"YAML syntax error: {problem}{context}".strip()


def _has_tab_at(text: str, line_index: int) -> bool:
    lines = text.splitlines()
    if 0 <= line_index < len(lines):
        line = lines[line_index]
        return "\t" in line[: len(line) - len(line.lstrip())]
    return False
