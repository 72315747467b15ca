"""`chaton check`: repository integrity, freshness of each service's newest snapshot, free space."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import escape, print_json, print_table, stderr, stdout, warn


def check(
    ctx: typer.Context,
    repositories: Annotated[list[str] | None, typer.Argument(metavar="REPO", show_default=False,
                                                             help="Repositories (default: all).")] = None,
    read_data_subset: Annotated[str | None, typer.Option(
        "--read-data-subset", metavar="P", help="Also read this part of the data (restic syntax: 5%, 1/10, 500M).")] = None,
    no_integrity: Annotated[bool, typer.Option("--no-integrity", help="Skip `restic check` (freshness and space only).")] = False,
    via: Annotated[str | None, typer.Option("--via", metavar="HOST", help="Host that runs restic.")] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", metavar="SECONDS", min=0,
                                             help="Wait that long for another run on the repository (chaton's lock, then restic's).")] = 0.0,
) -> None:
    """Check repositories: `restic check`, freshness (max_age_hours) and free space.

    Exit 0 all good, 1 a problem (each one printed), 3 some repositories good and some not, 4 none reached."""
    from chaton_ops.core.units import format_bytes
    from chaton_ops.ops.check import plan_check

    opts = global_options(ctx)
    loaded = opts.load()
    # every usage error before a lock file, a journal run or restic
    plan = plan_check(loaded.inventory, repositories or [], via=via, read_data_subset=read_data_subset,
                      integrity=not no_integrity)
    if opts.dry_run:
        _print_plan(plan, opts.json)
        return
    from chaton_ops.cli.plan_view import runbook_json
    from chaton_ops.ops.check_run import check as run_check

    report = run_check(loaded, plan, warn=warn, lock_wait=lock_wait)
    now = report.checked_at
    if opts.json:
        print_json({"ok": report.exit_code == 0, "checked_at": now.isoformat(), "repositories": [
            {"repository": r.repository, "via": r.host, "integrity": r.integrity, "error": r.error,
             "free_percent": round(r.space.free_percent, 2) if r.space else None,
             "available_bytes": r.space.available_bytes if r.space else None, "space_problem": r.space_problem,
             "problems": r.problems(now),
             "services": [{"service": f.service, "newest": f.newest.isoformat() if f.newest else None,
                           "age_hours": round(f.age_hours(now) or 0, 2) if f.newest else None,
                           "max_age_hours": f.max_age_hours, "stale": f.is_stale(now)} for f in r.freshness]}
            for r in report.repositories], **runbook_json(report.runbook)})
    elif not opts.quiet:
        print_table("Repositories", ["repository", "via", "integrity", "free", "result"],
                    [[r.repository, r.host, r.integrity if not r.error else "-",
                      f"{r.space.free_percent:.1f} % ({format_bytes(r.space.available_bytes)})" if r.space else "unknown",
                      "ok" if r.healthy(now) else "PROBLEM"] for r in report.repositories])
        print_table("Freshness", ["service", "repository", "newest snapshot", "age", "max age", "result"],
                    [[f.service, f.repository, f.newest.astimezone().strftime("%Y-%m-%d %H:%M") if f.newest else "none",
                      f"{f.age_hours(now):.1f} h" if f.newest else "-", f"{f.max_age_hours:g} h",
                      "stale" if f.is_stale(now) else "ok"]
                     for r in report.repositories for f in r.freshness])
    # the same list the exit code is counted from: a failing check always says why, even with -q or --json
    for r in report.repositories:
        for problem in r.problems(now):
            stderr().print(f"[red]problem:[/red] {escape(r.repository)}: {escape(problem)}", markup=True,
                           highlight=False, soft_wrap=True)
    if report.exit_code:
        raise typer.Exit(int(report.exit_code))


def _print_plan(plan, as_json: bool) -> None:
    """The exact argv each repository's host would run (the host's restic binary), nothing run."""
    rows = [{"repository": t.repository, "via": t.host, "argv": list(t.argv) if plan.integrity else None}
            for t in plan.targets]
    if as_json:
        print_json({"dry_run": True, "integrity": plan.integrity, "repositories": rows})
        return
    print_table("Check plan", ["repository", "via", "command"],
                [[r["repository"], r["via"], shlex.join(r["argv"]) if r["argv"] else "(no restic check)"]
                 for r in rows])
    stdout().print("dry run: nothing was run", highlight=False)
