"""`chaton repo init|unlock`: create a repository, remove stale restic locks."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from chaton_ops.cli.context import options
from chaton_ops.cli.output import error, print_json, print_table, stdout

if TYPE_CHECKING:
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.core.loader import LoadedInventory
    from chaton_ops.core.ports import Transport

app = typer.Typer(help="Create repositories and remove stale restic locks.", no_args_is_help=True)

Via = Annotated[str | None, typer.Option("--via", metavar="HOST",
                                         help="Host that runs restic (default: a host backing up there).")]


def _targets(ctx: typer.Context, repository: str | None, via: str | None):
    """The (repository, host) pairs, every name checked before anything runs."""
    from chaton_ops.ops.check import select_repositories
    from chaton_ops.ops.repository import access_host

    loaded = options(ctx).load()
    names = select_repositories(loaded.inventory, [repository] if repository else [])
    return loaded, [(name, access_host(loaded.inventory, name, via)) for name in names]


@app.command("init")
def init(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    via: Via = None,
) -> None:
    """Create the repository (nothing happens to one that exists)."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.restic import VersionCache, build_init_argv
    from chaton_ops.ops.repository import initialise_repository

    opts = options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    versions = VersionCache()

    def initialise(target: _Access) -> dict[str, Any]:
        version = versions.get(target.transport, target.binary)
        if opts.dry_run:
            return {"argv": build_init_argv(target.binary, target.url, version)}
        return {"created": initialise_repository(target.transport, target.binary, target.url, target.password,
                                                 version)}

    with HostPool(loaded) as pool:
        results = _for_each(loaded, pool, targets, initialise, dry_run=opts.dry_run)
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
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.restic import build_unlock_argv
    from chaton_ops.cli.confirm import confirm
    from chaton_ops.ops.repository import list_locks, remove_stale_locks

    opts = options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    if remove_all:
        confirm(opts, f"remove every restic lock of {', '.join(name for name, _ in targets)}, those of running "
                      f"processes too (a backup or check running now may then fail)")

    def unlock_target(target: _Access) -> dict[str, Any]:
        if opts.dry_run:
            return {"argv": build_unlock_argv(target.binary, target.url, remove_all=remove_all)}
        before = list_locks(target.transport, target.binary, target.url, target.password)
        remove_stale_locks(target.transport, target.binary, target.url, target.password, remove_all=remove_all)
        after = list_locks(target.transport, target.binary, target.url, target.password)
        return {"removed": len(set(before) - set(after)), "remaining": len(after)}

    with HostPool(loaded) as pool:
        results = _for_each(loaded, pool, targets, unlock_target, dry_run=opts.dry_run)
    _print_results(ctx, results, lambda r: f"{r['repository']}: {r['removed']} lock(s) removed, "
                                           f"{r['remaining']} remaining (via {r['via']})")


class _Access(NamedTuple):
    name: str
    host: str
    transport: Transport
    binary: str
    url: str
    password: str


def _for_each(loaded: LoadedInventory, pool: HostPool, targets: list[tuple[str, str]],
              act_on: Callable[[_Access], dict[str, Any]], *, dry_run: bool) -> list[dict[str, Any]]:
    """`act_on` each (repository, host) target; a failure is that target's result, the others still run.
    A password is resolved only when its turn comes, and not at all in a dry run."""
    from chaton_ops.adapters.secrets import resolve_secret
    from chaton_ops.core.masking import mask_text
    from chaton_ops.errors import ChatonError, ConnectError

    inventory = loaded.inventory
    results: list[dict[str, Any]] = []
    for name, host in targets:
        result: dict[str, Any] = {"repository": name, "via": host}
        try:
            repository = inventory.repositories[name]
            password = "" if dry_run else resolve_secret(loaded, repository.password).reveal()
            result.update(act_on(_Access(name, host, pool.transport(host), inventory.hosts[host].restic, repository.url,
                                      password)))
            result["outcome"] = "ok"
        except ChatonError as failure:
            result.update(outcome="unreachable" if isinstance(failure, ConnectError) else "failed",
                          error=mask_text(failure.message))
        results.append(result)
    return results


def _print_results(ctx: typer.Context, results: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    """Results (or, in a dry run, the exact argv each host would run), errors on stderr, the policy's exit code."""
    from chaton_ops.errors import exit_code_of

    opts = options(ctx)
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
