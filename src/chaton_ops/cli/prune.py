"""`chaton prune [REPO…]`: remove the data of forgotten snapshots from repositories (weekly, not nightly)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import print_json, warn


def prune(
    ctx: typer.Context,
    repositories: Annotated[list[str] | None, typer.Argument(metavar="REPO", show_default=False,
                                                             help="Repositories (default: all).")] = None,
    max_unused: Annotated[str | None, typer.Option(
        "--max-unused", metavar="LIMIT",
        help="Unused space that may stay to spare repacking: 5% (restic's default), 2G, 0, unlimited.")] = None,
    via: Annotated[str | None, typer.Option("--via", metavar="HOST", help="Host that runs restic.")] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", metavar="SECONDS", min=0,
                                             help="Wait that long for another run on the repository (chaton's "
                                                  "lock, then restic's).")] = 600.0,
) -> None:
    """Prune repositories: remove the data only forgotten snapshots used, and report the space freed.

    `chaton backup` only forgets; prune rewrites packs under restic's exclusive lock, so it runs on its
    own schedule (weekly). Asks first (--yes; refused without a terminal). Exit 0 done, 1 failed,
    3 some repositories pruned and some not.
    """
    from chaton_ops.cli.plan_view import show_plan_and_confirm
    from chaton_ops.ops.prune import plan_prune

    opts = global_options(ctx)
    loaded = opts.load()
    plan = plan_prune(loaded, repositories or [], via=via, max_unused=max_unused)
    names = [step.target for step in plan.steps]
    if not show_plan_and_confirm(opts, plan, "Prune plan", f"Prune {', '.join(names)} (backups of these "
                                 "repositories wait meanwhile)", detail=lambda step: step.inputs["command"]):
        return
    from chaton_ops.cli.plan_view import Progress
    from chaton_ops.ops.prune import prune as run_prune

    result = run_prune(loaded, plan, args=[*names, *(["--max-unused", max_unused] if max_unused else [])],
                       lock_wait=lock_wait, on_event=Progress(opts), warn=warn)
    if opts.json:
        print_json(_as_json(result))
    elif not opts.quiet:
        from chaton_ops.cli.plan_view import print_run

        print_run(result, "Prune", ["repository", "via", "removed", "unused left", "free before → after",
                                    "duration", "result"], _row)
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


def _size(value: Any) -> str:
    from chaton_ops.core.units import format_bytes

    return format_bytes(value) if isinstance(value, int) else "-"


def _row(result: Any) -> list[Any]:
    out = result.outputs
    before, after = out.get("free_before_bytes"), out.get("free_after_bytes")
    free = f"{_size(before)} → {_size(after)}" if before is not None and after is not None else "-"
    return [result.step.target, result.step.host, _size(out.get("removed_bytes")), _size(out.get("unused_after_bytes")),
            free, f"{out['duration']:.1f} s" if "duration" in out else "-", result.status]


def _as_json(result: Any) -> dict[str, Any]:
    from chaton_ops.cli.plan_view import run_as_json

    return run_as_json(result)
