"""Playbook variables: what a playbook declares it takes, and the check of a service's `vars` against it.

A playbook lists every variable its templates use under `variables:` — type, optional pattern,
required or default, description — and `chaton inventory check` (and `deploy`, before anything is
rendered) checks each service's `vars` against that list: an unknown name, a missing required
variable or a value of the wrong type or form is a problem located at the service's value in the
inventory (file:line:column). What reaches a template is then known to have the declared form.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaton_ops.core import values

ScalarType = Literal["string", "integer", "boolean", "dns_name", "address", "path", "mail_address"]
VariableType = Literal["string", "integer", "boolean", "dns_name", "address", "path", "mail_address", "list"]
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_STRING_LENGTH = 4096
MAX_LIST_LENGTH = 1000

_TYPE_WORDS: dict[str, str] = {
    "string": "text on one line",
    "integer": "a whole number",
    "boolean": "true or false",
    "dns_name": "a DNS name",
    "address": "an IP address or host name",
    "path": "an absolute path",
    "mail_address": "a mail address",
}
_PLURAL_WORDS: dict[str, str] = {
    "string": "texts", "integer": "whole numbers", "boolean": "booleans", "dns_name": "DNS names",
    "address": "addresses", "path": "absolute paths", "mail_address": "mail addresses",
}


class VariableDeclaration(BaseModel):
    """One variable of a playbook: its type and form, whether a service must give it, its default."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: VariableType = Field(description="string (one line of text), integer, boolean, dns_name, address "
                                           "(IP address or host name), path (absolute), mail_address, or list.")
    items: ScalarType | None = Field(default=None, description="For a list: the type of its items.")
    pattern: str | None = Field(default=None, description="For a text value (or a list of them): a regular "
                                                          "expression the whole value must also match.")
    minimum: int | None = Field(default=None, description="For an integer: the smallest value allowed.")
    maximum: int | None = Field(default=None, description="For an integer: the largest value allowed.")
    required: bool = Field(default=False, description="A service using the playbook must give it.")
    default: Any = Field(default=None, description="The value when a service does not give one.")
    description: str = Field(min_length=1, description="What the variable is for (shown in the docs).")

    @model_validator(mode="after")
    def _consistent(self) -> VariableDeclaration:
        if (self.items is None) == (self.type == "list"):
            raise ValueError("`items` (the type of the items) is given for a list, and only for a list")
        if self.pattern is not None:
            if (self.items or self.type) in ("integer", "boolean"):
                raise ValueError("`pattern` is only for text values (string, dns_name, address, path, mail_address)")
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"`pattern` is not a regular expression: {error}") from None
        if (self.minimum is not None or self.maximum is not None) and self.type != "integer":
            raise ValueError("`minimum` and `maximum` are only for an integer")
        if self.required and self.default is not None:
            raise ValueError("a required variable has no default")
        if self.default is not None:
            problem = variable_problem(self, self.default)
            if problem is not None:
                raise ValueError(f"the default {problem}")
        return self

    def describe(self) -> str:
        if self.type == "list":
            return f"a list of {_PLURAL_WORDS[self.items or 'string']}" + (f" matching {self.pattern}"
                                                                          if self.pattern else "")
        return _TYPE_WORDS[self.type] + (f" matching {self.pattern}" if self.pattern else "")


def variable_problem(declaration: VariableDeclaration, value: Any) -> str | None:
    """Why `value` does not fit the declaration (a phrase after "the value"), or None."""
    if declaration.type == "list":
        if not isinstance(value, list):
            return f"must be {declaration.describe()}; got {_short(value)}"
        if len(value) > MAX_LIST_LENGTH:
            return f"has more than {MAX_LIST_LENGTH} items"
        for index, item in enumerate(value):
            problem = _scalar_problem(declaration.items or "string", declaration.pattern, item, declaration)
            if problem is not None:
                return f"item {index} {problem}"
        return None
    return _scalar_problem(declaration.type, declaration.pattern, value, declaration)


def _scalar_problem(kind: str, pattern: str | None, value: Any, declaration: VariableDeclaration) -> str | None:
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number; got {_short(value)}"
        if declaration.minimum is not None and value < declaration.minimum:
            return f"must be at least {declaration.minimum}; got {value}"
        if declaration.maximum is not None and value > declaration.maximum:
            return f"must be at most {declaration.maximum}; got {value}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"must be true or false; got {_short(value)}"
    if not isinstance(value, str):
        return f"must be {_TYPE_WORDS[kind]}; got {_short(value)}"
    if not value:
        return "is empty; give a value or leave the variable out"
    if len(value) > MAX_STRING_LENGTH:
        return f"is longer than {MAX_STRING_LENGTH} characters"
    check = {"string": values.check_single_line, "dns_name": values.check_dns_name,
             "address": values.check_address, "path": values.check_absolute_path,
             "mail_address": values.check_mail_address}[kind]
    try:
        check(value)
    except ValueError as error:
        return str(error)
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"{_short(value)} does not match {pattern}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def variable_defaults(declarations: dict[str, VariableDeclaration]) -> dict[str, Any]:
    """The value of each variable that has a default (others stay undefined: `is defined` in templates)."""
    return {name: declaration.default for name, declaration in declarations.items()
            if declaration.default is not None}


VariablePath = tuple[str, ...]


def find_variable_problems(declarations: dict[str, VariableDeclaration], given: dict[str, Any],
                           playbook: str) -> Iterator[tuple[str, VariablePath]]:
    """Every problem of a service's `vars` against its playbook's declarations, as (message, path
    under the service's `vars`); an empty path means the `vars` mapping itself."""
    for name, value in given.items():
        declaration = declarations.get(name)
        if declaration is None:
            close = difflib.get_close_matches(name, list(declarations), n=1, cutoff=0.6)
            known = ", ".join(sorted(declarations)) or "none"
            hint = f"did you mean '{close[0]}'? " if close else ""
            yield f"playbook {playbook} has no variable '{name}' ({hint}it declares: {known})", (name,)
            continue
        problem = variable_problem(declaration, value)
        if problem is not None:
            yield f"{problem} (playbook {playbook} declares {name} as {declaration.describe()})", (name,)
    for name, declaration in declarations.items():
        if declaration.required and name not in given:
            yield (f"playbook {playbook} needs the variable '{name}' ({declaration.description})", ())
