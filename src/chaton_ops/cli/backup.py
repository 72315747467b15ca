"""`chaton backup SERVICE…|--all|--host H|--tenant T`: restic backups, database dumps, retention."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options, require_writable
from chaton_ops.cli.output import escape, print_json, print_table, stderr, stdout, warn


def backup(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(metavar="SERVICE", show_default=False,
                                                         help="Services to back up.")] = None,
    all_services: Annotated[bool, typer.Option("--all", help="Every service of the inventory.")] = False,
    host: Annotated[str | None, typer.Option("--host", metavar="HOST", help="Every service on HOST.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", metavar="TENANT",
                                               help="Every service of TENANT.")] = None,
    init: Annotated[bool, typer.Option("--init", help="Create a repository that does not exist yet.")] = False,
    unlock: Annotated[bool, typer.Option("--unlock", help="Remove stale restic locks that stop a backup.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, max=64,
                                             help="Hosts backed up at once (default: defaults.jobs).")] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", metavar="SECONDS", min=0,
                                             help="Wait that long for another run on the repository (chaton's lock, then "
                                                  "restic's); retention always waits up to 10 min.")] = 0.0,
    no_retention: Annotated[bool, typer.Option("--no-retention", help="Skip `forget` (retention) after the snapshots.")] = False,
    metrics_file: Annotated[Path | None, typer.Option("--metrics-file", metavar="PATH",
                                                      help="Write a Prometheus textfile there.")] = None,
) -> None:
    """Back up services with restic on their own hosts, dump their databases, then apply retention.

    Exit 0 all good, 1 nothing backed up, 3 partial (some failed, or a snapshot misses unreadable files),
    4 nothing backed up because the hosts could not be reached.
    """
    from chaton_ops.core.backup_plan import plan_backup
    from chaton_ops.core.selection import select_services
    from chaton_ops.ops.backup_run import BackupRequest, back_up

    opts = global_options(ctx)
    loaded = opts.load()
    inventory = loaded.inventory
    names = select_services(inventory, services or [], all_services=all_services, host=host, tenant=tenant)
    plan = plan_backup(inventory, names, retention=not no_retention)
    require_writable("--metrics-file", metrics_file)
    if opts.dry_run:
        _print_plan(plan, opts.json)
        return
    flags = [flag for flag, given in (("--init", init), ("--unlock", unlock), ("--no-retention", no_retention)) if given]
    request = BackupRequest(init=init, unlock=unlock, jobs=jobs or inventory.defaults.jobs, lock_wait=lock_wait,
                            retention=not no_retention, metrics_file=metrics_file, journal_args=(*names, *flags))
    with BackupProgress(opts) as progress:
        report = back_up(loaded, plan, request, on_event=progress, warn=warn)
    _print_report(report, opts)
    if report.exit_code:
        raise typer.Exit(int(report.exit_code))


def _print_report(report, opts) -> None:
    if opts.json:
        print_json(report_as_json(report))
    elif not opts.quiet:
        print_table("Backups", ["service", "host", "repository", "snapshot", "files new/changed", "data added",
                                "duration", "result"], summary_rows(report))
    for result in report.results:
        if result.status == "ok" and result.message and opts.verbose and not opts.json:
            stderr().print(f"{escape(result.service)} → {escape(result.repository or '-')}: {escape(result.message)}",
                           highlight=False, soft_wrap=True)
        elif result.status != "ok":
            colour = "red" if result.status == "failed" else "yellow"
            stderr().print(f"[{colour}]{result.status}:[/{colour}] {escape(result.service)} → "
                           f"{escape(result.repository or '-')}: {escape(result.message)}",
                           markup=True, highlight=False, soft_wrap=True)


class BackupProgress:
    """The backup's engine events as a rich progress display on a terminal (stderr), nothing otherwise:
    one line per service × repository with its current stage."""

    def __init__(self, opts) -> None:
        # asking rich whether stderr is a terminal would load rich (≈ 35 ms) for nothing with -q or --json
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.display: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> BackupProgress:
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.display = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                    console=stderr(), transient=True)
            self.display.__enter__()
        return self

    def __call__(self, event) -> None:
        step = event.step
        if self.display is None or step.action != "backup" or event.kind != "progress":
            return
        label = f"{step.inputs['service']} on {step.host} → {step.inputs['repository']}"
        task = self.tasks.get(step.key)
        if task is None:
            task = self.tasks[step.key] = self.display.add_task(escape(label), total=None)
        self.display.update(task, description=escape(f"{label}: {event.text}"))  # type: ignore[arg-type]

    def __exit__(self, *exc_info) -> None:
        if self.display is not None:
            self.display.__exit__(*exc_info)


def _print_plan(plan, as_json: bool) -> None:
    from chaton_ops.core.database import dump_filename
    from chaton_ops.core.restic import build_backup_argv

    rows = []
    for target in plan.targets:
        argv = build_backup_argv(target.restic, target.repository_url, paths=target.paths, host=target.host,
                                 tags=target.tags, excludes=target.excludes) if target.paths else []
        rows.append({"service": target.service, "host": target.host, "repository": target.repository,
                     "paths": list(target.paths), "databases": [dump_filename(d) for d in target.databases],
                     "command": shlex.join(argv)})
    retention = [{"repository": g.repository, "run on": g.host, "services": list(g.services),
                  "policy": shlex.join(g.keep_flags)} for g in plan.retention]
    if as_json:
        print_json({"backups": rows, "retention": retention})
        return
    print_table("Backup plan", ["service", "host", "repository", "paths", "databases"],
                [[r["service"], r["host"], r["repository"], r["paths"], r["databases"]] for r in rows])
    for row in rows:  # the exact command each host would run for the data, whole (never folded)
        if row["command"]:
            stdout().print(f"{row['host']}: {row['command']}", markup=False, highlight=False, soft_wrap=True)
    if retention:
        print_table("Retention (forget, per service tag; prune: chaton prune)", ["repository", "run on", "services", "policy"],
                    [[r["repository"], r["run on"], r["services"], r["policy"]] for r in retention])
    stdout().print("dry run: nothing was changed", highlight=False)


def _format_bytes(value):
    from chaton_ops.core.units import format_bytes

    return format_bytes(value)


def summary_rows(report) -> list[list[object]]:
    return [[r.service, r.host, r.repository, (r.snapshot_id or "-")[:8],
             "-" if r.files_new is None else f"{r.files_new}/{r.files_changed}",
             _format_bytes(r.bytes_added), f"{r.duration:.1f} s",
             r.status] for r in report.results]


def report_as_json(report) -> dict[str, object]:
    from chaton_ops.cli.plan_view import runbook_json

    return {
        "command": report.command,
        "started": report.started.isoformat(),
        "ended": report.ended.isoformat(),
        "status": report.status,
        "exit_code": int(report.exit_code),
        "results": [
            {"service": r.service, "host": r.host, "repository": r.repository, "status": r.status,
             "message": r.message, "snapshot_id": r.snapshot_id, "bytes_added": r.bytes_added,
             "files_new": r.files_new, "files_changed": r.files_changed, "duration": round(r.duration, 3)}
            for r in report.results
        ],
        **runbook_json(report.runbook),
    }
