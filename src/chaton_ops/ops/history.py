"""The journal, read back: which runs happened and what each of their steps did."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chaton_ops.adapters.journal import Journal
from chaton_ops.errors import UsageError


def list_runs(journal: Journal, limit: int = 20) -> list[dict[str, Any]]:
    """The `limit` most recent runs, newest first."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    return [asdict(run) for run in journal.runs(limit=limit)]


def describe_run(journal: Journal, run_id: int) -> dict[str, Any]:
    """One run and its steps in the order they started."""
    run = journal.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in the journal {journal.path}")
    return {**asdict(run), "steps": [asdict(step) for step in journal.steps(run_id)]}
