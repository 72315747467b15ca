"""After a status run: remember each finding's level, tell the admins what changed (`--notify`), keep
the public services' incidents, and silences (`--silence NAME DURATION`).

Delivery problems are returned as text, never raised: a chat server that is down must not hide the
status itself. A message that could not be delivered is tried again on the next run.

The memory between runs is the AlertStore port and messages go through the Notifier port
(core/ports.py); ops/status_run.py hands down the real ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from chaton_ops.core.alerting import (
    AlertState,
    Change,
    active_silences,
    forget_stale,
    mark_told,
    plan_messages,
    silence,
    track,
    track_public,
)
from chaton_ops.core.health import Finding, StatusReport, limits_for, parse_duration
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import SecretValue, mask_text
from chaton_ops.core.ports import AlertStore, Notifier, Secrets
from chaton_ops.errors import PathError, SecretError, UsageError

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class FollowUp:
    state: AlertState
    sent: tuple[Change, ...] = ()  # told this run
    held: tuple[Change, ...] = ()  # held back by a maintenance window or a silence
    pending: tuple[Change, ...] = ()  # to tell, but --notify was not given (or delivery failed)
    problems: tuple[str, ...] = field(default_factory=tuple)


def read_silences(store: AlertStore, now: dt.datetime) -> dict[str, dt.datetime]:
    state, _problem = store.read()
    return active_silences(state, now)


def set_silence(loaded: LoadedInventory, store: AlertStore, name: str, duration: str,
                now: dt.datetime) -> dt.datetime | None:
    """Silence host or service `name` for `duration` (`0` lifts it); returns when it ends."""
    inventory = loaded.inventory
    if name not in inventory.hosts and name not in inventory.services:
        raise UsageError(f"--silence: no host or service called {name!r}")
    try:
        length = parse_duration(duration)
    except ValueError as error:
        raise UsageError(f"--silence: {error}") from None
    until = now + length if length else None
    with store.locked():
        state, _problem = store.read()
        store.write(silence(state, name, until))
    return until


def follow_up(loaded: LoadedInventory, report: StatusReport, store: AlertStore, *, notify: bool,
              notifier: Notifier, secrets: Secrets) -> FollowUp:
    """Update the state with this run's findings; with `notify`, send what changed (the destinations'
    URLs from `secrets`)."""
    inventory = loaded.inventory
    now = report.checked_at
    problems: list[str] = []
    with store.locked():
        state, problem = store.read()
        if problem:
            problems.append(f"status state: {problem}")
        state, changes = track(state, report.findings, now, confirm=lambda finding: _confirm_runs(loaded, finding),
                               wanted=inventory.notify.events)
        held = tuple(change for change in changes if change.held is not None)
        sent: list[Change] = []
        if notify:
            delivered, delivery_problems = _deliver(loaded, secrets, changes, notifier)
            sent = delivered
            problems.extend(delivery_problems)
            state = mark_told(state, delivered)
        confirm = limits_for(inventory).confirm
        state = forget_stale(track_public(state, inventory, report.findings, now, confirm), inventory, now)
        try:
            store.write(state)
        except PathError as error:
            problems.append(f"status state: {error.message}")
    pending = tuple(change for change in changes if change.held is None and change not in sent)
    return FollowUp(state, tuple(sent), held, pending, tuple(mask_text(problem) for problem in problems))


def _confirm_runs(loaded: LoadedInventory, finding: Finding) -> int:
    if finding.service is not None and finding.service in loaded.inventory.services:
        return limits_for(loaded.inventory, service=finding.service).confirm
    return limits_for(loaded.inventory, host=finding.host).confirm


def _deliver(loaded: LoadedInventory, secrets: Secrets, changes: list[Change],
             notifier: Notifier) -> tuple[list[Change], list[str]]:
    problems: list[str] = []
    delivered: dict[str, Change] = {}
    failed: set[str] = set()
    resolved: dict[str, SecretValue | str] = {}
    for destination, title, body, notify_type, told in plan_messages(loaded.inventory, changes):
        if destination not in resolved:
            try:
                resolved[destination] = secrets.resolve(destination)
            except SecretError as error:
                resolved[destination] = error.message
        secret = resolved[destination]
        what = f"apprise '{destination}' ({notify_type})"
        if isinstance(secret, str):
            problems.append(f"{what} not sent: {secret}")
            failed.update(change.key for change in told)
            continue
        failure = notifier.send(secret.reveal(), mask_text(title), mask_text(body), notify_type)
        if failure is not None:
            problems.append(f"{what} failed: {failure}")
            failed.update(change.key for change in told)
            continue
        log.debug("%s delivered", what)
        delivered.update((change.key, change) for change in told)
    # a change told to one destination but not to another is tried again for all of them
    return [change for key, change in delivered.items() if key not in failed], problems
