"""`chaton repo init|unlock`: create a repository, remove stale restic locks."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import error, print_json, print_table, stdout, warn

app = typer.Typer(help="Create repositories and remove stale restic locks.", no_args_is_help=True)

Via = Annotated[str | None, typer.Option("--via", metavar="HOST",
                                         help="Host that runs restic (default: a host backing up there).")]


def _targets(ctx: typer.Context, repository: str | None, via: str | None):
    """The (repository, host) pairs, every name checked before anything runs."""
    from chaton_ops.ops.check import select_repositories
    from chaton_ops.ops.repository import access_host

    loaded = global_options(ctx).load()
    names = select_repositories(loaded.inventory, [repository] if repository else [])
    return loaded, [(name, access_host(loaded.inventory, name, via)) for name in names]


@app.command("init")
def init(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    via: Via = None,
) -> None:
    """Create the repository (nothing happens to one that exists)."""
    from chaton_ops.ops.repository_run import initialise, repository_command

    opts = global_options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    results = repository_command(loaded, "init", targets, initialise(opts.dry_run), dry_run=opts.dry_run,
                                 args=[name for name, _ in targets], warn=warn)
    _print_results(ctx, results, lambda r: f"{r['repository']}: {'created' if r['created'] else 'already exists'} "
                                           f"(via {r['via']})")


@app.command("unlock")
def unlock(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    remove_all: Annotated[bool, typer.Option("--remove-all", help="Also remove the locks of running processes "
                                                                  "(asks first; --yes to skip the question).")] = False,
    via: Via = None,
) -> None:
    """Remove stale restic locks (left by a process that died); the locks of running processes stay."""
    from chaton_ops.cli.confirm import confirm
    from chaton_ops.ops.repository_run import repository_command, unlock

    opts = global_options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    if remove_all:
        confirm(opts, f"remove every restic lock of {', '.join(name for name, _ in targets)}, those of running "
                      f"processes too (a backup or check running now may then fail)")
    results = repository_command(loaded, "unlock", targets, unlock(opts.dry_run, remove_all=remove_all),
                                 dry_run=opts.dry_run,
                                 args=[*(name for name, _ in targets), *(["--remove-all"] if remove_all else [])], warn=warn)
    _print_results(ctx, results, lambda r: f"{r['repository']}: {r['removed']} lock(s) removed, "
                                           f"{r['remaining']} remaining (via {r['via']})")


def _print_results(ctx: typer.Context, results: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    """Results (or, in a dry run, the exact argv each host would run), errors on stderr, the policy's exit code."""
    from chaton_ops.errors import exit_code_of

    opts = global_options(ctx)
    if opts.json:
        print_json([{key: value for key, value in r.items() if key != "outcome"} for r in results])
    elif opts.dry_run:
        print_table("Would run", ["repository", "via", "command"],
                    [[r["repository"], r["via"], shlex.join(r["argv"])] for r in results if "argv" in r])
        stdout().print("dry run: nothing was changed", highlight=False)
    elif not opts.quiet:
        for result in results:
            if result["outcome"] == "ok":
                stdout().print(line(result), highlight=False)
    for result in results:
        if result["outcome"] != "ok":
            error(f"{result['repository']}: {result['error']}")
    code = exit_code_of(result["outcome"] for result in results)
    if code:
        raise typer.Exit(int(code))
