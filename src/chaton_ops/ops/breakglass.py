"""`chaton runbook`: the break-glass document, from the inventory as written and what the journal
remembers (read-only; a machine that never ran chaton gets the document without history)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaton_ops import __version__
from chaton_ops.core.breakglass import Block, History, Recorded, build_runbook, render_html, render_markdown
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import JournalReader
from chaton_ops.core.readiness import parse_time

STEPS_LOOKED_AT = 2000


def read_history(journal: JournalReader | None, journal_path: Path, services: list[str]) -> History:
    """Each service's last backup, drill and rehearsal in the journal, and where moved services run
    (None: no journal at `journal_path` yet, no history)."""
    if journal is None:
        return History(str(journal_path))
    backups = _latest(journal.latest_steps("backup", limit=STEPS_LOOKED_AT), services, _backup_detail)
    drills = _latest(journal.latest_steps("drill result", limit=STEPS_LOOKED_AT), services, _drill_detail)
    rehearsals: dict[str, Recorded] = {}
    for run in journal.runs(limit=200, command="rehearsal"):
        rto = journal.keyed_steps(run.id).get("rto")
        plan = journal.plan(run.id) or {}
        moved = {str(step.get("target") or step.get("inputs", {}).get("service") or "")
                 for step in plan.get("steps", [])}
        seconds = (rto.detail.get("outputs") or {}).get("rto_seconds") if rto is not None else None
        detail = f"RTO {seconds:.0f} s" if isinstance(seconds, int | float) else ""
        for service in services:
            if service in moved and service not in rehearsals:
                rehearsals[service] = Recorded(parse_time(run.ended_at or run.started_at), run.status, detail)
    placements = {name: p.host for name, p in journal.placements().items() if p.away}
    return History(str(journal_path), backups, drills, rehearsals, placements)


def _latest(steps: Sequence[Any], services: list[str], describe: Any) -> dict[str, Recorded]:
    latest: dict[str, Recorded] = {}
    for step in steps:  # newest first
        detail = dict(step.detail or {})  # flat (older runs), or the engine's {inputs, outputs}
        detail.update(detail.get("inputs") or {})
        detail.update(detail.get("outputs") or {})
        service = detail.get("service") or step.target.split("@", 1)[0]
        if service in services and service not in latest and step.status not in ("running", "pending"):
            status = "ok" if step.status == "changed" else step.status  # the engine's word for done
            latest[service] = Recorded(parse_time(step.ended_at or step.started_at), status, describe(detail))
    return latest


def _backup_detail(detail: dict[str, Any]) -> str:
    snapshots = detail.get("snapshots")  # a failover's or failback's backup: {repository: snapshot}
    if isinstance(snapshots, dict) and snapshots:
        return ", ".join(f"snapshot {str(snapshot or '-')[:8]}, to {repository}"
                         for repository, snapshot in snapshots.items())
    parts = [f"snapshot {str(detail['snapshot'])[:8]}" if detail.get("snapshot") else "",
             f"to {detail['repository']}" if detail.get("repository") else "",
             str(detail.get("message") or "")[:120]]
    return ", ".join(p for p in parts if p)


def _drill_detail(detail: dict[str, Any]) -> str:
    parts = [f"on {detail['host']}" if detail.get("host") else "",
             f"{float(detail['mb_per_s']):.0f} MB/s" if isinstance(detail.get("mb_per_s"), int | float) else "",
             str(detail.get("error") or "")[:120]]
    return ", ".join(p for p in parts if p)


def make_runbook(loaded: LoadedInventory, journal_path: Path, *, journal: JournalReader | None, fmt: str = "md",
                 now: dt.datetime | None = None) -> str:
    """The document as text, Markdown or HTML, from the inventory as written (`declared`) and the journal
    at `journal_path`, opened read-only by the composition root (None: none written yet)."""
    inventory = loaded.declared or loaded.inventory
    history = read_history(journal, journal_path, list(inventory.services))
    blocks: list[Block] = build_runbook(inventory, history, inventory_path=str(loaded.source.resolve()),
                                       generated=now or dt.datetime.now(dt.UTC), chaton_version=__version__)
    if fmt == "html":
        return render_html(blocks, f"Break-glass runbook: {inventory.collective.name}")
    return render_markdown(blocks)
