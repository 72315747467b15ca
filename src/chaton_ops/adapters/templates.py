"""Jinja2 rendering for playbooks, strict: a missing variable is an error naming the file and line.

Rendering never raises for a template problem: it returns a Problem so that every problem of a
playbook is reported at once, before anything runs on a host.

Values are written into configuration files (nginx, postfix), PHP and SQL, whose syntax a value
could change: a `;` and a newline in an nginx `server_name` add a directive, a `?>` in a PHP
comment ends the PHP code. So, like autoescaping but for every language at once: a value written
into a template file (`{{ … }}`) must either be a plain *token* — letters, digits and `. _ : / @ +
% ~ [ ] * -`, which no file syntax we write treats specially — or pass through a filter that makes
it fit its place:

| filter | writes | for |
|---|---|---|
| `nginx_names` | DNS names (a list, or one name), checked, space-separated | nginx `server_name` |
| `nginx_string` | a word, or a double-quoted nginx string (no `$`: nginx would expand it) | nginx paths, text |
| `postfix_list` | tokens joined with ", " | postfix lists (relay_domains, mynetworks) |
| `php_string` | a single-quoted PHP string literal | values in PHP code |
| `html` | HTML-escaped text (`<` `>` `&` quotes) | text in HTML (and so outside `<?php`) |
| `comment` | one line, with `?>` and `*/` broken up | text in a comment of any of these languages |
| `sh` | a shell word (shlex.quote) | values in a `sh -c` script |

Anything else stops the deploy before the host is touched, naming the template's file and line.
Strings in the playbook's steps become argv words and paths (no shell): there only control
characters are refused.
"""

from __future__ import annotations

import re
import shlex
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from chaton_ops.core.ports import Rendered
from chaton_ops.core.values import dns_name_problem
from chaton_ops.errors import Problem

_TOKEN = re.compile(r"^[A-Za-z0-9._:/@+%~\[\]*-]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FILTERS = ("nginx_names", "nginx_string", "postfix_list", "php_string", "html", "comment", "sh")


class UnsafeValue(ValueError):
    """A value that cannot be written where the template puts it."""


class Fitted(str):
    """Text a filter made fit for its place in the file: written as it is."""


def _finalize_file(value: Any) -> str:
    if isinstance(value, Fitted | markupsafe.Markup):  # a filter's output, or `| safe`: the author's choice
        return str(value)
    if isinstance(value, int | float):  # booleans included: True, False
        return str(value)
    if isinstance(value, jinja2.Undefined):
        return str(value)  # StrictUndefined: raises "undefined variable"
    if not isinstance(value, str):
        raise UnsafeValue(f"{_short(value)} cannot be written as it is (a {type(value).__name__}): pass it "
                          f"through a filter that fits the file ({', '.join(FILTERS)})")
    if _TOKEN.match(value):
        return value
    if not value:
        raise UnsafeValue("an empty value cannot be written here (it would remove an argument of the file)")
    raise UnsafeValue(f"the value {_short(value)} cannot be written into this file as it is: it holds "
                      f"characters the file's syntax could read as its own; pass it through a filter that "
                      f"fits the place ({', '.join(FILTERS)})")


def _finalize_step(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        return str(value)
    if value is None or isinstance(value, list | dict | tuple | set):
        raise UnsafeValue(f"{_short(value)} cannot be written as text (a {type(value).__name__})")
    text = str(value)
    if _CONTROL.search(text):
        raise UnsafeValue(f"the value {_short(text)} contains a control character (a newline?)")
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _items(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        return value
    return [value]


def nginx_names(value: Any) -> Fitted:
    names = []
    for name in _items(value):
        text = str(name)
        bare = text[2:] if text.startswith("*.") else text
        if not isinstance(name, str) or dns_name_problem(bare) is not None:
            raise UnsafeValue(f"{_short(name)} is not a DNS name nginx can take as a server name")
        names.append(text)
    if not names:
        raise UnsafeValue("no server name given")
    return Fitted(" ".join(names))


def nginx_string(value: Any) -> Fitted:
    text = str(value)
    if _CONTROL.search(text) or "$" in text:
        raise UnsafeValue(f"{_short(text)} cannot be an nginx string (control character or '$')")
    if _TOKEN.match(text):
        return Fitted(text)  # a plain word needs no quotes (and reads as it always did)
    return Fitted('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


def postfix_list(value: Any) -> Fitted:
    items = [str(item) for item in _items(value)]
    for item in items:
        if not item or not _TOKEN.match(item):
            raise UnsafeValue(f"{_short(item)} cannot be an item of a postfix list")
    return Fitted(", ".join(items))


def php_string(value: Any) -> Fitted:
    text = str(value)
    if "\0" in text:
        raise UnsafeValue("a PHP string cannot hold a NUL character here")
    return Fitted("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'")


def html(value: Any) -> Fitted:
    return Fitted(str(markupsafe.escape(str(value))))


def comment(value: Any) -> Fitted:
    text = _CONTROL.sub(" ", str(value))
    return Fitted(text.replace("?>", "? >").replace("*/", "* /"))


def sh(value: Any) -> Fitted:
    text = str(value)
    if "\0" in text:
        raise UnsafeValue("a shell word cannot hold a NUL character")
    return Fitted(shlex.quote(text))


def _environment(loader: jinja2.BaseLoader | None, finalize: Any) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # no single escaping fits nginx, postfix and PHP: see _finalize_file  # noqa: S701
        finalize=finalize,
    )
    environment.filters.update({"nginx_names": nginx_names, "nginx_string": nginx_string,
                                "postfix_list": postfix_list, "php_string": php_string, "html": html,
                                "comment": comment, "sh": sh})
    return environment


class TemplateRenderer:
    """Renders the files of one playbook folder and the template strings of its YAML file (the
    Templates port of core/ports.py; the class itself is a TemplatesFor: `TemplateRenderer(folder)`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environment = _environment(jinja2.FileSystemLoader(str(folder)), _finalize_file)
        self.step_environment = _environment(None, _finalize_step)

    def render_file(self, src: str, context: dict[str, Any]) -> Rendered:
        """Render `folder/src`; problems name that file and the line in it."""
        path = str(self.folder / src)
        try:
            template = self.environment.get_template(src)
        except jinja2.TemplateNotFound:
            return Rendered(None, Problem("template file not found", file=path))
        except jinja2.TemplateSyntaxError as error:
            return Rendered(None, Problem(f"template syntax error: {error.message}", file=path, line=error.lineno))
        except (OSError, UnicodeDecodeError) as error:
            return Rendered(None, Problem(f"cannot read the template: {error}", file=path))
        try:
            return Rendered(template.render(context))
        except Exception as error:  # noqa: BLE001 - any failure inside a template is the template's problem
            return Rendered(None, Problem(_describe(error), file=path, line=_template_line(error, template.filename)))

    def render_string(self, text: str, context: dict[str, Any], *, file: str, line: int | None) -> Rendered:
        """Render a template string from the playbook YAML; problems name the YAML file and line."""
        if "{{" not in text and "{%" not in text:
            return Rendered(text)
        try:
            template = self.step_environment.from_string(text)
            return Rendered(template.render(context))
        except jinja2.TemplateSyntaxError as error:
            return Rendered(None, Problem(f"template syntax error in {text!r}: {error.message}", file=file, line=line))
        except Exception as error:  # noqa: BLE001
            return Rendered(None, Problem(f"{_describe(error)} in {text!r}", file=file, line=line))


def _describe(error: Exception) -> str:
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined variable: {error.message}"
    if isinstance(error, UnsafeValue):
        return str(error)
    return f"template error: {type(error).__name__}: {error}"


def _template_line(error: Exception, filename: str | None) -> int | None:
    """Jinja2 rewrites tracebacks so that a frame points at the template's own file and line."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if filename is not None and frame.filename == filename:
            line = frame.lineno
    return line
