"""Pure planning of playbook steps: facts gathered on the host → the actions needed, or a no-op with a reason.

Like pyinfra's operations: a fact is a command plus a parser (both here, run by ops/deploy.py over
the transport); a step compares facts with the wanted state and yields only the commands needed.
"""

from __future__ import annotations

import difflib
import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.playbook import ServiceCommands, Step

ServiceManager = Literal["systemd", "direct"]
PREVIOUS_SUFFIX = ".chaton-prev"
TEMPORARY_SUFFIX = ".chaton-new"
STAT_FORMAT = "%F|%a|%U|%G"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
# Where failover leaves a service's restored database dumps for its after_restore steps
# (file names as core/database.dump_filename: ENGINE-NAME.sql).
DUMP_DIR = "/var/lib/chaton/dumps"


def template_context(inventory: Inventory, service_name: str, host_name: str,
                     playbook_vars: dict[str, Any] | None = None) -> dict[str, Any]:
    """Variables templates see: vars (playbook defaults overridden by the service's), service, host,
    tenant, data, collective."""
    service = inventory.services[service_name]
    host = inventory.hosts[host_name]
    merged = {**(playbook_vars or {}), **service.vars}
    tenant = None
    if service.tenant is not None:
        tenant = {"name": service.tenant, "contact": inventory.tenants[service.tenant].contact}
    return {
        "vars": merged,
        "service": {
            "name": service_name,
            "tenant": service.tenant,
            "priority": service.priority,
            "playbook": service.playbook,
            "data": list(service.data),
            "databases": [{**db.model_dump(), "dump_file": f"{DUMP_DIR}/{service_name}/{db.engine}-{db.name}.sql"}
                          for db in service.databases],
        },
        "host": {"name": host_name, "address": host.address, "kind": host.kind,
                 "service_manager": host.service_manager},
        "tenant": tenant,
        "data": list(service.data),
        "collective": inventory.collective.model_dump(),
    }


# ------------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class PathState:
    """What `stat` says about a path on the host."""

    exists: bool
    kind: str | None = None  # "regular file", "directory", ...
    mode: int | None = None
    user: str | None = None
    group: str | None = None


def stat_argv(path: str) -> tuple[str, ...]:
    return ("stat", "-c", STAT_FORMAT, "--", path)


def parse_stat(returncode: int, stdout: str) -> PathState:
    if returncode != 0 or not stdout.strip():
        return PathState(exists=False)
    kind, mode, user, group = stdout.strip().rsplit("|", 3)
    return PathState(True, kind, int(mode, 8), user, group)


def dpkg_query_argv(packages: list[str]) -> tuple[str, ...]:
    return ("dpkg-query", "-W", "-f=${Package}\\t${db:Status-Status}\\n", "--", *packages)


def parse_missing_packages(stdout: str, packages: list[str]) -> tuple[str, ...]:
    """dpkg-query exits 1 when it knows a package not at all; what it prints is still the truth."""
    installed = set()
    for line in stdout.splitlines():
        name, _, status = line.partition("\t")
        if status.strip() == "installed":
            installed.add(name.split(":")[0])
    return tuple(p for p in packages if p not in installed)


@dataclass(frozen=True)
class StepFacts:
    """Facts one step needs (unused ones stay None)."""

    path: PathState | None = None
    content: bytes | None = None  # current file content (template)
    missing_packages: tuple[str, ...] = ()
    guard: str | None = None  # why a command can be skipped; None: it must run
    running: bool | None = None


def service_commands(step: Step, manager: ServiceManager) -> ServiceCommands:
    """The status/start/reload/stop commands of a reload or stop step on a host with this service manager."""
    managed = step.reload if step.reload is not None else step.stop
    assert managed is not None
    if manager == "systemd":
        default = ServiceCommands(status=["systemctl", "is-active", "--quiet", managed.service],
                                  start=["systemctl", "start", managed.service],
                                  reload=["systemctl", "reload", managed.service],
                                  stop=["systemctl", "stop", managed.service])
        override = managed.systemd
    else:
        default = ServiceCommands()
        override = managed.direct
    merged = default.model_dump()
    if override is not None:
        merged.update({k: v for k, v in override.model_dump().items() if v is not None})
    return ServiceCommands.model_validate(merged)


def missing_direct_commands(step: Step, manager: ServiceManager) -> list[str]:
    """For a `direct` host: which of the commands the step needs it does not say (reload: status, start,
    reload; stop: status, stop)."""
    commands = service_commands(step, manager)
    needed = ("status", "stop") if step.stop is not None else ("status", "start", "reload")
    return [name for name in needed if getattr(commands, name) is None]


# ------------------------------------------------------------------------------------------ plans
ActionKind = Literal["run", "put", "wait"]


@dataclass(frozen=True)
class Action:
    """One thing to do on the host: run an argv, put a file, or wait for a port/URL."""

    kind: ActionKind
    argv: tuple[str, ...] = ()
    path: str = ""
    data: bytes | None = None
    mode: int = 0o644
    env: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    status: int = 200  # wait on a URL: the expected status

    def describe(self) -> str:
        if self.kind == "run":
            return shlex.join(self.argv)
        if self.kind == "put":
            return f"write {self.path} ({len(self.data or b'')} bytes, mode {self.mode:04o})"
        return f"wait for {self.path} (≤ {self.timeout:g} s)"


@dataclass(frozen=True)
class StepPlan:
    """What one step will do: actions (changed) or none with a reason (ok); `error` stops the run."""

    index: int
    label: str
    kind: str
    actions: tuple[Action, ...] = ()
    reason: str = ""
    diff: str = ""
    content: str | None = None  # rendered file content, for --dry-run
    error: str | None = None
    changes: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", any(a.kind != "wait" for a in self.actions))


def plan_step(index: int, step: Step, facts: StepFacts, *, manager: ServiceManager,
              changed_before: bool, content: bytes | None = None) -> StepPlan:
    """The actions `step` needs given `facts`; `changed_before`: an earlier step of this run changes something."""
    label, kind = step.label, step.kind
    if step.packages is not None:
        return _plan_packages(index, label, facts)
    if step.directory is not None:
        return _plan_directory(index, label, step, facts)
    if step.template is not None:
        assert content is not None
        return _plan_template(index, label, step, facts, content)
    if step.command is not None:
        if facts.guard is not None:
            return StepPlan(index, label, kind, reason=facts.guard)
        return StepPlan(index, label, kind, (Action("run", tuple(step.command.argv), timeout=step.command.timeout),),
                        reason="no guard" if not step.command.guarded else "guard not met")
    if step.reload is not None:
        return _plan_reload(index, step, facts, manager, changed_before)
    if step.stop is not None:
        return _plan_stop(index, step, facts, manager)
    assert step.wait is not None
    target = step.wait.url or step.wait.tcp or ""
    return StepPlan(index, label, kind, (Action("wait", path=target, timeout=step.wait.timeout,
                                                status=step.wait.status),), reason="probe")


def _plan_packages(index: int, label: str, facts: StepFacts) -> StepPlan:
    if not facts.missing_packages:
        return StepPlan(index, label, "packages", reason="all installed")
    missing = facts.missing_packages
    env = tuple(APT_ENV.items())
    return StepPlan(index, label, "packages", (
        Action("run", ("apt-get", "update", "-qq"), env=env, timeout=600),
        Action("run", ("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing), env=env, timeout=1800),
    ), reason="missing: " + ", ".join(missing))


def _ownership_actions(path: str, owner: str | None, state: PathState) -> list[Action]:
    if owner is None:
        return []
    user, _, group = owner.partition(":")
    if state.exists and state.user == user and (not group or state.group == group):
        return []
    return [Action("run", ("chown", owner, "--", path))]


def _plan_directory(index: int, label: str, step: Step, facts: StepFacts) -> StepPlan:
    assert step.directory is not None and facts.path is not None
    wanted, state, path = int(step.directory.mode, 8), facts.path, step.directory.path
    if state.exists and state.kind != "directory":
        return StepPlan(index, label, "directory", error=f"{path} exists and is a {state.kind}, not a directory")
    actions: list[Action] = []
    reasons: list[str] = []
    if not state.exists:
        actions.append(Action("run", ("mkdir", "-p", "--", path)))
        reasons.append("missing")
    if not state.exists or state.mode != wanted:
        actions.append(Action("run", ("chmod", f"{wanted:04o}", "--", path)))
        if state.exists:
            reasons.append(f"mode {state.mode:04o} → {wanted:04o}")
    ownership = _ownership_actions(path, step.directory.owner, state)
    if ownership and state.exists:
        reasons.append(f"owner {state.user}:{state.group} → {step.directory.owner}")
    actions += ownership
    return StepPlan(index, label, "directory", tuple(actions),
                    reason=", ".join(reasons) if actions else "exists with mode and owner")


def _plan_template(index: int, label: str, step: Step, facts: StepFacts, content: bytes) -> StepPlan:
    assert step.template is not None and facts.path is not None
    dest, state = step.template.dest, facts.path
    wanted_mode = int(step.template.mode, 8)
    text = content.decode("utf-8", "replace")
    if state.exists and state.kind != "regular file":
        return StepPlan(index, label, "template", content=text,
                        error=f"{dest} exists and is a {state.kind}, not a regular file")
    same_content = state.exists and facts.content == content
    diff = "" if same_content else unified_diff(dest, facts.content if state.exists else None, content)
    reasons: list[str] = []
    actions: list[Action] = []
    if not same_content:
        temporary = posixpath.join(posixpath.dirname(dest), "." + posixpath.basename(dest) + TEMPORARY_SUFFIX)
        actions.append(Action("put", path=temporary, data=content, mode=wanted_mode))
        actions.append(Action("run", ("chmod", f"{wanted_mode:04o}", "--", temporary)))
        if step.template.owner is not None:
            actions.append(Action("run", ("chown", step.template.owner, "--", temporary)))
        if state.exists:
            actions.append(Action("run", ("cp", "-p", "--", dest, dest + PREVIOUS_SUFFIX)))
        actions.append(Action("run", ("mv", "-f", "-T", "--", temporary, dest)))
        reasons.append("content differs" if state.exists else "missing")
    else:
        if state.mode != wanted_mode:
            actions.append(Action("run", ("chmod", f"{wanted_mode:04o}", "--", dest)))
            reasons.append(f"mode {state.mode or 0:04o} → {wanted_mode:04o}")
            diff = f"mode {state.mode or 0:04o} → {wanted_mode:04o}\n"
        ownership = _ownership_actions(dest, step.template.owner, state)
        if ownership:
            reasons.append(f"owner {state.user}:{state.group} → {step.template.owner}")
        actions += ownership
    if state.exists and not same_content and state.mode != wanted_mode:
        diff = f"mode {state.mode or 0:04o} → {wanted_mode:04o}\n" + diff
    return StepPlan(index, label, "template", tuple(actions), reason=", ".join(reasons) or "up to date",
                    diff=diff, content=text)


def _plan_reload(index: int, step: Step, facts: StepFacts, manager: ServiceManager,
                 changed_before: bool) -> StepPlan:
    assert step.reload is not None
    label = step.label
    missing = missing_direct_commands(step, manager)
    if missing:
        return StepPlan(index, label, "reload", error=(
            f"host uses service_manager {manager} but the step does not give {manager}: {', '.join(missing)}"))
    commands = service_commands(step, manager)
    assert commands.start is not None and commands.reload is not None
    test = (Action("run", tuple(step.reload.test)),) if step.reload.test else ()
    if not facts.running:
        return StepPlan(index, label, "reload", (*test, Action("run", tuple(commands.start))), reason="not running")
    if changed_before or step.reload.always:
        why = "an earlier step changed something" if changed_before else "always"
        return StepPlan(index, label, "reload", (*test, Action("run", tuple(commands.reload))), reason=why)
    return StepPlan(index, label, "reload", reason="running, nothing changed")


def _plan_stop(index: int, step: Step, facts: StepFacts, manager: ServiceManager) -> StepPlan:
    missing = missing_direct_commands(step, manager)
    if missing:
        return StepPlan(index, step.label, "stop", error=(
            f"host uses service_manager {manager} but the step does not give {manager}: {', '.join(missing)}"))
    commands = service_commands(step, manager)
    assert commands.stop is not None
    if facts.running is False:
        return StepPlan(index, step.label, "stop", reason="not running")
    return StepPlan(index, step.label, "stop", (Action("run", tuple(commands.stop)),), reason="running")


def unified_diff(path: str, before: bytes | None, after: bytes) -> str:
    old = [] if before is None else before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, fromfile="/dev/null" if before is None else f"{path} (on host)",
                                 tofile=f"{path} (rendered)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
