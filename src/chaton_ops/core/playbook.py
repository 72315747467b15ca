"""Playbooks (DESIGN.md "Playbooks"): `playbooks/NAME.yml`, a short list of idempotent steps.

Frozen pydantic models, unknown keys forbidden, every field described. Each step is a mapping with an
optional `name` and exactly one action key: packages, directory, template, command, reload, stop or wait.
Besides `steps` (deploy), a playbook may have `stop` and `start` (run around a restore that replaces the
service's live data on its own host) and `after_restore`.
String values in steps may use Jinja2 (`{{ service.data[0] }}`); they are rendered before anything runs
(adapters/templates.py), then validated again, so a rendered path must be absolute and so on.
Planning (facts → actions) lives in core/playbook_plan.py.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chaton_ops.core.inventory import NAME_PATTERN, VariableName
from chaton_ops.core.playbook_variables import VariableDeclaration
from chaton_ops.core.validation import located_problems
from chaton_ops.core.yaml_source import PathKey, Positions, read_yaml_file
from chaton_ops.errors import InventoryError, Problem

PLAYBOOKS_ENV = "CHATON_PLAYBOOKS"
STEP_KINDS = ("packages", "directory", "template", "command", "reload", "stop", "wait")
_MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
_OWNER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$")
_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


class Model(BaseModel):
    # strict: no conversions (`timeout: "20"` is text, `always: "yes"` is not true), as in the inventory
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def _absolute_after_rendering(value: str) -> str:
    if not _is_template(value) and not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if "\0" in value or "\n" in value:
        raise ValueError("a path cannot contain NUL or newline characters")
    return value


def _mode(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 0644 as the octal number 420 and 644 as decimal: both are ambiguous.
        raise ValueError(f"write the mode as a quoted octal string, e.g. '0644' (got the number {value})")
    return value


def _argv(value: Any) -> Any:
    """A command: an argv list, or a string split like a shell would (no shell runs it)."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as error:
            raise ValueError(f"cannot split the command: {error}") from None
    return value


Mode = Field(pattern=_MODE_RE.pattern, description="Octal mode as a quoted string, e.g. '0644'.")


class DirectoryStep(Model):
    """A directory that must exist with this mode and owner (parents are created as needed)."""

    path: str = Field(description="Absolute path (may use template variables).")
    mode: str = Field(default="0755", pattern=_MODE_RE.pattern, description="Octal mode, e.g. '0755'.")
    owner: str | None = Field(default=None, pattern=_OWNER_RE.pattern,
                              description="user or user:group; unset: not managed.")

    _check_mode = field_validator("mode", mode="before")(lambda cls, v: _mode(v))
    _check_path = field_validator("path")(lambda cls, v: _absolute_after_rendering(v))


class TemplateStep(Model):
    """A file rendered from a Jinja2 template in `playbooks/NAME/`, written atomically.

    The previous version is kept as `DEST.chaton-prev` when the file changes."""

    src: str = Field(min_length=1, description="Template file, relative to the playbook's folder playbooks/NAME/.")
    dest: str = Field(description="Absolute path of the file on the host (may use template variables).")
    mode: str = Field(default="0644", pattern=_MODE_RE.pattern, description="Octal mode, e.g. '0644'.")
    owner: str | None = Field(default=None, pattern=_OWNER_RE.pattern,
                              description="user or user:group; unset: not managed.")

    _check_mode = field_validator("mode", mode="before")(lambda cls, v: _mode(v))
    _check_dest = field_validator("dest")(lambda cls, v: _absolute_after_rendering(v))

    @field_validator("src")
    @classmethod
    def _inside_playbook_folder(cls, value: str) -> str:
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError(f"{value!r} must be a path inside the playbook's folder (no '/' start, no '..')")
        return value


class CommandStep(Model):
    """A command run on the host (argv, no shell), guarded so that it runs only when needed."""

    argv: list[str] = Field(min_length=1, description="The command: a list, or a string split like a shell would.")
    creates: str | None = Field(default=None, description="Skip the command when this path exists on the host.")
    unless: list[str] | None = Field(default=None, description="Skip the command when this command exits 0.")
    timeout: float = Field(default=600.0, gt=0, le=86400, description="Seconds before the command is given up.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str | list):
            return {"argv": data}
        return data

    _split = field_validator("argv", "unless", mode="before")(lambda cls, v: _argv(v))
    _check_creates = field_validator("creates")(lambda cls, v: v if v is None else _absolute_after_rendering(v))

    @property
    def guarded(self) -> bool:
        return self.creates is not None or self.unless is not None


class ServiceCommands(Model):
    """How to tell whether a service runs, start it, reload it and stop it."""

    status: list[str] | None = Field(default=None, description="Exits 0 when the service runs.")
    start: list[str] | None = Field(default=None, description="Starts the service.")
    reload: list[str] | None = Field(default=None, description="Makes the running service read its configuration again.")
    stop: list[str] | None = Field(default=None, description="Stops the service (and returns once it has stopped).")

    _split = field_validator("status", "start", "reload", "stop", mode="before")(
        lambda cls, v: v if v is None else _argv(v))


class ReloadStep(Model):
    """Start the service if it is not running, else reload it when an earlier step changed something.

    Commands depend on the host's `service_manager` (inventory): `systemd` uses systemctl
    (override with `systemd:`), `direct` (no init system, e.g. the lab) needs the `direct:` commands."""

    service: str = Field(min_length=1, description="Service (systemd unit) name; may use template variables.")
    test: list[str] | None = Field(default=None, description="Configuration test run before a start or reload.")
    always: bool = Field(default=False, description="Reload even when no earlier step changed anything.")
    systemd: ServiceCommands | None = Field(default=None, description="Overrides of the systemctl commands.")
    direct: ServiceCommands | None = Field(default=None, description="Commands for hosts without an init system.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"service": data} if isinstance(data, str) else data

    _split = field_validator("test", mode="before")(lambda cls, v: v if v is None else _argv(v))

    @field_validator("service")
    @classmethod
    def _unit_name(cls, value: str) -> str:
        if not _is_template(value) and not re.fullmatch(r"[A-Za-z0-9@._-]+", value):
            raise ValueError(f"{value!r} is not a service name (letters, digits, @ . _ -)")
        return value


class StopStep(Model):
    """Stop the service if it runs (used in a playbook's `stop:` list, before a restore replaces its data).

    Commands depend on the host's `service_manager`: `systemd` uses `systemctl stop` (override with
    `systemd:`), `direct` needs the `direct:` commands `status` and `stop`."""

    service: str = Field(min_length=1, description="Service (systemd unit) name; may use template variables.")
    systemd: ServiceCommands | None = Field(default=None, description="Overrides of the systemctl commands.")
    direct: ServiceCommands | None = Field(default=None, description="Commands for hosts without an init system.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"service": data} if isinstance(data, str) else data

    @field_validator("service")
    @classmethod
    def _unit_name(cls, value: str) -> str:
        if not _is_template(value) and not re.match(r"^[A-Za-z0-9@._-]+$", value):
            raise ValueError(f"{value!r} is not a service name (letters, digits, @ . _ -)")
        return value


class WaitStep(Model):
    """Wait until a TCP port or an HTTP URL answers (probed from the machine running chaton)."""

    tcp: str | None = Field(default=None, description="host:port that must accept a connection.")
    url: str | None = Field(default=None, description="http(s) URL that must answer.")
    status: int = Field(default=200, ge=100, le=599, description="Expected HTTP status for `url`.")
    timeout: float = Field(default=30.0, gt=0, le=3600, description="Seconds before giving up.")

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitStep:
        if (self.tcp is None) == (self.url is None):
            raise ValueError("give exactly one of tcp or url")
        if self.tcp is not None and not _is_template(self.tcp) and not re.fullmatch(r"[^\s:]+:\d{1,5}", self.tcp):
            raise ValueError(f"tcp must be host:port, got {self.tcp!r}")
        if self.url is not None and not _is_template(self.url) and not re.fullmatch(r"https?://\S+", self.url):
            raise ValueError(f"url must be an http(s) URL, got {self.url!r}")
        return self


class Step(Model):
    """One step: an optional name and exactly one action."""

    name: str | None = Field(default=None, description="Label shown in tables and the journal.")
    packages: list[str] | None = Field(default=None, description="Debian packages that must be installed.")
    directory: DirectoryStep | None = Field(default=None, description="A directory that must exist.")
    template: TemplateStep | None = Field(default=None, description="A file rendered from a template.")
    command: CommandStep | None = Field(default=None, description="A guarded command.")
    reload: ReloadStep | None = Field(default=None, description="Start or reload a service.")
    stop: StopStep | None = Field(default=None, description="Stop a service if it runs.")
    wait: WaitStep | None = Field(default=None, description="Wait for a port or URL to answer.")

    @model_validator(mode="after")
    def _exactly_one_action(self) -> Step:
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a step needs exactly one of {', '.join(STEP_KINDS)} (found: {found})")
        return self

    @field_validator("packages")
    @classmethod
    def _package_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _is_template(name) and not _PACKAGE_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a Debian package name")
        return value

    @property
    def kind(self) -> str:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.packages is not None:
            return "packages " + shlex.join(self.packages)
        if self.directory is not None:
            return f"directory {self.directory.path}"
        if self.template is not None:
            return f"template {self.template.dest}"
        if self.command is not None:
            return "command " + shlex.join(self.command.argv)
        if self.reload is not None:
            return f"reload {self.reload.service}"
        if self.stop is not None:
            return f"stop {self.stop.service}"
        assert self.wait is not None
        return f"wait {self.wait.tcp or self.wait.url}"


class Playbook(Model):
    """A playbook: the variables it takes, the steps that install a service, and those run after a restore."""

    description: str = Field(default="", description="What the playbook installs.")
    # ---- playbook variables (core/playbook_variables.py): declared here, checked against services' vars
    variables: dict[VariableName, VariableDeclaration] = Field(
        default_factory=dict, description="Every variable the templates use (vars.NAME): type, pattern, "
                                          "required or default, description. A service's `vars` are checked "
                                          "against them by `chaton inventory check`.")
    steps: list[Step] = Field(min_length=1, description="Steps run by `chaton deploy`, in order.")
    stop: list[Step] = Field(default_factory=list,
                             description="Steps run before a restore replaces the service's live data on its own "
                             "host: stop what writes to the data (e.g. `- stop: postfix`).")
    start: list[Step] = Field(default_factory=list,
                              description="Steps run after such a restore, whether it succeeded or not (the data is "
                              "then either restored or as it was): start what `stop` stopped (e.g. `- reload: postfix`).")
    after_restore: list[Step] = Field(default_factory=list,
                                      description="Steps run after the service's data is restored on its host "
                                      "(by `chaton restore` on the home host, by failover after deploying).")
    undeploy: list[Step] = Field(default_factory=list,
                                 description="Steps that take the service off its host when its tenant leaves "
                                 "(`chaton tenant remove`): stop it, remove its configuration, reload what served "
                                 "it. Its data and databases are removed by chaton itself afterwards.")


class PlaybookError(InventoryError):
    """A playbook cannot be used (exit 2): every problem, each with file and line."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        super().__init__(problems)
        count = len(self.problems)
        self.message = (f"{count} problem{'s' if count != 1 else ''} in the playbook:\n"
                        + "\n".join("  " + p.render() for p in self.problems))
        self.args = (self.message,)


@dataclass(frozen=True)
class LoadedPlaybook:
    """A validated playbook with its file, folder of templates and source positions."""

    name: str
    playbook: Playbook
    file: Path
    positions: Positions

    @property
    def folder(self) -> Path:
        return self.file.parent / self.name

    def where(self, path: PathKey) -> tuple[str, int | None]:
        found = self.positions.find(path)
        return (found.file, found.line) if found else (str(self.file), None)


def builtin_playbooks_dir() -> Path:
    """The playbooks shipped with chaton: package data (`chaton_ops/playbooks/`), so that a wheel
    installed anywhere (pip, pipx) has them, not only a checkout of the sources."""
    return Path(__file__).resolve().parents[1] / "playbooks"


def playbook_search_path(inventory_dir: Path, environ: dict[str, str] | None = None, *,
                         own: Path | None = None) -> list[Path]:
    """$CHATON_PLAYBOOKS (colon-separated), then the folder the inventory names (`playbooks:`, `own`),
    then the inventory's `playbooks/`, then the shipped ones."""
    environ = dict(os.environ) if environ is None else environ
    extra = [Path(p) for p in environ.get(PLAYBOOKS_ENV, "").split(os.pathsep) if p]
    named = [own] if own is not None else []
    return list(dict.fromkeys([*extra, *named, inventory_dir / "playbooks", builtin_playbooks_dir()]))


def find_playbook(name: str, search_path: list[Path]) -> Path:
    if not re.match(NAME_PATTERN, name):
        raise PlaybookError(Problem(f"playbook name {name!r} must match {NAME_PATTERN}"))
    for folder in search_path:
        candidate = folder / f"{name}.yml"
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(folder) for folder in search_path)
    raise PlaybookError(Problem(f"playbook '{name}' not found (looked for {name}.yml in {looked})"))


def load_playbook(file: Path) -> LoadedPlaybook:
    """Read and validate a playbook file; raise InventoryError listing every problem with file:line."""
    positions = Positions()
    problems: list[Problem] = []
    data = read_yaml_file(file, positions, problems)
    if problems:
        raise PlaybookError(problems)
    if not isinstance(data, dict):
        raise PlaybookError(Problem("a playbook is a mapping (description:, vars:, steps:, after_restore:)",
                                     file=str(file), line=1))
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as error:
        raise PlaybookError(validation_problems(error, positions, str(file))) from None
    return LoadedPlaybook(file.stem, playbook, file, positions)


def validation_problems(error: ValidationError, positions: Positions, file: str,
                        prefix: PathKey = ()) -> list[Problem]:
    """pydantic errors as located problems, with a suggestion for a misspelt key."""
    return located_problems(error, positions, file=file, explain=_explain, prefix=prefix)


def _explain(item: Mapping[str, Any], raw: PathKey) -> tuple[PathKey, str]:
    loc = tuple(part for part in raw if not _is_union_tag(part))
    message = str(item["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    if item["type"] == "extra_forbidden" and loc == ("vars",):
        message = ("playbooks declare their variables under `variables:` (type, required or default, "
                   "description), no longer as `vars:` defaults; see docs/reference/playbooks.md")
    elif item["type"] == "extra_forbidden":
        key = str(loc[-1])
        message = f"unknown key '{key}'"
        close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.6)
        if close:
            message += f" (did you mean '{close[0]}'?)"
    elif item["type"] == "missing":
        message = f"'{loc[-1]}' is required"
    return loc, message


def _is_union_tag(part: str | int) -> bool:
    # pydantic names union members in locations ("list[str]", "function-before[...]"); positions don't.
    return isinstance(part, str) and ("[" in part or part in ("str", "list"))


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for model in (Playbook, Step, DirectoryStep, TemplateStep, CommandStep, ReloadStep, StopStep, ServiceCommands,
                  WaitStep, VariableDeclaration):
        keys.update(model.model_fields)
    return sorted(keys)
