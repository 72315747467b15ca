"""Plans of the runbook engine and the runs that applied them, as tables (80 columns) or JSON; and the
one way a changing command goes: plan shown → confirmed (cli/confirm.py) → applied with progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chaton_ops.cli.output import print_json, print_table, stderr, stdout

if TYPE_CHECKING:
    from chaton_ops.cli.context import GlobalOptions
    from chaton_ops.core.run_report import RunSummary
    from chaton_ops.core.runbook import Plan
    from chaton_ops.ops.engine import RunResult, StepEvent

Detail = Callable[[Mapping[str, Any]], str]


def plan_as_json(plan: Plan) -> dict[str, Any]:
    return {"command": plan.command, "inputs": dict(plan.inputs),
            "steps": [{"key": s.key, "action": s.action, "title": s.title, "host": s.host, "target": s.target,
                       "noop": s.noop, "inputs": dict(s.inputs)} for s in plan.steps]}


def print_plan(plan: Plan, title: str, *, detail: Callable[[Any], str] | None = None) -> None:
    """The steps; an `on` column when steps run on hosts, a `what` column when there is something to say."""
    hosts = any(step.host for step in plan.steps)
    columns = ["step", *(["on"] if hosts else []), "what"]
    rows = [[step.title, *([step.host or "-"] if hosts else []),
             f"nothing to do: {step.noop}" if step.noop else (detail(step) if detail else "")]
            for step in plan.steps]
    if not any(row[-1] for row in rows):
        columns, rows = columns[:-1], [row[:-1] for row in rows]
    print_table(title, columns, rows)


def show_plan_and_confirm(opts: GlobalOptions, plan: Plan, title: str, question: str, *,
                          detail: Callable[[Any], str] | None = None) -> bool:
    """--dry-run: the plan (or its JSON) and False. Else the plan on a terminal, then the question
    (refused without a terminal unless --yes) and True."""
    import sys

    from chaton_ops.cli.confirm import confirm

    if opts.dry_run:
        if opts.json:
            print_json(plan_as_json(plan))
        else:
            print_plan(plan, title, detail=detail)
            stdout().print("dry run: nothing was changed", highlight=False)
        return False
    if not opts.quiet and not opts.json and sys.stdin.isatty():
        print_plan(plan, title, detail=detail)
    if all(step.noop is not None for step in plan.steps):
        return True  # nothing to confirm: every step is a no-op with its reason
    confirm(opts, question)
    return True


class Progress:
    """One line per step on stderr while a run goes (a terminal, not -q, not --json)."""

    def __init__(self, opts: GlobalOptions) -> None:
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal

    def __call__(self, event: StepEvent) -> None:
        if not self.enabled:
            return
        from chaton_ops.cli.output import escape

        if event.kind == "start":
            stderr().print(f"… {escape(event.step.title)}", highlight=False)
        elif event.kind == "progress":
            stderr().print(f"  {escape(event.text)}", highlight=False)


def run_as_json(result: RunResult, outputs: Callable[[Any], Mapping[str, Any]] | None = None) -> dict[str, Any]:
    data = {"run": result.run_id, "command": result.command, "status": result.status,
            "exit_code": int(result.exit_code), "duration": round(result.duration, 3),
            "steps": [{"key": r.step.key, "title": r.step.title, "host": r.step.host, "status": r.status,
                       "message": r.message, "outputs": dict(outputs(r) if outputs else r.outputs)}
                      for r in result.steps]}
    summary = result.summary()
    if outputs is not None:  # what a command leaves out of its steps' outputs, it leaves out of the runbook too
        from dataclasses import replace

        kept = {r.step.key: dict(outputs(r)) for r in result.steps}
        summary = replace(summary, steps=tuple(replace(s, outputs=kept[s.key or ""]) for s in summary.steps))
    return {**data, **runbook_json(summary)}


def runbook_json(summary: RunSummary | None) -> dict[str, Any]:
    """`{"runbook": …}`: the run in the one shape every command that changes something adds to its --json
    (and `history RUN --json` too: core/run_report.py); nothing when there was no run (a dry run)."""
    return {} if summary is None else {"runbook": summary.as_json()}


def print_run(result: RunResult, title: str, columns: list[str], row: Callable[[Any], list[Any]]) -> None:
    print_table(f"{title} (run {result.run_id}): {result.status}", columns, [row(r) for r in result.steps])
    for step in result.steps:
        if step.status in ("failed", "skipped") and step.message:
            colour = "red" if step.status == "failed" else "yellow"
            from chaton_ops.cli.output import escape

            stderr().print(f"[{colour}]{step.status}:[/{colour}] {escape(step.step.title)}: {escape(step.message)}",
                           markup=True, highlight=False, soft_wrap=True)
