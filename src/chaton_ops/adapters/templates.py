"""Jinja2 rendering for playbooks, strict: a missing variable is an error naming the file and line.

Rendering never raises for a template problem: it returns a Problem so that every problem of a
playbook is reported at once, before anything runs on a host.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from chaton_ops.errors import Problem


@dataclass(frozen=True)
class Rendered:
    """The text, or the problem that stopped rendering."""

    text: str | None
    problem: Problem | None = None


class TemplateRenderer:
    """Renders the files of one playbook folder and the template strings of its YAML file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # configuration files, not HTML pages  # noqa: S701
        )

    def render_file(self, src: str, context: dict[str, Any]) -> Rendered:
        """Render `folder/src`; problems name that file and the line in it."""
        path = str(self.folder / src)
        try:
            template = self.environment.get_template(src)
        except jinja2.TemplateNotFound:
            return Rendered(None, Problem("template file not found", file=path))
        except jinja2.TemplateSyntaxError as error:
            return Rendered(None, Problem(f"template syntax error: {error.message}", file=path, line=error.lineno))
        try:
            return Rendered(template.render(context))
        except Exception as error:  # noqa: BLE001 - any failure inside a template is the template's problem
            return Rendered(None, Problem(_describe(error), file=path, line=_template_line(error, template.filename)))

    def render_string(self, text: str, context: dict[str, Any], *, file: str, line: int | None) -> Rendered:
        """Render a template string from the playbook YAML; problems name the YAML file and line."""
        if "{{" not in text and "{%" not in text:
            return Rendered(text)
        try:
            template = self.environment.from_string(text)
            return Rendered(template.render(context))
        except jinja2.TemplateSyntaxError as error:
            return Rendered(None, Problem(f"template syntax error in {text!r}: {error.message}", file=file, line=line))
        except Exception as error:  # noqa: BLE001
            return Rendered(None, Problem(f"{_describe(error)} in {text!r}", file=file, line=line))


def _describe(error: Exception) -> str:
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined variable: {error.message}"
    return f"template error: {type(error).__name__}: {error}"


def _template_line(error: Exception, filename: str | None) -> int | None:
    """Jinja2 rewrites tracebacks so that a frame points at the template's own file and line."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if filename is not None and frame.filename == filename:
            line = frame.lineno
    return line
