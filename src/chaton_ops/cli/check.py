"""`chaton check`: repository integrity, freshness of each service's newest snapshot, free space."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from chaton_ops.cli.context import options
from chaton_ops.cli.output import escape, print_json, print_table, stderr


def check(
    ctx: typer.Context,
    repositories: Annotated[list[str] | None, typer.Argument(metavar="REPO", show_default=False,
                                                             help="Repositories (default: all).")] = None,
    read_data_subset: Annotated[str | None, typer.Option(
        "--read-data-subset", metavar="P", help="Also read this part of the data (restic syntax: 5%, 1/10, 500M).")] = None,
    no_integrity: Annotated[bool, typer.Option("--no-integrity", help="Skip `restic check` (freshness and space only).")] = False,
    via: Annotated[str | None, typer.Option("--via", metavar="HOST", help="Host that runs restic.")] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", metavar="SECONDS", min=0,
                                             help="Wait that long for a backup running on the repository.")] = 0.0,
) -> None:
    """Check repositories: `restic check`, freshness (max_age_hours) and free space. Exit 1 on any problem."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.repository_lock import repository_locks
    from chaton_ops.core.backup import format_bytes
    from chaton_ops.ops.check import check_repositories, select_repositories

    opts = options(ctx)
    loaded = opts.load()
    names = select_repositories(loaded.inventory, repositories or [])
    journal = Journal(default_journal_path())
    with closing(journal), repository_locks(names if not no_integrity else [], wait=lock_wait):
        flags = [f"--read-data-subset={read_data_subset}"] if read_data_subset else []
        run_id = journal.start_run("check", [*names, *flags, *(["--no-integrity"] if no_integrity else [])])
        try:
            with HostPool(loaded) as pool:
                report = check_repositories(loaded, pool.transport, repositories=names,
                                            read_data_subset=read_data_subset, integrity=not no_integrity,
                                            jobs=loaded.inventory.defaults.jobs, via=via)
        except BaseException:
            journal.finish_run(run_id, "failed", 1)
            raise
        now = report.checked_at
        for repo in report.repositories:
            journal.record_step(run_id, repo.repository, "check", "ok" if repo.integrity == "ok" else "failed",
                                {"integrity": repo.integrity, "error": repo.error, "space_problem": repo.space_problem,
                                 "free_percent": round(repo.space.free_percent, 2) if repo.space else None})
            for verdict in repo.freshness:
                age = verdict.age_hours(now)
                journal.record_step(run_id, f"{verdict.service}@{repo.repository}", "freshness",
                                    "failed" if verdict.is_stale(now) else "ok",
                                    {"newest": verdict.newest, "age_hours": round(age, 2) if age is not None else None,
                                     "max_age_hours": verdict.max_age_hours})
        journal.finish_run(run_id, "ok" if report.exit_code == 0 else "failed", int(report.exit_code))
    if opts.json:
        print_json({"ok": report.exit_code == 0, "checked_at": now.isoformat(), "repositories": [
            {"repository": r.repository, "via": r.host, "integrity": r.integrity, "error": r.error,
             "free_percent": round(r.space.free_percent, 2) if r.space else None,
             "available_bytes": r.space.available_bytes if r.space else None, "space_problem": r.space_problem,
             "services": [{"service": f.service, "newest": f.newest.isoformat() if f.newest else None,
                           "age_hours": round(f.age_hours(now) or 0, 2) if f.newest else None,
                           "max_age_hours": f.max_age_hours, "stale": f.is_stale(now)} for f in r.freshness]}
            for r in report.repositories]})
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
    for r in report.repositories:
        problems = [p for p in (r.error, r.space_problem, r.integrity if r.integrity.startswith("failed:") else None) if p]
        problems += [f"{f.service}: " + (f"newest snapshot is {f.age_hours(now):.1f} h old (max {f.max_age_hours:g} h)"
                                         if f.newest else "no snapshot") for f in r.stale(now)]
        for problem in problems:
            stderr().print(f"[red]problem:[/red] {escape(r.repository)}: {escape(problem)}", markup=True,
                         highlight=False, soft_wrap=True)
    if report.exit_code:
        raise typer.Exit(int(report.exit_code))
