"""The journal, read back: which runs happened and what each of their steps did."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaton_ops.core.ports import JournalReader
from chaton_ops.core.run_report import RunSummary, step_from_journal
from chaton_ops.errors import UsageError


def list_runs(journal: JournalReader, limit: int = 20) -> list[dict[str, Any]]:
    """The `limit` most recent runs, newest first."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    return [asdict(run) for run in journal.runs(limit=limit)]


def describe_run(journal: JournalReader, run_id: int) -> dict[str, Any]:
    """One run and its steps in the order they started, and the run in the report shape every command
    shares (`runbook`, core/run_report.py)."""
    run = journal.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in the journal {journal.path}")
    steps = journal.steps(run_id)
    summary = RunSummary(run.id, run.command, run.status, run.exit_code, run.started_at, run.ended_at,
                         tuple(step_from_journal(s.key, s.step, s.target, s.host, s.status, s.detail) for s in steps))
    return {**asdict(run), "steps": [asdict(step) for step in steps], "runbook": summary.as_json()}


def read_history(journal: JournalReader | None, where: Path, limit: int = 20,
                 run_id: int | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """`chaton history` as one use case: the journal at `where` opened read-only by the composition root
    (ops/compose.py `open_journal_for_reading`; None: never written, no run yet), then the recent runs,
    or one run with its steps."""
    if journal is None:
        if run_id is not None:
            raise UsageError(f"no run {run_id}: no journal at {where}")
        if limit < 1:
            raise UsageError(f"--limit must be at least 1, not {limit}")
        return []
    return list_runs(journal, limit) if run_id is None else describe_run(journal, run_id)
