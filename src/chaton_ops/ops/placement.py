"""Placements read from the journal and applied to a loaded inventory (see core/placement.py)."""

from __future__ import annotations

from dataclasses import replace

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.placement import Placement, apply_placements
from chaton_ops.core.ports import JournalReader


def read_placements(journal: JournalReader) -> dict[str, Placement]:
    return {name: Placement(p.service, p.host, p.home, p.since, p.run_id, p.reason)
            for name, p in journal.placements().items()}


def place_services(loaded: LoadedInventory, journal: JournalReader | None) -> tuple[LoadedInventory, list[str]]:
    """`loaded` with its moved services on the hosts where they run now, and warnings about placements
    that no longer fit. Without a journal (None: none written yet), nothing was ever moved."""
    if journal is None:
        return loaded, []
    placements = read_placements(journal)
    if not placements:
        return loaded, []
    inventory, warnings = apply_placements(loaded.inventory, placements)
    return replace(loaded, inventory=inventory, placements=placements, declared=loaded.inventory), warnings
