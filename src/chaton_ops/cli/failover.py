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
    from chaton_ops.ops.failover_run import MoveRequest

    opts = global_options(ctx)
    _move(opts, MoveRequest("rehearsal" if rehearse else "failover", tuple(services or ()), to=to, source=source, resume=resume, abandon=abandon,
                            final_backup=not no_final_backup, dry_run=opts.dry_run, jobs=jobs),
          show=lambda prepared: _show_preflight(opts, prepared))


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
    from chaton_ops.ops.failover_run import MoveRequest

    opts = global_options(ctx)
    _move(opts, MoveRequest("failback", tuple(services or ()), resume=resume, abandon=abandon, stop_first=stop_first,
                            clean=clean, dry_run=opts.dry_run, jobs=jobs),
          show=lambda plan: _show_failback_plan(opts, plan))


def _move(opts: GlobalOptions, request: Any, *, show: Any) -> None:
    """Call the use case with the plan shown, the question asked and the progress rendered; then the
    outcome: the run set aside, or the run's report and its exit code."""
    from chaton_ops.cli.runbook_view import RunbookProgress
    from chaton_ops.ops.failover_run import move_services

    with _interrupt_on_sigterm(), RunbookProgress(opts) as progress:
        outcome = move_services(opts.load(), request, show=show, confirm=lambda question: confirm(opts, question),
                                on_event=progress, warn=warn)
    if request.abandon:
        command = request.command
        print(f"{command} run {outcome.set_aside} set aside" if outcome.set_aside else f"no unfinished {command}")
    elif outcome.report is not None:
        _render(opts, outcome.report, rehearsal=request.command == "rehearsal")


def _show_failback_plan(opts: GlobalOptions, plan: Any) -> None:
    if not opts.json and not opts.quiet:
        from chaton_ops.cli.runbook_view import print_failback_plan

        print_failback_plan(plan, show_steps=opts.dry_run or opts.verbose > 0)


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


def _render(opts: GlobalOptions, report: Any, *, rehearsal: bool) -> None:
    from chaton_ops.cli.runbook_view import print_report, report_as_json

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
