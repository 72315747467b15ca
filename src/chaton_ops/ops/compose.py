"""The composition root of the commands that have no root of their own: it builds the adapters and
hands them to the use cases as ports.

- runbooks (`prune`, `tenant remove`, `schedule install|remove`): the locks of the one lock policy
  (core/locks.py), the connections to the hosts the steps run on (opened in the background), the
  journal; then the use case (`run_on_hosts`, `run_here`), then the admins told how it went
  (`run_on_hosts`);
- the notifier, the last statuses and the secrets that tell the admins how a run went
  (`announce_run`: every composition root of a command that changes something, but backup's);
- commands that read hosts (`ping`, `snapshots`): the connections (`on_hosts`);
- the Secrets port over the inventory's references (`inventory_secrets`: snapshots, tenant list|export,
  prune, tenant remove);
- the machine's service manager (`schedule`, `inventory check`), the journal read back
  (`open_journal_for_reading`: `history`, `runbook`, the placements every command loads the inventory
  with), a document written in one piece (`runbook`), the Files port over this machine's files
  (`local_files`: `schedule`);
- the playbooks' templates and the probes of their `wait` steps (`playbook_templates`,
  `network_probes`: `tenant remove`'s undeploy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # annotations only: `inventory check` and `history` load this module, not the engine
    from chaton_ops.core.loader import LoadedInventory
    from chaton_ops.core.ports import (
        Files,
        JournalReader,
        Probes,
        RunJournal,
        Secrets,
        ServiceManager,
        TemplatesFor,
        Transport,
    )
    from chaton_ops.core.run_report import RunSummary
    from chaton_ops.core.runbook import Plan
    from chaton_ops.ops.engine import RunResult

    OnHosts = Callable[[Callable[[str], Transport], RunJournal], RunResult]
    Local = Callable[[RunJournal], RunResult]

T = TypeVar("T")
Warn = Callable[[str], None]


def announce_run(loaded: LoadedInventory, summary: RunSummary | None, warn: Warn) -> None:
    """Tell the admins how a run went (ops/notify.py `send_run_summary`: apprise messages per
    `notify.apprise`, never the backup's healthchecks) through the real notifier, each subject's status
    remembered in the state folder; delivery problems go to `warn`: they never fail the run, and say
    no URL. `summary` None (a dry run, nothing ran): nothing is sent."""
    if summary is None:
        return
    from chaton_ops.adapters.notifiers import NetworkNotifier
    from chaton_ops.adapters.run_state import LastStatusFile, default_state_path
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.core.masking import mask_text
    from chaton_ops.ops.notify import send_run_summary

    try:
        problems = send_run_summary(loaded, summary, NetworkNotifier(), LastStatusFile(default_state_path()),
                                    secrets=InventorySecrets(loaded))
    except Exception as error:  # noqa: BLE001 - the run is done: telling about it must not turn it into a traceback
        problems = [mask_text(f"notifications not sent: unexpected error: {type(error).__name__}: {error}")]
    for problem in problems:
        warn(problem)


def run_on_hosts(loaded: LoadedInventory, plan: Plan, use: OnHosts, *, warn: Warn, lock_wait: float = 0.0,
                 wait_option: bool = True) -> RunResult:
    """`use(transports, journal)` with the plan's locks held and its hosts' connections open; then the
    admins told how the run went (`announce_run`, its problems to `warn`)."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.core.locks import run_locks

    with FileLocks().hold(run_locks(plan), wait=lock_wait, wait_option=wait_option), \
            HostPool(loaded) as pool, Journal(default_journal_path()) as journal:
        pool.connect_in_background(sorted({step.host for step in plan.steps if step.host}))
        result = use(pool.transport, journal)
    announce_run(loaded, result.summary(), warn)
    return result


def run_here(plan: Plan, use: Local, *, lock_wait: float = 0.0, wait_option: bool = False) -> RunResult:
    """`use(journal)` with the plan's locks held: a runbook that changes only this machine."""
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.core.locks import run_locks

    with FileLocks().hold(run_locks(plan), wait=lock_wait, wait_option=wait_option), \
            Journal(default_journal_path()) as journal:
        return use(journal)


def on_hosts(loaded: LoadedInventory, use: Callable[[Callable[[str], Transport]], T]) -> T:
    """`use(transports)` with a pool of connections, closed afterwards."""
    from chaton_ops.adapters.hosts import HostPool

    with HostPool(loaded) as pool:
        return use(pool.transport)


def inventory_secrets(loaded: LoadedInventory) -> Secrets:
    """The Secrets port over the inventory's references (env, file, command)."""
    from chaton_ops.adapters.secrets import InventorySecrets

    return InventorySecrets(loaded)


def playbook_templates() -> TemplatesFor:
    """The Templates port of a playbook folder (strict Jinja2)."""
    from chaton_ops.adapters.templates import TemplateRenderer

    return TemplateRenderer


def network_probes() -> Probes:
    """The Probes port from this machine (HTTP with httpx, SMTP, TCP)."""
    from chaton_ops.adapters.probes import NetworkProbes

    return NetworkProbes()


def local_files() -> Files:
    """The Files port over this machine's files (bounded reads, atomic writes)."""
    from chaton_ops.adapters.atomic import LocalFiles

    return LocalFiles()


def service_manager() -> ServiceManager:
    """This machine's init system (systemd), for schedules."""
    from chaton_ops.adapters.systemd import Systemd

    return Systemd()


def state_folder() -> Path:
    """chaton's state folder on this machine ($CHATON_STATE_DIR, else ~/.local/state/chaton)."""
    from chaton_ops.adapters.run_state import default_state_dir

    return default_state_dir()


def journal_path() -> Path:
    from chaton_ops.adapters.journal import default_journal_path

    return default_journal_path()


@contextmanager
def open_journal_for_reading(path: Path | None = None) -> Iterator[JournalReader | None]:
    """The journal (this machine's, or the one at `path`) opened read-only and closed afterwards; None
    when none was ever written (nothing recorded yet: reading never creates a journal)."""
    from chaton_ops.adapters.journal import Journal, default_journal_path

    journal = Journal.open_if_present(path or default_journal_path())
    if journal is None:
        yield None
        return
    with journal:
        yield journal


def write_document(path: Path, text: str, *, mode: int = 0o640) -> None:
    """Write a document chaton generates in one piece (never half a file)."""
    from chaton_ops.adapters.atomic import write_text_atomically

    write_text_atomically(path, text, mode=mode)


def check_writable(path: Path) -> None:
    """PathError when chaton could not write `path` (its folder missing, a device, a folder): for a file
    option, refused before the command runs rather than at its end."""
    from chaton_ops.adapters.atomic import writable_file

    writable_file(path)


def secret_file_warnings(loaded: LoadedInventory) -> list[str]:
    """A warning per secret file that group or others can read."""
    from chaton_ops.adapters.secrets import exposure_warning

    return [message for name, ref in loaded.inventory.secrets.items() if ref.file is not None
            if (message := exposure_warning(name, loaded.resolve_path(ref.file))) is not None]
