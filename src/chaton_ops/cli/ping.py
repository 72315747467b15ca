"""`chaton ping [HOST…]`: SSH reachability of hosts, in parallel."""

from __future__ import annotations

from typing import Annotated

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import escape, print_json, print_table, stderr


def ping(
    ctx: typer.Context,
    hosts: Annotated[list[str] | None, typer.Argument(metavar="HOST", help="Hosts to try (default: every host).",
                                                      show_default=False)] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, max=256,
                                             help="Hosts tried at once (default: defaults.jobs).")] = None,
) -> None:
    """Connect to every host (or those named) and run `true`: exit 0 if all answer, 4 if any is unreachable."""
    from chaton_ops.ops.compose import on_hosts
    from chaton_ops.ops.ping import exit_code_for, ping_hosts

    opts = global_options(ctx)
    loaded = opts.load()
    results = on_hosts(loaded, lambda transports: ping_hosts(loaded.inventory, hosts or [], transports, jobs=jobs))
    code = exit_code_for(results)
    if opts.json:
        print_json({"ok": code == 0, "hosts": [r.as_dict() for r in results]})
    elif not opts.quiet:
        print_table("SSH reachability", ["host", "address", "result", "latency ms"],
                    [[r.host, r.address, r.result, r.latency_ms] for r in results])
    for failed in (r for r in results if not r.ok):
        # soft_wrap: one line per host even in a narrow terminal or a captured stream
        stderr().print(f"[red]error:[/red] {escape(failed.host)}: {escape(failed.result)}",
                     markup=True, highlight=False, soft_wrap=True)
    if code:
        raise typer.Exit(int(code))
