"""`chaton repo init|unlock`: create a repository, remove stale restic locks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from chaton_ops.cli.context import options
from chaton_ops.cli.output import print_json, stdout

if TYPE_CHECKING:
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.core.loader import LoadedInventory
    from chaton_ops.core.ports import Transport

app = typer.Typer(help="Create repositories and remove stale restic locks.", no_args_is_help=True)

Via = Annotated[str | None, typer.Option("--via", metavar="HOST",
                                         help="Host that runs restic (default: a host backing up there).")]


def _targets(ctx: typer.Context, repository: str | None, via: str | None):
    from chaton_ops.ops.repository import access_host

    loaded = options(ctx).load()
    names = [repository] if repository else sorted(loaded.inventory.repositories)
    return loaded, [(name, access_host(loaded.inventory, name, via)) for name in names]


@app.command("init")
def init(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    via: Via = None,
) -> None:
    """Create the repository (nothing happens to one that exists)."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.restic import VersionCache
    from chaton_ops.ops.repository import initialise_repository

    loaded, targets = _targets(ctx, repository, via)
    results = []
    versions = VersionCache()
    with HostPool(loaded) as pool:
        for target in _with_access(loaded, pool, targets):
            created = initialise_repository(target.transport, target.binary, target.url, target.password,
                                            versions.get(target.transport, target.binary))
            results.append({"repository": target.name, "via": target.host, "created": created})
    _print_results(ctx, results, lambda r: f"{r['repository']}: {'created' if r['created'] else 'already exists'} "
                                           f"(via {r['via']})")


@app.command("unlock")
def unlock(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    remove_all: Annotated[bool, typer.Option("--remove-all", help="Also remove locks that are not stale.")] = False,
    via: Via = None,
) -> None:
    """Remove stale restic locks (left by a process that died); the locks of running processes stay."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.ops.repository import list_locks, remove_stale_locks

    loaded, targets = _targets(ctx, repository, via)
    results = []
    with HostPool(loaded) as pool:
        for target in _with_access(loaded, pool, targets):
            before = list_locks(target.transport, target.binary, target.url, target.password)
            remove_stale_locks(target.transport, target.binary, target.url, target.password, remove_all=remove_all)
            after = list_locks(target.transport, target.binary, target.url, target.password)
            results.append({"repository": target.name, "via": target.host, "removed": len(set(before) - set(after)),
                            "remaining": len(after)})
    _print_results(ctx, results, lambda r: f"{r['repository']}: {r['removed']} lock(s) removed, "
                                           f"{r['remaining']} remaining (via {r['via']})")


class _Access(NamedTuple):
    name: str
    host: str
    transport: Transport
    binary: str
    url: str
    password: str


def _with_access(loaded: LoadedInventory, pool: HostPool, targets: list[tuple[str, str]]) -> Iterator[_Access]:
    """Each (repository, host) target with what restic needs there; a password is resolved only when its turn comes."""
    from chaton_ops.adapters.secrets import resolve_secret

    inventory = loaded.inventory
    for name, host in targets:
        repository = inventory.repositories[name]
        yield _Access(name, host, pool.transport(host), inventory.hosts[host].restic, repository.url,
                      resolve_secret(loaded, repository.password).reveal())


def _print_results(ctx: typer.Context, results: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    opts = options(ctx)
    if opts.json:
        print_json(results)
    elif not opts.quiet:
        for result in results:
            stdout().print(line(result), highlight=False)
