"""`chaton snapshots [SERVICE]`: snapshots per service (time, id, host, size when known, tags)."""

from __future__ import annotations

from typing import Annotated

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import print_json, print_table


def snapshots(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(metavar="SERVICE", show_default=False,
                                                  help="Only this service's snapshots.")] = None,
    repository: Annotated[str | None, typer.Option("--repository", "-r", metavar="REPO",
                                                   help="Only this repository.")] = None,
    via: Annotated[str | None, typer.Option("--via", metavar="HOST",
                                            help="Host that runs restic (default: a host backing up there).")] = None,
) -> None:
    """List the snapshots chaton made, per repository."""
    from chaton_ops.core.units import format_bytes
    from chaton_ops.ops.compose import inventory_secrets, on_hosts
    from chaton_ops.ops.snapshots import list_snapshots

    opts = global_options(ctx)
    loaded = opts.load()
    listed = on_hosts(loaded, lambda transports: list_snapshots(loaded, transports, secrets=inventory_secrets(loaded),
                                                                service=service, repository=repository, via=via))
    if opts.json:
        print_json([{"repository": r.repository, "via": r.host, "snapshots": [
            {"id": s.id, "short_id": s.short_id, "time": s.time.isoformat(), "host": s.hostname,
             "service": s.tag_value("service"), "paths": list(s.paths), "tags": list(s.tags), "size": s.size}
            for s in r.snapshots]} for r in listed])
        return
    for entry in listed:
        rows = [[s.tag_value("service"), s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"), s.short_id, s.hostname,
                 list(s.paths), format_bytes(s.size) if s.size is not None else None,
                 [t for t in s.tags if t != "chaton" and not t.startswith("service:")]]
                for s in sorted(entry.snapshots, key=lambda s: (s.tag_value("service") or "", s.time))]
        print_table(f"Snapshots in {entry.repository} ({len(rows)})",
                    ["service", "time", "id", "host", "paths", "size", "tags"], rows)
