"""`chaton runbook [--format md|html] --to PATH`: the break-glass document, for when nobody who knows is there."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaton_ops.cli.context import global_options, require_writable


def runbook(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="PATH", help="The file to write (- for stdout).")],
    fmt: Annotated[str, typer.Option("--format", metavar="md|html",
                                     help="Markdown (default) or one self-contained HTML page.")] = "md",
) -> None:
    """Write the break-glass runbook: per host and service what runs where, its data, databases and
    repository, the exact commands to restore, fail over and fail back, DNS records, where each secret is
    kept (never its value), the last backup, drill and rehearsal from the journal, contacts."""
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.breakglass import make_runbook
    from chaton_ops.ops.compose import journal_path, open_journal_for_reading, write_document

    if fmt not in ("md", "html"):
        raise UsageError(f"--format must be md or html, not {fmt!r}")
    opts = global_options(ctx)
    target = None if to == "-" else Path(to)
    require_writable("--to", target)
    loaded = opts.load()
    where = journal_path()
    with open_journal_for_reading(where) as journal:
        text = make_runbook(loaded, where, journal=journal, fmt=fmt)
    if target is None:
        typer.echo(text, nl=False)
        return
    write_document(target, text, mode=0o640)
    if not opts.quiet and not opts.json:
        services, hosts = len(loaded.inventory.services), len(loaded.inventory.hosts)
        typer.echo(f"runbook written: {target} ({services} service{'s' if services != 1 else ''}, "
                   f"{hosts} host{'s' if hosts != 1 else ''})")
