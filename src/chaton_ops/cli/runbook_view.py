"""How runbooks show up: the plan, progress while they run, the final report (failover, failback).

Progress comes from the engine as events: on a terminal a live line for the step running and one
line per step ended; elsewhere (cron, a log) one plain line per step ended on stderr; nothing with
-q or --json.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from chaton_ops.cli.context import GlobalOptions
from chaton_ops.cli.output import escape, print_line, print_table, stderr
from chaton_ops.core.failover import SERVICE_OVERHEAD_SECONDS, FailoverPlan, format_duration
from chaton_ops.core.runbook import Plan
from chaton_ops.core.units import format_bytes
from chaton_ops.ops.engine import StepEvent

MARKS = {"ok": "✓", "changed": "✓", "noop": "·", "warning": "!", "failed": "✗", "skipped": "-", "interrupted": "✗"}


class RunbookProgress:
    """Renders engine events; a context manager around the run."""

    def __init__(self, opts: GlobalOptions) -> None:
        self.enabled = not opts.quiet and not opts.json
        self.live = self.enabled and stderr().is_terminal
        self.display: Any = None
        self.task: Any = None
        self._starting = threading.Lock()  # events come from every lane's thread: one display only

    def __enter__(self) -> RunbookProgress:
        return self

    def _start(self) -> None:
        # on the run's first event, not on entering: the plan and its question come before the run
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        display = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                           console=stderr(), transient=True)
        display.__enter__()
        self.task = display.add_task("preparing", total=None)
        # published last: the other lanes' threads read `display` without the lock, then use `task`
        self.display = display

    def __exit__(self, *exc_info: object) -> None:
        if self.display is not None:
            self.display.__exit__(*exc_info)

    def __call__(self, event: StepEvent) -> None:
        if not self.enabled:
            return
        if self.live and self.display is None:
            with self._starting:
                if self.display is None:
                    self._start()
        if event.kind in ("start", "progress"):
            if self.display is not None:
                self.display.update(self.task, description=escape(event.text or event.step.title))
            return
        result = event.result
        assert result is not None
        if result.status == "noop" and event.step.noop is not None:
            return  # planned no-ops were shown with the plan
        mark = MARKS.get(result.status, "?")
        took = f" ({result.duration:.1f} s)" if result.duration >= 0.1 else ""
        detail = f" — {result.message}" if result.message else ""
        line = f"{mark} {event.step.title}{took}{detail}"
        if self.display is not None:
            colour = {"✗": "red", "!": "yellow", "-": "yellow"}.get(mark)
            text = escape(line)
            self.display.console.print(f"[{colour}]{text}[/{colour}]" if colour else text, highlight=False,
                                       soft_wrap=True)
        else:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def print_failover_plan(prepared: FailoverPlan, *, show_steps: bool) -> None:
    inputs = prepared.plan.inputs
    title = "Rehearsal on" if inputs.get("rehearse") else "Failover to"
    count = len(prepared.estimates)
    print_table(f"{title} {inputs['to']}: {count} service{'s' if count != 1 else ''}, "
                f"{format_bytes(prepared.total_bytes)}, about {format_duration(prepared.estimated_seconds)}",
                ["service", "from", "answers", "snapshot", "data lost", "size", "estimate"],
                [[e.service, e.source, e.source_answers, e.snapshot.id[:8] if e.snapshot else "-",
                  "none (final backup)" if e.data_age_seconds == 0 else format_duration(e.data_age_seconds),
                  format_bytes(e.bytes), format_duration(e.seconds)] for e in prepared.estimates])
    how = "measured by restores and drills" if prepared.speed_measured else "assumed: none measured yet"
    print_line(f"estimate: {prepared.speed / 1e6:.0f} MB/s ({how}) + {SERVICE_OVERHEAD_SECONDS:.0f} s a service")
    if show_steps:
        print_plan_steps(prepared.plan)


def print_failback_plan(plan: Plan, *, show_steps: bool) -> None:
    services = plan.inputs.get("services", [])
    rows = []
    for name in services:
        restore = next(s for s in plan.steps if s.key.startswith(f"restore:{name}@"))
        backup = next(s for s in plan.steps if s.key.startswith(f"final-backup:{name}@"))
        dns = plan.step(f"dns:{name}")
        rows.append([name, backup.host, restore.host, "records of failover run "
                     f"{dns.inputs.get('failover_run')}" if dns.noop is None else dns.noop])
    print_table(f"Failback: {len(services)} service{'s' if len(services) != 1 else ''}",
                ["service", "from", "home", "DNS back to"], rows)
    if show_steps:
        print_plan_steps(plan)


def print_plan_steps(plan: Plan) -> None:
    print_table("Steps", ["#", "step", "on", "note"],
                [[index, step.title, step.host or "-", f"skip: {step.noop}" if step.noop else "-"]
                 for index, step in enumerate(plan.steps, start=1)])


def print_report(report: Any, *, rehearsal: bool) -> None:
    columns = ["service", "snapshot", "data age", "took", "local check"]
    columns += ["undo"] if rehearsal else ["DNS", "outside", "result"]
    rows = []
    for o in report.services:
        row = [o.service, (o.snapshot or "-")[:8], format_duration(o.data_age_seconds), format_duration(o.duration),
               o.local_check]
        row += [o.undo] if rehearsal else [o.dns, o.outside_check, o.result]
        rows.append(row)
    run = report.run
    rto = f"; RTO {format_duration(report.rto_seconds)}" if report.rto_seconds is not None else ""
    print_table(f"{run.command} run {run.run_id}: {run.status}{rto}", columns, rows)


def report_as_json(report: Any) -> dict[str, Any]:
    from chaton_ops.cli.plan_view import runbook_json

    run = report.run
    return {
        "run_id": run.run_id, "command": run.command, "status": run.status, "exit_code": int(run.exit_code),
        "rto_seconds": None if report.rto_seconds is None else round(report.rto_seconds, 1),
        "services": [o.__dict__ for o in report.services],
        "steps": [{"key": r.step.key, "title": r.step.title, "host": r.step.host, "status": r.status,
                   "message": r.message, "duration": round(r.duration, 3), "outputs": dict(r.outputs),
                   "earlier": r.earlier} for r in run.steps],
        **runbook_json(run.summary()),
    }
