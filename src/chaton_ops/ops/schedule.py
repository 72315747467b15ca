"""`chaton schedule install|show|remove`: the inventory's `schedule:` as systemd timers (or a cron.d file)
on the machine that runs chaton.

Facts (what is installed, whether the units verify) → a plan of steps (write a file, remove one,
enable or disable timers; a step with nothing to do is a no-op with its reason) → applied on the
runbook engine. `show` compares the installed files with what the inventory says, file by file.
Files are written under `root` when one is given (tests, a machine image): `ROOT/etc/systemd/system`,
`ROOT/etc/cron.d`; timers are then enabled with `systemctl --root`, which needs no running systemd.
Only files carrying chaton's marker are ever replaced or removed; they are read and written through
the Files port (ops/compose.py `local_files`: bounded reads, atomic writes).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chaton_ops.core.calendar import CalendarError, parse_calendar
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Files, RunJournal, ServiceManager
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.core.schedule import (
    CRON_FILE,
    MARKER,
    UNIT_PREFIX,
    Installation,
    calendar_of_unit,
    cron_file,
    jobs_of_cron_file,
    unit_files,
)
from chaton_ops.errors import ChatonError, InventoryError, PathError, UsageError
from chaton_ops.ops.engine import (
    GO,
    Action,
    Done,
    EventSink,
    Refuse,
    RunResult,
    RunState,
    StepOutput,
    Verdict,
    apply_plan,
    start_run,
)

Kind = Literal["systemd", "cron"]
ROOT_VARIABLE = "CHATON_SCHEDULE_ROOT"


@dataclass(frozen=True)
class Target:
    """Where the schedule goes: systemd units or a cron.d file, under `root` or on the machine itself."""

    kind: Kind
    root: Path | None

    @property
    def folder(self) -> Path:
        base = self.root or Path("/")
        return base / ("etc/systemd/system" if self.kind == "systemd" else "etc/cron.d")


def choose_target(kind: str, root: str | None, manager: ServiceManager) -> Target:
    """`auto`: systemd where it runs (or, under a root, where its tools are), else cron."""
    if root is not None and not Path(root).is_absolute():
        raise UsageError(f"--root needs an absolute path, not {root!r}")
    if kind == "auto":
        kind = "systemd" if manager.running() else "cron"
    if kind not in ("systemd", "cron"):
        raise UsageError(f"--kind must be auto, systemd or cron, not {kind!r}")
    return Target(kind, Path(root) if root else None)  # type: ignore[arg-type]


def describe_installation(loaded: LoadedInventory, *, journal: Path, state_dir: Path,
                          chaton: str | None = None) -> Installation:
    """The absolute paths the jobs run with, taken now: this inventory, this chaton, this journal and
    state folder (ops/compose.py `journal_path`, `state_folder`)."""
    command = chaton or _this_chaton()
    return Installation(inventory=str(loaded.source.resolve()), chaton=command,
                        journal=str(journal.resolve()), state_dir=str(state_dir.resolve()),
                        collective=loaded.inventory.collective.name)


def _this_chaton() -> str:
    beside = Path(sys.executable).with_name("chaton")
    if beside.exists():
        return str(beside)
    found = shutil.which("chaton")
    if found:
        return str(Path(found).resolve())
    raise UsageError("cannot tell where the chaton command is installed (not beside this Python, not on PATH)")


# ---------------------------------------------------------------------------------------------
# Facts: what should be there, what is there
# ---------------------------------------------------------------------------------------------


def wanted_files(loaded: LoadedInventory, target: Target, where: Installation,
                 manager: ServiceManager) -> dict[str, str]:
    """File name → content the inventory asks for. Refused (nothing written) when a calendar expression
    cannot be read, or when systemd-analyze does not accept the units."""
    from chaton_ops.ops.inventory_check import schedule_problems

    problems = schedule_problems(loaded, manager)
    if problems:
        raise InventoryError(problems)
    schedule = loaded.inventory.schedule
    environment = str(loaded.resolve_path(schedule.environment_file)) if schedule.environment_file else None
    if not schedule.jobs():
        return {}
    if target.kind == "cron":
        try:
            return {CRON_FILE: cron_file(schedule, where, environment_file=environment)}
        except CalendarError as error:
            raise UsageError(f"{error} (cron)") from None
    files = unit_files(schedule, where, environment_file=environment)
    problem = verify_units(files, manager)
    if problem:
        raise ChatonError(f"systemd-analyze verify refuses the units, nothing was written: {problem}")
    return files


def verify_units(files: Mapping[str, str], manager: ServiceManager) -> str | None:
    """The units checked by `systemd-analyze verify` in a scratch folder (where it is installed), else by
    reading back each timer's calendar with chaton's own parser."""
    if manager.available():
        with tempfile.TemporaryDirectory(prefix="chaton-units-") as scratch:
            paths = []
            for name, text in files.items():
                (Path(scratch) / name).write_text(text)
                paths.append(str(Path(scratch) / name))
            return manager.verify(sorted(paths))
    for name, text in files.items():
        calendar = calendar_of_unit(text)
        if name.endswith(".timer"):
            try:
                parse_calendar(calendar or "")
            except CalendarError as error:
                return f"{name}: {error}"
    return None


def installed_files(target: Target, files: Files) -> dict[str, str]:
    """chaton's files in the target folder (those carrying its marker), name → content."""
    folder = target.folder
    if not folder.is_dir():
        return {}
    if target.kind == "cron":
        candidates = [folder / CRON_FILE]
    else:
        candidates = sorted([*folder.glob(f"{UNIT_PREFIX}*.service"), *folder.glob(f"{UNIT_PREFIX}*.timer")])
    found = {}
    for path in candidates:
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = files.read_text(path)
        except PathError:
            continue
        if text.startswith(MARKER):
            found[path.name] = text
    return found


# ---------------------------------------------------------------------------------------------
# show
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobState:
    job: str
    wanted: str | None  # the inventory's calendar, None: not scheduled
    installed: str | None  # the installed calendar, None: not installed
    state: str  # "in place", "differs", "not installed", "not in the inventory", "not enabled"
    files: tuple[str, ...] = ()

    @property
    def drift(self) -> bool:
        return self.state != "in place"


def compare(loaded: LoadedInventory, target: Target, where: Installation, manager: ServiceManager, *,
            files: Files) -> list[JobState]:
    """Each job: the inventory's schedule against what is installed (content, and for systemd whether the
    timer is enabled)."""
    wanted = wanted_files(loaded, target, where, manager)
    installed = installed_files(target, files)
    jobs = loaded.inventory.schedule.jobs()
    if target.kind == "cron":
        installed_jobs = jobs_of_cron_file(installed.get(CRON_FILE, ""))
        same = wanted.get(CRON_FILE) == installed.get(CRON_FILE)
        states = []
        for name in [*jobs, *(j for j in installed_jobs if j not in jobs)]:
            on = jobs[name].on if name in jobs else None
            if name not in jobs:
                state = "not in the inventory"
            elif name not in installed_jobs:
                state = "not installed"
            else:
                state = "in place" if same else "differs"
            states.append(JobState(name, on, installed_jobs.get(name), state, (CRON_FILE,)))
        return states
    names = list(dict.fromkeys([*jobs, *(n.removeprefix(UNIT_PREFIX).rsplit(".", 1)[0] for n in installed)]))
    states = []
    for name in names:
        units = (f"{UNIT_PREFIX}{name}.service", f"{UNIT_PREFIX}{name}.timer")
        timer = installed.get(units[1])
        on = jobs[name].on if name in jobs else None
        if name not in jobs:
            state = "not in the inventory"
        elif not any(f in installed for f in units):
            state = "not installed"
        elif any(wanted.get(f) != installed.get(f) for f in units):
            state = "differs"
        elif not manager.is_enabled(units[1], root=str(target.root) if target.root else None):
            state = "not enabled"
        else:
            state = "in place"
        states.append(JobState(name, on, calendar_of_unit(timer) if timer else None, state, units))
    return states


# ---------------------------------------------------------------------------------------------
# install, remove: plans
# ---------------------------------------------------------------------------------------------


def plan_install(loaded: LoadedInventory, target: Target, where: Installation, manager: ServiceManager, *,
                 files: Files) -> Plan:
    wanted = wanted_files(loaded, target, where, manager)
    return _plan("schedule install", target, wanted, installed_files(target, files), manager)


def plan_remove(target: Target, manager: ServiceManager, *, files: Files) -> Plan:
    return _plan("schedule remove", target, {}, installed_files(target, files), manager)


def _plan(command: str, target: Target, wanted: Mapping[str, str], installed: Mapping[str, str],
          manager: ServiceManager) -> Plan:
    root = str(target.root) if target.root else None
    folder = str(target.folder)
    steps: list[PlannedStep] = []
    stale_timers = sorted(n for n in installed if n.endswith(".timer") and n not in wanted)
    if stale_timers:
        steps.append(PlannedStep("disable", "disable", f"disable {len(stale_timers)} timer{'s' if len(stale_timers) > 1 else ''}", lane="files",
                                 inputs={"timers": stale_timers, "root": root}))
    for name in sorted(installed):
        if name not in wanted:
            steps.append(PlannedStep(f"remove:{name}", "remove", f"remove {name}", target=name, lane="files",
                                     inputs={"path": f"{folder}/{name}"}))
    for name, text in wanted.items():
        same = installed.get(name) == text
        steps.append(PlannedStep(f"write:{name}", "write", f"write {name}", target=name, lane="files",
                                 inputs={"path": f"{folder}/{name}", "content": text, "replaces": name in installed},
                                 noop="already as the inventory says" if same else None))
    timers = sorted(n for n in wanted if n.endswith(".timer"))
    if target.kind == "systemd" and timers:
        steps.append(PlannedStep("enable", "enable", f"enable {len(timers)} timer{'s' if len(timers) > 1 else ''}", lane="files",
                                 needs=tuple(s.key for s in steps if s.action in ("write", "remove")),
                                 inputs={"timers": timers, "root": root}))
    if not steps:
        steps.append(PlannedStep("nothing", "none", "nothing installed", noop="no chaton schedule is installed here"))
    return Plan(command, tuple(steps), inputs={"kind": target.kind, "folder": folder, "root": root})


@dataclass
class WriteFile:
    files: Files

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        path = Path(step.inputs["path"])
        if path.is_file() and not path.is_symlink():
            current = self.files.read_text(path)
            if current == step.inputs["content"]:
                return Done("already as the inventory says")
            if not current.startswith(MARKER):
                return Refuse(f"{path} exists and was not written by chaton: move it aside first")
        elif path.exists() or path.is_symlink():
            return Refuse(f"{path} exists and is not a regular file")
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        path = Path(step.inputs["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files.write_text(path, step.inputs["content"], mode=0o644)
        return StepOutput("changed", {"path": str(path)})


@dataclass
class RemoveFile:
    files: Files

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        path = Path(step.inputs["path"])
        if not path.exists():
            return Done("already gone")
        text = self.files.read_text(path)
        return GO if text.startswith(MARKER) else Refuse(f"{path} was not written by chaton: left alone")

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        Path(step.inputs["path"]).unlink()
        return StepOutput("changed", {"path": step.inputs["path"]})


@dataclass
class Timers:
    manager: ServiceManager
    enable: bool

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        root = step.inputs["root"]
        timers = step.inputs["timers"]
        changed = any(run.status(key) == "changed" for key in step.needs)  # a unit rewritten: reload, enable
        states = [self.manager.is_enabled(t, root=root) for t in timers]
        if not changed and all(state == self.enable for state in states):
            return Done("already enabled" if self.enable else "already disabled")
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        root = step.inputs["root"]
        if root is None:
            self.manager.reload()
        if self.enable:
            self.manager.enable(step.inputs["timers"], root=root)
        else:
            self.manager.disable(step.inputs["timers"], root=root)
        return StepOutput("changed", {"timers": step.inputs["timers"], "enabled": self.enable})


def describe_file(name: str, text: str) -> str:
    """One line on what a file does: a timer's calendar and delay, the chaton command of a service, the
    jobs of a cron file (the plan's `what` column; `-v` shows the whole files)."""
    if name.endswith(".timer"):
        on, delay = calendar_of_unit(text), re.search(r"^RandomizedDelaySec=(.*)$", text, re.MULTILINE)
        return f"at {on}" + (f", up to {delay.group(1)} later" if delay else "")
    if name.endswith(".service"):
        found = re.search(r"^ExecStart=(.*)$", text, re.MULTILINE)
        words = shlex.split(found.group(1)) if found else []
        if "-i" in words:  # flock … CHATON -q -i INVENTORY COMMAND…: the command is what differs per job
            return "runs chaton " + shlex.join(words[words.index("-i") + 2:])
        return ""
    jobs = jobs_of_cron_file(text)
    return f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}: " + ", ".join(f"{job} at {on}" for job, on in jobs.items())


def change_schedule(plan: Plan, manager: ServiceManager, args: list[str], *, files: Files,
                    on_event: EventSink | None = None) -> RunResult:
    """`chaton schedule install|remove` as one use case: chaton's schedule lock, the journal, the plan."""
    from chaton_ops.ops.compose import run_here

    return run_here(plan, lambda journal: apply_schedule(plan, manager, journal, args, files=files,
                                                         on_event=on_event))


def apply_schedule(plan: Plan, manager: ServiceManager, journal: RunJournal, args: list[str], *, files: Files,
                   on_event: EventSink | None = None) -> RunResult:
    run_id = start_run(journal, plan, args)
    actions: dict[str, Action] = {"write": WriteFile(files), "remove": RemoveFile(files),
                                  "enable": Timers(manager, True), "disable": Timers(manager, False)}
    return apply_plan(plan, actions, journal, run_id, on_event=on_event)
