"""One report of a run, whatever the command: the run (id, command, status, exit code, when) and its
steps (key, action, target, host, status, message, outputs, duration), with one JSON shape.

Built two ways, the same shape both times:
- from what the runbook engine returns, right after a run (`ops/engine.RunResult.summary()`): every
  command that changes something puts it under `"runbook"` in its `--json`;
- from the journal, any time later (`ops/history.run_summary`): `chaton history RUN --json` puts it
  under `"runbook"` too.

A step the engine ran is a keyed row of the journal and has its key both ways. Read from the journal,
a run also shows the rows that have no key, in the order they were written: the notes beside its steps
(a repository initialised) and the rows of an action that journals its own (a deploy's playbook
steps), which the engine's report sums up in the one step that ran them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepSummary:
    """One step of a run and how it ended (`message`: its reason, its error, or what it said)."""

    key: str | None
    action: str
    target: str
    host: str | None
    status: str
    message: str = ""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    duration: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "action": self.action, "target": self.target, "host": self.host,
                "status": self.status, "message": self.message, "outputs": dict(self.outputs),
                "duration": None if self.duration is None else round(self.duration, 3)}


@dataclass(frozen=True)
class RunSummary:
    """One run of a command: how it ended and each of its steps, in the order they were planned (or,
    read from the journal, started)."""

    run: int
    command: str
    status: str
    exit_code: int | None
    started_at: str
    ended_at: str | None
    steps: tuple[StepSummary, ...]

    def as_json(self) -> dict[str, Any]:
        return {"run": self.run, "command": self.command, "status": self.status,
                "exit_code": self.exit_code, "started_at": self.started_at, "ended_at": self.ended_at,
                "steps": [step.as_json() for step in self.steps]}


def step_from_journal(key: str | None, step: str, target: str, host: str | None, status: str,
                      detail: Mapping[str, Any]) -> StepSummary:
    """A journal row as a step: a keyed row keeps {inputs, outputs, reason, error}; any other row's
    detail is its outputs."""
    if key is not None and "inputs" in detail:
        outputs = dict(detail.get("outputs") or {})
        message = str(detail.get("error") or detail.get("reason") or "")
    else:
        outputs = {k: v for k, v in detail.items() if k not in ("error", "reason")}
        message = str(detail.get("error") or detail.get("reason") or "")
    duration = outputs.get("duration")
    return StepSummary(key, step, target, host, status, message, outputs,
                       float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else None)
