"""`chaton restore SERVICE` and `chaton drill [SERVICE…|--all]`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaton_ops.cli.context import global_options as options
from chaton_ops.cli.output import escape, print_json, print_table, stderr, stdout

if TYPE_CHECKING:
    from chaton_ops.core.restore import RestorePlan
    from chaton_ops.ops.drill import DrillResult
    from chaton_ops.ops.restore import RestoreReport


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
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.ops.restore import check_service_and_host, current_host, prepare_restore, run_restore

    opts = options(ctx)
    loaded = opts.load()
    check_service_and_host(loaded, service, to)
    with HostPool(loaded) as pool:
        pool.connect_in_background([to or current_host(loaded, service)])
        if opts.dry_run:
            plan = prepare_restore(loaded, service, pool.transport, snapshot=snapshot, to=to, target=target,
                                   repository=repository).plan
            if opts.json:
                print_json(plan_as_json(plan))
            else:
                print_plan(plan)
                stdout().print("dry run: nothing was changed", highlight=False)
            return
        from chaton_ops.adapters.journal import Journal, default_journal_path

        journal = Journal(default_journal_path())
        try:
            with _Progress(opts, service) as progress:
                report = run_restore(loaded, service, pool.transport, snapshot=snapshot, to=to, target=target,
                                     repository=repository, confirm=lambda plan: _confirm(plan, opts),
                                     journal=journal, progress=progress)
        finally:
            journal.close()
    if opts.json:
        print_json(report_as_json(report))
    elif not opts.quiet:
        print_report(report)


def _confirm(plan: RestorePlan, opts: Any) -> bool:
    """The plan, then the question (cli/confirm.py: refused without a terminal unless --yes)."""
    from chaton_ops.cli.confirm import confirm

    if not opts.yes and sys.stdin.isatty():
        print_plan(plan)
    confirm(opts, f"Replace the live data of {plan.service} on {plan.host} (the previous content is kept aside)")
    return True


class _Progress:
    """A progress display on a terminal (stderr): a bar when restic reports progress (≥ 0.16), else a
    spinner with the elapsed time; nothing with --json, -q or without a terminal."""

    def __init__(self, opts: Any, label: str) -> None:
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.label = label
        self.display: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        return self.update if self.enabled else None

    def _start(self) -> None:
        # started by the first update, not on entering: a confirmation question comes before it
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.display = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                TextColumn("{task.fields[amount]}"), TimeElapsedColumn(), console=stderr(),
                                transient=True)
        self.display.__enter__()
        self.task = self.display.add_task(self.label, total=None, amount="")

    def update(self, stage: str, status: Any) -> None:
        from chaton_ops.core.units import format_bytes

        if self.display is None:
            self._start()
        if status is None:
            self.display.update(self.task, description=f"{self.label}: {stage}", total=None, amount="")
            return
        self.display.update(self.task, description=f"{self.label}: {stage}", total=max(status.total_bytes, 1),
                            completed=status.bytes_restored,
                            amount=f"{format_bytes(status.bytes_restored)} / {format_bytes(status.total_bytes)}")

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
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.core.selection import select_services
    from chaton_ops.ops.drill import drill_exit_code, run_drills

    opts = options(ctx)
    loaded = opts.load()
    names = select_services(loaded.inventory, services or [], all_services=all_services)
    if on is not None and on not in loaded.inventory.hosts:
        from chaton_ops.errors import UsageError

        raise UsageError(f"unknown host: {on} (known: {', '.join(sorted(loaded.inventory.hosts))})")
    if opts.dry_run:
        stdout().print(f"would drill: {', '.join(names)}", highlight=False)
        return
    journal = Journal(default_journal_path())
    run_id = journal.start_run("drill", [*names, *(["--on", on] if on else [])])
    try:
        with HostPool(loaded) as pool, _DrillProgress(opts) as progress:
            results = run_drills(loaded, names, pool.transport, on=on, journal=journal, run_id=run_id,
                                 progress=progress)
    except BaseException:
        journal.finish_run(run_id, "failed", 1)
        journal.close()
        raise
    code = drill_exit_code(results)
    journal.finish_run(run_id, "ok" if code == 0 else "failed", int(code))
    journal.close()
    if opts.json:
        print_json({"drills": [r.detail() | {"status": r.status, "age_seconds": r.age_seconds} for r in results],
                    "exit_code": int(code)})
    elif not opts.quiet or code:
        print_drills(results)
    for result in results:
        if result.error and not opts.json:
            stderr().print(f"[red]failed:[/red] {escape(result.service)} on {escape(result.host)}: "
                           f"{escape(result.error)}", highlight=False, soft_wrap=True)
    if code:
        raise typer.Exit(int(code))


class _DrillProgress:
    def __init__(self, opts: Any) -> None:
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.display: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.display = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                console=stderr(), transient=True)
        self.display.__enter__()
        return self.update

    def update(self, service: str, stage: str) -> None:
        task = self.tasks.get(service)
        if task is None:
            task = self.tasks[service] = self.display.add_task(service, total=None)
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
