"""`chaton status` as one use case: gather and judge (ops/status.py), remember and notify
(ops/status_alerts.py), then write the status page and the metrics file when asked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from chaton_ops.adapters.atomic import write_text_atomically
from chaton_ops.adapters.hosts import HostPool
from chaton_ops.adapters.notifiers import NetworkNotifier
from chaton_ops.adapters.probes import NetworkProbes
from chaton_ops.adapters.secrets import InventorySecrets
from chaton_ops.adapters.status_state import AlertStateFile, default_status_state_path
from chaton_ops.core.health import StatusReport
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Dns, Probes
from chaton_ops.core.status_page import render_status_page
from chaton_ops.errors import PathError
from chaton_ops.ops.compose import open_journal_for_reading
from chaton_ops.ops.status import DEFAULT_JOBS, GuestsLookup, gather_status, select
from chaton_ops.ops.status_alerts import FollowUp, follow_up, read_silences, set_silence
from chaton_ops.ops.status_sources import read_journal, repository_snapshots


@dataclass(frozen=True)
class StatusRequest:
    hosts: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    notify: bool = False
    silence: tuple[str, str] | None = None  # (host or service, duration)
    html: Path | None = None
    metrics_file: Path | None = None
    jobs: int = DEFAULT_JOBS


@dataclass(frozen=True)
class StatusOutcome:
    report: StatusReport
    follow_up: FollowUp
    silenced_until: dt.datetime | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)  # files or messages that could not be written


def run_status(loaded: LoadedInventory, request: StatusRequest, *, probes: Probes | None = None,
               state_path: Path | None = None, journal_path: Path | None = None) -> StatusOutcome:
    inventory = loaded.inventory
    store = AlertStateFile(state_path or default_status_state_path())
    selection = select(inventory, request.hosts, request.services)
    silenced_until = None
    if request.silence is not None:
        silenced_until = set_silence(loaded, store, *request.silence, dt.datetime.now(dt.UTC))
    notes: list[str] = []
    secrets = InventorySecrets(loaded)
    with open_journal_for_reading(journal_path) as journal:
        journal_view, moves = read_journal(journal, len(inventory.services))
    with HostPool(loaded) as pool:
        report = gather_status(loaded, transports=pool.transport, probes=probes or NetworkProbes(),
                               journal=journal_view, snapshots=repository_snapshots(loaded, pool.transport, secrets),
                               dns=_dns(loaded), vms=_guests(loaded, notes),
                               selection=selection, jobs=request.jobs,
                               silences=read_silences(store, dt.datetime.now(dt.UTC)))
    followed = follow_up(loaded, report, store, secrets=secrets, notify=request.notify,
                         notifier=NetworkNotifier())
    problems = [*notes, *followed.problems]
    if request.html is not None:
        page = render_status_page(inventory, report, followed.state, moves)
        problems.extend(_write(request.html, page, "status page"))
    if request.metrics_file is not None:
        from chaton_ops.adapters.status_metrics import write_status_textfile

        try:
            write_status_textfile(request.metrics_file, report)
        except PathError as error:
            problems.append(f"metrics file not written: {error.message}")
    return StatusOutcome(report, followed, silenced_until, tuple(problems))


def _dns(loaded: LoadedInventory) -> Dns | None:
    """Reads only: no TSIG secret is needed (nor resolved) to ask a zone's servers."""
    if not loaded.inventory.dns:
        return None
    from chaton_ops.adapters.dns import Rfc2136Dns

    return Rfc2136Dns(loaded.inventory.dns, {})


def _guests(loaded: LoadedInventory, notes: list[str]) -> GuestsLookup | None:
    """Every Proxmox guest's health (`chaton vm`'s vm_health), when the inventory has clusters."""
    if not loaded.inventory.proxmox:
        return None
    from chaton_ops.adapters.proxmox import ProxmoxClients
    from chaton_ops.ops.vm.inspect import vm_health

    def insecure(cluster: str) -> None:
        notes.append(f"proxmox.{cluster}: verify_tls is false: the API's certificate is not checked")

    clients = ProxmoxClients(loaded, on_insecure=insecure)
    return lambda: vm_health(loaded.inventory, clients, dt.datetime.now(dt.UTC))


def _write(path: Path, text: str, what: str) -> list[str]:
    try:
        write_text_atomically(path, text, mode=0o644)
    except PathError as error:
        return [f"{what} not written: {error.message}"]
    return []
