"""`chaton backup SERVICE…|--all|--host H|--tenant T`: restic backups, database dumps, retention."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from chaton_ops.cli.context import options, require_writable
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
    from chaton_ops.core.backup import plan_backup, select_services

    opts = options(ctx)
    loaded = opts.load()
    inventory = loaded.inventory
    names = select_services(inventory, services or [], all_services=all_services, host=host, tenant=tenant)
    plan = plan_backup(inventory, names, retention=not no_retention)
    require_writable("--metrics-file", metrics_file)
    if opts.dry_run:
        _print_plan(plan, opts.json)
        return
    flags = [flag for flag, given in (("--init", init), ("--unlock", unlock), ("--no-retention", no_retention)) if given]
    report = _run(loaded, plan, opts, jobs or inventory.defaults.jobs, init, unlock, lock_wait, metrics_file,
                  journal_args=[*names, *flags])
    from chaton_ops.ops.backup import backup_exit_code

    code = backup_exit_code(report)
    if code:
        raise typer.Exit(int(code))


def _run(loaded, plan, opts, jobs, init, unlock, lock_wait, metrics_file, journal_args):
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.core.backup import hosts_to_contact

    # The SSH library loads and the handshakes run in the background while the rest is prepared
    # (imports, passwords, journal, locks): the connections are ready, or nearly, when needed.
    pool = HostPool(loaded)
    pool.connect_in_background(hosts_to_contact(loaded.inventory, plan))
    try:
        report = _run_with_pool(loaded, plan, opts, pool, jobs, init, unlock, lock_wait, journal_args)
    finally:
        pool.close_all()
    _deliver(loaded, report, metrics_file)
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
    return report


def _run_with_pool(loaded, plan, opts, pool, jobs, init, unlock, lock_wait, journal_args):
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.repository_lock import repository_locks
    from chaton_ops.ops.backup import (
        BackupOptions,
        Journaled,
        backup_exit_code,
        resolve_passwords,
        run_backup,
    )

    passwords = resolve_passwords(loaded, plan.repositories())
    options = BackupOptions(init=init, unlock=unlock, jobs=jobs, retention=bool(plan.retention), lock_wait=lock_wait)
    journal = Journal(default_journal_path())
    with repository_locks(plan.repositories(), wait=lock_wait):
        run_id = journal.start_run("backup", journal_args)
        _ping_start(loaded, [t.service for t in plan.targets])
        try:
            with _progress(opts) as progress:
                report = run_backup(loaded, plan, transports=pool.transport, options=options,
                                    journal=Journaled(journal, run_id), progress=progress, passwords=passwords)
        except BaseException:
            journal.finish_run(run_id, "failed", 1)
            raise
        journal.finish_run(run_id, report.status, int(backup_exit_code(report)))
    return report


def _ping_start(loaded, services):
    try:
        from chaton_ops.ops.notify import ping_start
    except ImportError:
        return
    for problem in ping_start(loaded, services):
        warn(problem)


def _deliver(loaded, report, metrics_file):
    """Notifications and metrics: problems with them are warnings, never a failed backup."""
    from chaton_ops.ops.notify import notify_run

    for problem in notify_run(loaded, report):
        warn(problem)
    if metrics_file is not None:
        from chaton_ops.adapters.metrics import write_textfile
        from chaton_ops.errors import PathError

        try:
            write_textfile(metrics_file, report)
        except PathError as failure:  # it changed during the run
            warn(f"metrics not written: {failure.message}")


class _progress:
    """A rich progress display on a terminal (stderr), nothing otherwise."""

    def __init__(self, opts) -> None:
        # asking rich whether stderr is a terminal would load rich (≈ 35 ms) for nothing with -q or --json
        self.enabled = not opts.quiet and not opts.json and stderr().is_terminal
        self.display = None
        self.tasks: dict[str, object] = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.display = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                console=stderr(), transient=True)
        self.display.__enter__()
        return self.update

    def update(self, target, stage: str) -> None:
        assert self.display is not None
        label = f"{target.service} on {target.host} → {target.repository}"
        task = self.tasks.get(target.label)
        if task is None:
            task = self.tasks[target.label] = self.display.add_task(label, total=None)
        self.display.update(task, description=f"{label}: {stage}")  # type: ignore[arg-type]

    def __exit__(self, *exc_info) -> None:
        if self.display is not None:
            self.display.__exit__(*exc_info)


def _print_plan(plan, as_json: bool) -> None:
    from chaton_ops.adapters.restic import build_backup_argv
    from chaton_ops.core.backup import dump_filename

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
    from chaton_ops.core.backup import format_bytes

    return format_bytes(value)


def summary_rows(report) -> list[list[object]]:
    return [[r.service, r.host, r.repository, (r.snapshot_id or "-")[:8],
             "-" if r.files_new is None else f"{r.files_new}/{r.files_changed}",
             _format_bytes(r.bytes_added), f"{r.duration:.1f} s",
             r.status] for r in report.results]


def report_as_json(report) -> dict[str, object]:
    from chaton_ops.ops.backup import backup_exit_code

    return {
        "command": report.command,
        "started": report.started.isoformat(),
        "ended": report.ended.isoformat(),
        "status": report.status,
        "exit_code": int(backup_exit_code(report)),
        "results": [
            {"service": r.service, "host": r.host, "repository": r.repository, "status": r.status,
             "message": r.message, "snapshot_id": r.snapshot_id, "bytes_added": r.bytes_added,
             "files_new": r.files_new, "files_changed": r.files_changed, "duration": round(r.duration, 3)}
            for r in report.results
        ],
    }
