"""`chaton inventory check`: the inventory loads (structure, references), and every service's `vars`
fit the variables its playbook declares. Every problem at once, located (exit 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.playbook import (
    LoadedPlaybook,
    PlaybookError,
    find_playbook,
    load_playbook,
)
from chaton_ops.core.playbook_variables import find_variable_problems
from chaton_ops.core.ports import ServiceManager
from chaton_ops.errors import InventoryError, Problem


@dataclass
class PlaybookCache:
    """Each playbook found and validated once per run, however many services use it."""

    loaded: LoadedInventory
    environ: dict[str, str] | None = None
    found: dict[str, LoadedPlaybook | list[Problem]] = field(default_factory=dict)

    def get(self, name: str) -> LoadedPlaybook | list[Problem]:
        if name not in self.found:
            try:
                path = find_playbook(name, self.loaded.playbook_search_path(self.environ))
                self.found[name] = load_playbook(path)
            except PlaybookError as error:
                self.found[name] = error.problems
        return self.found[name]


def service_variable_problems(loaded: LoadedInventory, playbook: LoadedPlaybook, service_name: str) -> list[Problem]:
    """The service's `vars` against the playbook's `variables:`, each problem at the service's value."""
    service = loaded.inventory.services[service_name]
    here = ("services", service_name, "vars")
    problems = []
    for message, path in find_variable_problems(playbook.playbook.variables, service.vars, playbook.name):
        # a missing variable is located at `vars:` when the service has one, else at the service
        target = (*here, *path) if path or service.vars else ("services", service_name)
        problems.append(loaded.positions.problem(message, target))
    return problems


def playbook_problems(loaded: LoadedInventory, environ: dict[str, str] | None = None) -> list[Problem]:
    """Every service's playbook exists and is valid, and its `vars` fit the playbook's declarations."""
    cache = PlaybookCache(loaded, environ)
    problems: list[Problem] = []
    reported: set[str] = set()
    for name, service in loaded.inventory.services.items():
        if service.playbook is None:
            continue
        found = cache.get(service.playbook)
        if isinstance(found, LoadedPlaybook):
            problems += service_variable_problems(loaded, found, name)
            continue
        for problem in found:
            if problem.file:  # a problem inside the playbook file: reported once, where it is
                if problem.render() not in reported:
                    reported.add(problem.render())
                    problems.append(problem)
            else:  # the playbook is not found: at each service that names it
                problems.append(loaded.positions.problem(problem.message, ("services", name, "playbook")))
    return problems


def schedule_problems(loaded: LoadedInventory, calendar: ServiceManager | None = None) -> list[Problem]:
    """Each job's calendar expression, as systemd reads it: the documented forms are read here; another
    form is asked of `systemd-analyze calendar` through `calendar` (the machine's service manager, built
    by the composition root) where it is installed (time zones, `~`…), else refused (so too without one)."""
    from chaton_ops.core.calendar import CalendarError, parse_calendar

    problems = []
    for name, job in loaded.inventory.schedule.jobs().items():
        try:
            parse_calendar(job.on)
            continue
        except CalendarError as error:
            ours = str(error)
        if calendar is not None and calendar.available() and calendar.calendar_problem(job.on) is None:
            continue  # a form systemd reads beyond the documented ones (a time zone, `~`)
        here = ("schedule", name, "on") if loaded.positions.find(("schedule", name, "on")) else ("schedule", name)
        problems.append(loaded.positions.problem(f"{job.on!r} is not a calendar expression: {ours} "
                                                 "(see systemd.time(7); e.g. `*-*-* 02:30`, `Sun *-*-* 04:00`, "
                                                 "`*:0/5`, `daily`)", here))
    return problems


def own_playbooks_problems(loaded: LoadedInventory) -> list[Problem]:
    folder = loaded.own_playbooks
    if folder is None or folder.is_dir():
        return []
    return [loaded.positions.problem(f"{folder} is not a folder (the collective's own playbooks)", ("playbooks",))]


def check_inventory(loaded: LoadedInventory, environ: dict[str, str] | None = None,
                    calendar: ServiceManager | None = None) -> None:
    """Raise InventoryError with every problem the loader does not see (playbooks and their variables,
    the schedule's calendar expressions)."""
    problems = [*own_playbooks_problems(loaded), *schedule_problems(loaded, calendar),
                *playbook_problems(loaded, environ)]
    if problems:
        raise InventoryError(problems)


def check_inventory_at(source: Path, environ: dict[str, str] | None = None,
                       calendar: ServiceManager | None = None) -> LoadedInventory:
    """Load and check: what `chaton inventory check PATH` validates."""
    from chaton_ops.core.loader import load_inventory

    loaded = load_inventory(source)
    check_inventory(loaded, environ, calendar)
    return loaded
