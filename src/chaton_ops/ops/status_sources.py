"""Where `chaton status` reads what it does not probe: the journal (read-only: backups, drills, moves)
and, for a service the journal knows nothing about, the repository itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import JournalReader, Secrets, Transport
from chaton_ops.core.readiness import DRILL_ACTIONS, RecordedStep, parse_time
from chaton_ops.core.status_page import Move
from chaton_ops.ops.snapshots import list_repository_snapshots
from chaton_ops.ops.status import JournalView, SnapshotLookup

STEPS_PER_TARGET = 20  # how far back to look: about as many runs per service
MOVES_SHOWN = 50


def recorded(step: Any) -> RecordedStep:
    """A journal's step (adapters/journal.StepRecord) as readiness reads it."""
    return RecordedStep(step.step, step.target, step.status, step.detail,
                        parse_time(step.ended_at) or parse_time(step.started_at), step.run_id, step.id)


def read_journal(journal: JournalReader | None, targets: int) -> tuple[JournalView, list[Move]]:
    """Backups and drills newest first, and the moves of services; nothing when there is no journal
    (None: the composition root found none to open read-only)."""
    if journal is None:
        return JournalView(), []
    limit = max(200, STEPS_PER_TARGET * max(1, targets))
    backups = tuple(recorded(step) for step in journal.latest_steps("backup", limit=limit))
    drills = tuple(sorted((recorded(step) for action in DRILL_ACTIONS
                           for step in journal.latest_steps(action, limit=limit)),
                          key=lambda step: step.id, reverse=True))
    moves = []
    for placement in journal.placement_history(MOVES_SHOWN):
        when = parse_time(placement.since)
        if when is not None:
            moves.append(Move(placement.service, placement.away, when))
    return JournalView(backups, drills), moves


def repository_snapshots(loaded: LoadedInventory, transports: Callable[[str], Transport],
                         secrets: Secrets) -> SnapshotLookup:
    """Newest snapshot of a service in a repository, asked with restic on the service's host."""

    def newest(service: str, repository: str, host: str) -> dt.datetime | None:
        found = list_repository_snapshots(loaded, repository, transports(host), secrets=secrets, service=service)
        return max((snapshot.time for snapshot in found), default=None)

    return newest
