"""pydantic's validation errors as located problems (file:line:column + dotted path, in plain words):
the one translation the inventory loader and the playbook loader share.

Each caller says what an error means in its own file (`explain`: the path to show and the message);
this module finds where that path is written, falls back to the file's first line for a path the
file does not spell (a missing key of an absent mapping), and gives each problem once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from chaton_ops.core.yaml_source import PathKey, Positions
from chaton_ops.errors import Problem

# (one item of ValidationError.errors(), its location) -> (the path to show, the message)
Explain = Callable[[Mapping[str, Any], PathKey], tuple[PathKey, str]]


def located_problems(error: ValidationError, positions: Positions, *, file: str, explain: Explain,
                     prefix: PathKey = (), fallback_column: int | None = None) -> list[Problem]:
    """Every error of `error` once, located where the YAML source wrote it (else at `file`'s line 1)."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        path, message = explain(item, (*prefix, *item["loc"]))
        problem = positions.problem(message, path)
        if not problem.file:
            problem = Problem(message, problem.path, file=file, line=1, column=fallback_column)
        if problem not in problems:
            problems.append(problem)
    return problems
