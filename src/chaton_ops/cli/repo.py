"""`chaton repo init|unlock`: create a repository, remove stale restic locks."""

from __future__ import annotations

from typing import Annotated

import typer

from chaton_ops.cli.context import options
from chaton_ops.cli.output import print_json, stdout

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
    from chaton_ops.adapters.secrets import resolve_secret
    from chaton_ops.ops.repository import initialise_repository

    opts = options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    inventory = loaded.inventory
    results = []
    versions = VersionCache()
    with HostPool(loaded) as pool:
        for name, host in targets:
            transport = pool.transport(host)
            binary = inventory.hosts[host].restic
            password = resolve_secret(loaded, inventory.repositories[name].password).reveal()
            created = initialise_repository(transport, binary, inventory.repositories[name].url, password,
                                            versions.get(transport, binary))
            results.append({"repository": name, "via": host, "created": created})
    if opts.json:
        print_json(results)
    elif not opts.quiet:
        for r in results:
            stdout.print(f"{r['repository']}: {'created' if r['created'] else 'already exists'} (via {r['via']})",
                         highlight=False)


@app.command("unlock")
def unlock(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="REPO", help="Repository (default: all).")] = None,
    remove_all: Annotated[bool, typer.Option("--remove-all", help="Also remove locks that are not stale.")] = False,
    via: Via = None,
) -> None:
    """Remove stale restic locks (left by a process that died); the locks of running processes stay."""
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.secrets import resolve_secret
    from chaton_ops.ops.repository import list_locks, remove_stale_locks

    opts = options(ctx)
    loaded, targets = _targets(ctx, repository, via)
    inventory = loaded.inventory
    results = []
    with HostPool(loaded) as pool:
        for name, host in targets:
            transport = pool.transport(host)
            binary = inventory.hosts[host].restic
            url = inventory.repositories[name].url
            password = resolve_secret(loaded, inventory.repositories[name].password).reveal()
            before = list_locks(transport, binary, url, password)
            remove_stale_locks(transport, binary, url, password, remove_all=remove_all)
            after = list_locks(transport, binary, url, password)
            results.append({"repository": name, "via": host, "removed": len(set(before) - set(after)),
                            "remaining": len(after)})
    if opts.json:
        print_json(results)
    elif not opts.quiet:
        for r in results:
            stdout.print(f"{r['repository']}: {r['removed']} lock(s) removed, {r['remaining']} remaining "
                         f"(via {r['via']})", highlight=False)
