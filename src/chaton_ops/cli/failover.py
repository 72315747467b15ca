"""`chaton failover --to HOST` and `chaton failback`: move services to the fallback and home again."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from chaton_ops.cli.confirm import confirm
from chaton_ops.cli.context import GlobalOptions, global_options
from chaton_ops.cli.output import print_json, warn


def failover(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(metavar="SERVICE", show_default=False,
                                                         help="Services to move (default: those on --from, else all "
                                                              "whose fallback is --to).")] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="HOST", help="The fallback host (kind fallback).")] = None,
    source: Annotated[str | None, typer.Option("--from", metavar="HOST",
                                               help="Move the services running on HOST.")] = None,
    rehearse: Annotated[bool, typer.Option("--rehearse", help="Restore, deploy and check on the fallback without "
                                           "touching DNS or the source, then undo it; records the RTO.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished failover where it stopped.")] = False,
    abandon: Annotated[bool, typer.Option("--abandon", help="Set the unfinished failover aside (nothing is undone).")] = False,
    no_final_backup: Annotated[bool, typer.Option("--no-final-backup",
                                                  help="Do not stop and back up a source that still answers.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=16,
                                      help="Services worked on at once, in priority order.")] = 2,
) -> None:
    """Move services onto the fallback: restore, deploy, check, switch DNS, verify. Resumable.

    Exit 0 all moved, 3 some moved, 1 none (or refused by the preflight), 4 the fallback cannot be
    reached, 2 usage.
    """
    from chaton_ops.core.failover import select_failover_services
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.failover import run as usecase
    from chaton_ops.ops.failover_run import failover_context

    opts = global_options(ctx)
    command = "rehearsal" if rehearse else "failover"
    with failover_context(opts.load(), jobs=jobs) as context:
        if abandon:
            run_id = usecase.abandon_unfinished(context, command)
            print(f"{command} run {run_id} set aside" if run_id else f"no unfinished {command}")
            return
        if resume:
            run_id = usecase.unfinished_run(context, command)
            if run_id is None:
                raise UsageError(f"no unfinished {command} to resume")
            _apply(opts, lambda progress: usecase.apply_failover(context, None, args=[], on_event=progress,
                                                                 resume_run=run_id), rehearsal=rehearse)
            return
        if to is None:
            raise UsageError("say where to: --to HOST (a host of kind fallback)")
        usecase.refuse_if_unfinished(context, command)
        names = select_failover_services(context.inventory, to, services or [], source=source)
        started = context.clock()
        prepared = usecase.prepare_failover(context, names, to, final_backup=not no_final_backup, rehearse=rehearse)
        _show_preflight(opts, prepared)
        if prepared.refusals:
            raise usecase.FailoverRefused([*prepared.refusals, "nothing was changed"],
                                          unreachable=any(r.startswith("the fallback ") for r in prepared.refusals))
        if opts.dry_run:
            return
        what = (f"rehearse the failover of {', '.join(names)} on {to} (it is undone afterwards)" if rehearse else
                f"fail {', '.join(names)} over to {to}: replace their data there and switch their DNS records")
        confirm(opts, what)
        args = [*names, "--to", to, *(["--rehearse"] if rehearse else []),
                *(["--no-final-backup"] if no_final_backup else [])]
        _apply(opts, lambda progress: usecase.apply_failover(context, prepared, args=args, on_event=progress,
                                                             started=started), rehearsal=rehearse)


def failback(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(metavar="SERVICE", show_default=False,
                                                         help="Services to bring home (default: every one away).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished failback where it stopped.")] = False,
    abandon: Annotated[bool, typer.Option("--abandon", help="Set the unfinished failback aside.")] = False,
    stop_first: Annotated[bool, typer.Option("--stop-first", help="Stop the service on the fallback before its "
                                             "final backup: a few minutes down, nothing written meanwhile lost.")] = False,
    clean: Annotated[bool, typer.Option("--clean", help="Afterwards put the fallback back as it was before the "
                                        "failover (its data kept aside by the restore comes back).")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=16,
                                      help="Services worked on at once, in priority order.")] = 2,
) -> None:
    """Bring failed-over services home once their host is repaired: back up on the fallback, restore and
    deploy at home, DNS back to the records recorded before the failover, verify, stop on the fallback.

    Exit 0 all home, 3 some, 1 none, 4 a home host does not answer, 2 usage.
    """
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.failover import run as usecase
    from chaton_ops.ops.failover_run import failover_context

    opts = global_options(ctx)
    with failover_context(opts.load(), jobs=jobs) as context:
        if abandon:
            run_id = usecase.abandon_unfinished(context, "failback")
            print(f"failback run {run_id} set aside" if run_id else "no unfinished failback")
            return
        if resume:
            run_id = usecase.unfinished_run(context, "failback")
            if run_id is None:
                raise UsageError("no unfinished failback to resume")
            _apply(opts, lambda progress: usecase.apply_failback(context, None, args=[], on_event=progress,
                                                                 resume_run=run_id), rehearsal=False)
            return
        usecase.refuse_if_unfinished(context, "failback")
        plan = usecase.prepare_failback(context, services or [], stop_first=stop_first, clean=clean)
        if not opts.json and not opts.quiet:
            from chaton_ops.cli.runbook_view import print_failback_plan

            print_failback_plan(plan, show_steps=opts.dry_run or opts.verbose > 0)
        if opts.dry_run:
            return
        names = plan.inputs["services"]
        confirm(opts, f"bring {', '.join(names)} home: restore there and switch DNS back")
        args = [*names, *(["--stop-first"] if stop_first else []), *(["--clean"] if clean else [])]
        _apply(opts, lambda progress: usecase.apply_failback(context, plan, args=args, on_event=progress),
               rehearsal=False)


def _show_preflight(opts: GlobalOptions, prepared: Any) -> None:
    if opts.json and opts.dry_run:
        print_json({"plan": prepared.plan.as_dict(), "refusals": list(prepared.refusals),
                    "warnings": list(prepared.warnings)})
        return
    if opts.json:
        return
    from chaton_ops.cli.runbook_view import print_failover_plan

    if not opts.quiet:
        print_failover_plan(prepared, show_steps=opts.dry_run or opts.verbose > 0)
    for warning in prepared.warnings:
        warn(warning)


def _apply(opts: GlobalOptions, run: Any, *, rehearsal: bool) -> None:
    from chaton_ops.cli.runbook_view import RunbookProgress, print_report, report_as_json

    with _interrupt_on_sigterm(), RunbookProgress(opts) as progress:
        report = run(progress)
    if opts.json:
        print_json(report_as_json(report))
    elif not opts.quiet or report.run.exit_code:
        print_report(report, rehearsal=rehearsal)
    for outcome in report.services:
        if outcome.result != "ok" and outcome.message:
            warn(f"{outcome.service}: {outcome.message}")
    if report.run.exit_code:
        if report.run.status in ("failed", "partial", "interrupted"):
            warn(f"run {report.run.run_id} did not finish: fix the cause above, then `chaton "
                 f"{'failback' if report.run.command == 'failback' else 'failover'}"
                 f"{' --rehearse' if rehearsal else ''} --resume`")
        raise typer.Exit(int(report.run.exit_code))


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (systemd stopping a unit, `kill`) ends the run the way Ctrl-C does: journaled as interrupted."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
