"""`chaton restore SERVICE` and `chaton drill [SERVICE…|--all]`."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import escape, print_json, print_table, stderr, stdout, warn

if TYPE_CHECKING:
    from chaton_ops.core.restore import RestorePlan
    from chaton_ops.ops.drill import DrillResult
    from chaton_ops.ops.engine import StepEvent
    from chaton_ops.ops.restore import RestoreReport
    from chaton_ops.ops.restore_run import PlannedRestore


def restore(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service whose data is restored.")],
    snapshot: Annotated[str, typer.Option("--snapshot", metavar="ID|latest",
                                          help="Snapshot id (or a prefix of it); default: the newest.")] = "latest",
    to: Annotated[str | None, typer.Option("--to", metavar="HOST",
                                           help="Restore on HOST (default: where the service runs).")] = None,
    target: Annotated[str | None, typer.Option("--target", metavar="DIR",
                                               help="Restore under DIR for inspection: nothing swapped, stopped "
                                                    "or loaded.")] = None,
    repository: Annotated[str | None, typer.Option("--repository", metavar="REPO",
                                                   help="Repository (default: the service's first).")] = None,
) -> None:
    """Restore a service's snapshot exactly: each path ends equal to the snapshot, the previous content
    kept aside; databases loaded; --dry-run prints the plan.

    Exit 0 restored, 1 failed or refused (nothing changed, or the message says what is where),
    2 usage (unknown service, host or snapshot), 4 host or repository unreachable.
    """
    from chaton_ops.ops.restore_run import RestoreRequest, restore_service

    opts = global_options(ctx)
    request = RestoreRequest(service, snapshot, to, target, repository, dry_run=opts.dry_run)
    with _RestoreProgress(opts, service) as progress:
        done = restore_service(opts.load(), request, confirm=lambda planned: _confirm(planned, opts),
                               on_event=progress, warn=warn)
    if done.report is None:  # dry run
        if opts.json:
            print_json(planned_as_json(done.planned))
        else:
            print_planned(done.planned, "Runbook: restore (dry run)")
            stdout().print("dry run: nothing was changed", highlight=False)
    elif opts.json:
        from chaton_ops.cli.plan_view import runbook_json

        print_json({**report_as_json(done.report), **runbook_json(done.run.summary() if done.run else None)})
    elif not opts.quiet:
        print_report(done.report)


def _confirm(planned: PlannedRestore, opts: Any) -> bool:
    """The plan, then the question (cli/confirm.py: refused without a terminal unless --yes)."""
    from chaton_ops.cli.confirm import confirm

    if not opts.yes and sys.stdin.isatty():
        print_planned(planned, "Runbook: restore")
    plan = planned.plan
    confirm(opts, f"Replace the live data of {plan.service} on {plan.host} (the previous content is kept aside)")
    return True


class _RestoreProgress:
    """The restore's engine events on a terminal (stderr): a bar when restic reports progress (≥ 0.16),
    else a spinner with the elapsed time; nothing with --json, -q or without a terminal."""

    def __init__(self, opts: Any, label: str) -> None:
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.label = label
        self.display: Any = None
        self.task: Any = None

    def __enter__(self) -> _RestoreProgress:
        return self

    def _start(self) -> None:
        # started by the first event, not on entering: the plan and its question come before it
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.display = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                TextColumn("{task.fields[amount]}"), TimeElapsedColumn(), console=stderr(),
                                transient=True)
        self.display.__enter__()
        self.task = self.display.add_task(self.label, total=None, amount="")

    def __call__(self, event: StepEvent) -> None:
        from chaton_ops.core.units import format_bytes

        if not self.enabled or event.kind != "progress":
            return
        if self.display is None:
            self._start()
        description = f"{self.label}: {event.text}"
        if event.done is None or event.total is None:
            self.display.update(self.task, description=description, total=None, amount="")
            return
        self.display.update(self.task, description=description, total=max(event.total, 1), completed=event.done,
                            amount=f"{format_bytes(event.done)} / {format_bytes(event.total)}")

    def __exit__(self, *exc_info: Any) -> None:
        if self.display is not None:
            self.display.__exit__(*exc_info)


# ------------------------------------------------------------------------------------- rendering
def _size(value: int | None) -> str:
    from chaton_ops.core.units import format_bytes

    return format_bytes(value)


def _snapshot_line(plan: RestorePlan) -> str:
    from chaton_ops.core.restore import describe_age

    snap = plan.snapshot
    if snap is None:
        return f"{plan.service}: no data snapshot (databases only), repository {plan.repository}"
    when = snap.time.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"snapshot {snap.short_id} of {plan.service}, {when} ({describe_age(plan.snapshot_age_seconds)} ago) "
            f"from {snap.hostname}\nrepository {plan.repository}: {plan.total_entries} entries, "
            f"{_size(plan.total_bytes)}")


def print_planned(planned: PlannedRestore, title: str) -> None:
    """The runbook (the engine's plan that runs), then the restore's own plan."""
    from chaton_ops.cli.plan_view import print_plan as print_runbook
    from chaton_ops.ops.restore_run import describe_step

    print_runbook(planned.runbook, title, detail=describe_step)
    stdout().print()
    print_plan(planned.plan)


def planned_as_json(planned: PlannedRestore) -> dict[str, Any]:
    """The restore plan's keys (as they always were) and the runbook's steps under `runbook_plan` (as the
    vm commands: a restore's report has its own `plan`)."""
    from chaton_ops.cli.plan_view import plan_as_json as runbook_as_json

    return {**plan_as_json(planned.plan), "runbook_plan": runbook_as_json(planned.runbook)}


def print_plan(plan: RestorePlan) -> None:
    out = stdout()
    where = {"in-place": f"in place on {plan.host}", "target": f"under {plan.root} on {plan.host} (inspection)",
             "drill": f"into scratch on {plan.host}"}[plan.mode]
    out.print(f"restore {escape(plan.service)} {escape(where)} — restic {plan.restic_version}", highlight=False)
    out.print(escape(_snapshot_line(plan)), highlight=False, soft_wrap=True)
    actions = {"swap": "stage, verify, swap", "create": "stage, verify, create", "write": "write, verify",
               "load": "load, swap", "file": "dump file", "scratch": "load, query, drop"}
    rows: list[list[object]] = []
    for item in plan.paths:
        rows.append([item.destination, actions[item.action], item.entries, _size(item.bytes), "-"])
    for db in plan.databases:
        rows.append([f"{db.engine}:{db.name}", actions[db.action], "-", "-", db.snapshot_id[:8]])
    print_table("Plan", ["what", "action", "entries", "size", "dump"], rows)
    for staging in sorted({item.staging for item in plan.paths if item.staging}):
        out.print(f"staged in: {escape(staging)} (same filesystem; swapped in once verified)", highlight=False,
                  soft_wrap=True)
    for db in plan.databases:
        if db.action == "load":
            out.print(f"loaded into: {escape(db.staging_name or '-')} (renamed {escape(db.name)} once loaded)",
                      highlight=False, soft_wrap=True)
    for place in plan.kept_aside:
        out.print(f"kept aside: {escape(place)}", highlight=False, soft_wrap=True)
    for need in plan.space:
        verdict = "enough" if need.enough else "NOT ENOUGH"
        out.print(f"free space on {escape(need.filesystem)}: {_size(need.free_bytes)} for {_size(need.needed_bytes)} "
                  f"needed — {verdict}", highlight=False)
    for label, steps in (("stop first", plan.stop), ("start after", plan.start), ("after restore", plan.after_restore)):
        if steps:
            out.print(f"{label}: {escape(', '.join(steps))}", highlight=False)
    for noop in plan.noops:
        out.print(f"left alone: {escape(noop.what)} — {escape(noop.reason)}", highlight=False, soft_wrap=True)
    if plan.live:
        out.print("this replaces the service's live data: it asks for confirmation (or --yes)", highlight=False)
    for refusal in plan.refusals:
        out.print(f"[red]refused:[/red] {escape(refusal)}", highlight=False, soft_wrap=True)


def plan_as_json(plan: RestorePlan) -> dict[str, Any]:
    data = plan.model_dump(mode="json")
    data["space"] = [{**need, "enough": plan.space[i].enough} for i, need in enumerate(data["space"])]
    data["kept_aside"] = plan.kept_aside
    return data


def print_report(report: RestoreReport) -> None:
    from chaton_ops.ops.restore_steps import megabytes_per_second

    plan = report.plan
    rows: list[list[object]] = []
    for destination, state in report.state_of_paths():
        item = next(p for p in plan.paths if p.destination == destination)
        rows.append([destination, state, item.entries, _size(item.bytes)])
    for db in report.databases:
        rows.append([f"{db.engine}:{db.name}", f"loaded: {db.tables} tables", "-", "-"])
    for written in report.dump_files:
        rows.append([written, "dump written", "-", "-"])
    print_table(f"Restore of {plan.service} on {plan.host}", ["what", "result", "entries", "size"], rows)
    out = stdout()
    out.print(escape(_snapshot_line(plan)), highlight=False, soft_wrap=True)
    seconds = report.restore_seconds
    out.print(f"restic restore: {_size(report.bytes)} in {seconds:.1f} s "
              f"({megabytes_per_second(report.bytes, seconds)} MB/s), verified: {'yes' if report.verified else 'no'}; "
              f"all done in {report.duration:.1f} s", highlight=False)
    places = [s.kept_aside for s in report.swaps if s.kept_aside]
    places += [f"{d.engine} database {d.kept_aside}" for d in report.databases if d.kept_aside]
    for place in places:
        out.print(f"kept aside: {escape(place)}", highlight=False, soft_wrap=True)
    if places:
        out.print("(the previous content: remove it when you no longer need it)", highlight=False)


def report_as_json(report: RestoreReport) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "plan": plan_as_json(report.plan),
        "status": report.status,
        "paths": [{"path": path, "state": state} for path, state in report.state_of_paths()],
        "copies": [copy.detail() for copy in report.copies],
        "verifications": [v.detail() for v in report.verifications],
        "swaps": [asdict(s) for s in report.swaps],
        "databases": [d.detail() for d in report.databases],
        "bytes": report.bytes,
        "restore_seconds": round(report.restore_seconds, 3),
        "duration": round(report.duration, 3),
        "verified": report.verified,
    }


# ------------------------------------------------------------------------------------------- drill
def drill(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(metavar="SERVICE", show_default=False,
                                                         help="Services to drill.")] = None,
    all_services: Annotated[bool, typer.Option("--all", help="Every service with a snapshot to drill.")] = False,
    on: Annotated[str | None, typer.Option("--on", metavar="HOST",
                                           help="Host to restore on (default: each service's fallback, else its "
                                                "host).")] = None,
) -> None:
    """Restore rehearsal: the latest snapshot into scratch, verified, databases loaded and queried, speed
    measured, scratch removed, result journaled. Exit 1 when a drill fails."""
    from chaton_ops.ops.drill_run import DrillRequest, drill_services

    opts = global_options(ctx)
    request = DrillRequest(tuple(services or ()), all_services, on, dry_run=opts.dry_run)
    with _DrillProgress(opts) as progress:
        drills = drill_services(opts.load(), request, on_event=progress, warn=warn)
    if drills.run is None:  # dry run
        from chaton_ops.cli.plan_view import plan_as_json, print_plan

        if opts.json:
            print_json({"plan": plan_as_json(drills.plan)})
        else:
            print_plan(drills.plan, "Runbook: drill (dry run)",
                       detail=lambda step: f"latest snapshot in {step.inputs['repository']}")
            stdout().print("dry run: nothing was changed", highlight=False)
        return
    results, code = list(drills.results), drills.exit_code
    if opts.json:
        from chaton_ops.cli.plan_view import runbook_json

        print_json({"drills": [r.detail() | {"status": r.status, "age_seconds": r.age_seconds} for r in results],
                    "exit_code": int(code), **runbook_json(drills.run.summary())})
    elif not opts.quiet or code:
        print_drills(results)
    for result in results:
        if result.error and not opts.json:
            stderr().print(f"[red]failed:[/red] {escape(result.service)} on {escape(result.host)}: "
                           f"{escape(result.error)}", highlight=False, soft_wrap=True)
    if code:
        raise typer.Exit(int(code))


class _DrillProgress:
    """The drills' engine events on a terminal (stderr): a spinner per service with its stage."""

    def __init__(self, opts: Any) -> None:
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.display: Any = None
        self.tasks: dict[str, Any] = {}
        self._starting = threading.Lock()  # each service's drill runs in its own lane: one display only

    def __enter__(self) -> _DrillProgress:
        return self

    def _start(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        display = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                           console=stderr(), transient=True)
        display.__enter__()
        self.display = display  # published once started: the other lanes read it without the lock

    def __call__(self, event: StepEvent) -> None:
        if not self.enabled:
            return
        if self.display is None:
            with self._starting:
                if self.display is None:
                    self._start()
        service = event.step.target
        task = self.tasks.get(service)
        if task is None:
            task = self.tasks[service] = self.display.add_task(service, total=None)
        stage = event.text
        if event.kind == "start":
            stage = "starting"
        elif event.result is not None:
            stage = f"{event.result.status} ({event.result.duration:.1f} s)"
        self.display.update(task, description=f"drill {service}: {stage}")

    def __exit__(self, *exc_info: Any) -> None:
        if self.display is not None:
            self.display.__exit__(*exc_info)


def print_drills(results: list[DrillResult]) -> None:
    from chaton_ops.core.restore import describe_age

    rows = []
    for r in results:
        dbs = f" +{len(r.databases)} db" if r.databases else ""
        rows.append([r.service, r.snapshot.short_id if r.snapshot else "-", describe_age(r.age_seconds),
                     f"{r.files}{dbs}", _size(r.bytes), f"{r.duration:.1f} s", f"{r.mb_per_second:.1f}",
                     r.verified, r.status])
    print_table("Drills", ["service", "snapshot", "age", "files", "size", "duration", "MB/s", "verified", "result"],
                rows)
