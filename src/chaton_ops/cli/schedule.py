"""`chaton schedule install|show|remove`: the inventory's `schedule:` as systemd timers or a cron.d file."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import print_json, print_table, stdout

app = typer.Typer(help="Timers (or cron) for backup, check, drill, status, prune and the runbook, from the "
                       "inventory's `schedule:`.", no_args_is_help=True)

KindOption = Annotated[str, typer.Option("--kind", metavar="auto|systemd|cron",
                                         help="systemd timers, a cron.d file, or auto: systemd where it runs.")]
RootOption = Annotated[str | None, typer.Option(
    "--root", metavar="DIR", help="Write under DIR (DIR/etc/systemd/system, DIR/etc/cron.d) instead of /: an "
    "image, a test (default: $CHATON_SCHEDULE_ROOT).")]


def _context(ctx: typer.Context, kind: str, root: str | None) -> tuple[Any, Any, Any, Any]:
    from chaton_ops.ops.compose import journal_path, local_files, service_manager, state_folder
    from chaton_ops.ops.schedule import ROOT_VARIABLE, choose_target, describe_installation

    opts = global_options(ctx)
    loaded = opts.load(placed=False)
    manager = service_manager()
    target = choose_target(kind, root or os.environ.get(ROOT_VARIABLE) or None, manager)
    where = describe_installation(loaded, journal=journal_path(), state_dir=state_folder())
    return opts, loaded, manager, (target, where, local_files())


@app.command("install")
def install(ctx: typer.Context, kind: KindOption = "auto", root: RootOption = None) -> None:
    """Write the units (or the cron file) the inventory's schedule asks for, and enable the timers.

    The plan first (--dry-run stops there; with -v, the files it would write), then a confirmation (--yes;
    refused without a terminal).
    Only files chaton wrote are replaced or removed. Exit 0 done, 1 failed or refused, 2 usage."""
    from chaton_ops.ops.schedule import plan_install

    opts, loaded, manager, (target, where, files) = _context(ctx, kind, root)
    plan = plan_install(loaded, target, where, manager, files=files)
    _apply(opts, plan, manager, files, f"Install the {target.kind} schedule in {target.folder}", ["install"])


@app.command("remove")
def remove(ctx: typer.Context, kind: KindOption = "auto", root: RootOption = None) -> None:
    """Disable the timers and remove every file chaton's schedule wrote (the plan first; asks)."""
    from chaton_ops.ops.schedule import plan_remove

    opts, _loaded, manager, (target, _where, files) = _context(ctx, kind, root)
    plan = plan_remove(target, manager, files=files)
    _apply(opts, plan, manager, files, f"Remove the {target.kind} schedule from {target.folder}", ["remove"])


@app.command("show")
def show(ctx: typer.Context, kind: KindOption = "auto", root: RootOption = None) -> None:
    """Each job: when the inventory says it runs, what is installed, and whether they differ.

    Exit 0 everything as the inventory says, 1 a difference (not installed, changed, extra, not enabled)."""
    from chaton_ops.ops.schedule import compare

    opts, loaded, manager, (target, where, files) = _context(ctx, kind, root)
    states = compare(loaded, target, where, manager, files=files)
    drift = [state for state in states if state.drift]
    if opts.json:
        print_json({"kind": target.kind, "folder": str(target.folder), "in_place": not drift,
                    "jobs": [{"job": s.job, "inventory": s.wanted, "installed": s.installed, "state": s.state,
                              "files": list(s.files)} for s in states]})
    elif not opts.quiet or drift:
        stdout().print(f"{target.kind} schedule in {target.folder}", highlight=False, soft_wrap=True)
        print_table("Schedule", ["job", "inventory", "installed", "state"],
                    [[s.job, s.wanted or "-", s.installed or "-", s.state] for s in states
                     if not opts.quiet or s.drift])
        if drift and not opts.quiet:
            stdout().print("`chaton schedule install` puts it as the inventory says", highlight=False)
    if drift:
        raise typer.Exit(1)


def _detail(step: Any) -> str:
    from chaton_ops.ops.schedule import describe_file

    if step.action != "write":
        return ""
    what = describe_file(step.target or "", step.inputs["content"])
    if step.noop is None and step.inputs.get("replaces"):
        what = f"replaces the installed one: {what}"
    return what


def _apply(opts: Any, plan: Any, manager: Any, files: Any, question: str, args: list[str]) -> None:
    from chaton_ops.cli.plan_view import Progress, print_run, run_as_json, show_plan_and_confirm
    from chaton_ops.ops.schedule import change_schedule

    folder = plan.inputs["folder"]
    if not opts.quiet and not opts.json and (opts.dry_run or sys.stdin.isatty()):
        stdout().print(f"{plan.inputs['kind']} schedule in {folder}", highlight=False, soft_wrap=True)
    if not show_plan_and_confirm(opts, plan, "Schedule plan", question, detail=_detail):
        if opts.dry_run and opts.verbose and not opts.json:
            for step in plan.steps:
                if step.action == "write" and step.noop is None:
                    stdout().print(f"\n{step.inputs['path']}:\n{step.inputs['content']}", markup=False,
                                   highlight=False, soft_wrap=True)
        return
    result = change_schedule(plan, manager, args, files=files, on_event=Progress(opts))
    if opts.json:
        print_json(run_as_json(result, outputs=lambda r: {k: v for k, v in r.outputs.items() if k != "content"}))
    elif not opts.quiet:
        print_run(result, "Schedule", ["step", "result"], lambda r: [r.step.title, r.status])
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))
