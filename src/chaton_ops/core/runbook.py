"""Runbooks as pure data: keyed steps in phases and lanes, stored with their run and applied by the
engine (ops/engine.py).

A plan is computed from gathered facts, changes nothing, and is what `--dry-run` prints and what the
journal stores, so that `--resume` continues exactly the plan that was started.

- `key` names a step uniquely and stably within its run (`restore:www@vps`): the journal finds a
  finished step by it and a resumed run does not do it again;
- `phase`: phases run one after another (preflight, source, fallback, DNS, verification);
- `lane`: the steps of a lane run in plan order and a failure skips the rest of its lane (one lane
  per service: a failed restore does not stop the next service); lanes of a phase may run in
  parallel, up to the run's `jobs`;
- `needs`: keys of steps that must have ended well (ok, changed, noop, warning) first, else the
  step is skipped with the reason;
- `noop`: a step planned not to run, with the reason (shown in the plan and journaled as such);
- `independent`: its failure does not skip the rest of its lane (the lane only keeps its steps one
  after another: the backups of the services of one host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StepStatus = Literal["pending", "running", "ok", "changed", "noop", "warning", "failed", "skipped",
                     "interrupted"]
SUCCESS_STATUSES: frozenset[str] = frozenset({"ok", "changed", "noop", "warning"})
RunStatus = Literal["ok", "warning", "partial", "failed", "interrupted"]


@dataclass(frozen=True)
class PlannedStep:
    key: str
    action: str
    title: str
    host: str | None = None
    target: str = ""
    phase: int = 0
    lane: str = ""
    needs: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    noop: str | None = None
    independent: bool = False

    @property
    def lane_name(self) -> str:
        """Its lane; by default the steps of one host run one after another."""
        return self.lane or self.host or self.key

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "action": self.action, "title": self.title, "host": self.host,
                "target": self.target, "phase": self.phase, "lane": self.lane, "needs": list(self.needs),
                "inputs": dict(self.inputs), "noop": self.noop, "independent": self.independent}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedStep:
        return cls(key=data["key"], action=data["action"], title=data["title"], host=data.get("host"),
                   target=data.get("target", ""), phase=int(data.get("phase", 0)), lane=data.get("lane", ""),
                   needs=tuple(data.get("needs", ())), inputs=dict(data.get("inputs", {})),
                   noop=data.get("noop"), independent=bool(data.get("independent", False)))


class PlanError(ValueError):
    """A plan that cannot be applied (duplicate keys, a need on an unknown or later step)."""


@dataclass(frozen=True)
class Plan:
    command: str
    steps: tuple[PlannedStep, ...]
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: dict[str, PlannedStep] = {}
        for step in self.steps:
            if step.key in seen:
                raise PlanError(f"two steps have the key {step.key!r}")
            for need in step.needs:
                earlier = seen.get(need)
                if earlier is None:
                    raise PlanError(f"step {step.key!r} needs {need!r}, which is not an earlier step")
                if earlier.phase > step.phase:
                    raise PlanError(f"step {step.key!r} needs {need!r} of a later phase")
            seen[step.key] = step

    def step(self, key: str) -> PlannedStep:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def phases(self) -> list[list[list[PlannedStep]]]:
        """Phases in order; in each, its lanes in order of first appearance; in each lane, its steps."""
        by_phase: dict[int, dict[str, list[PlannedStep]]] = {}
        for step in self.steps:
            by_phase.setdefault(step.phase, {}).setdefault(step.lane_name, []).append(step)
        return [list(by_phase[phase].values()) for phase in sorted(by_phase)]

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "inputs": dict(self.inputs), "steps": [s.as_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(command=data["command"], steps=tuple(PlannedStep.from_dict(s) for s in data["steps"]),
                   inputs=dict(data.get("inputs", {})))


def run_status(statuses: list[str]) -> RunStatus:
    """How a run ended, from its steps: interrupted if one was; ok/warning when nothing failed; partial
    when something failed beside steps that did work; failed when nothing but no-ops succeeded."""
    if "interrupted" in statuses or "running" in statuses or "pending" in statuses:
        return "interrupted"
    failed = [s for s in statuses if s in ("failed", "skipped")]
    if not failed:
        return "warning" if "warning" in statuses else "ok"
    worked = [s for s in statuses if s in ("ok", "changed", "warning")]
    return "partial" if worked else "failed"
