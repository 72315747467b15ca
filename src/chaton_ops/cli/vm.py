"""`chaton vm …`: Proxmox VE guests — drift, onboot, snapshots before risky work, rollback, vzdump.

Each command parses, calls one use case of ops/vm (the changing ones: ops/vm/run.py, on the runbook
engine) and renders its report (cli/vm_render.py). proxmoxer is imported by the adapter when a command
first talks to a cluster, never at startup.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from chaton_ops.cli.context import GlobalOptions, global_options
from chaton_ops.cli.output import warn

if TYPE_CHECKING:
    from chaton_ops.core.runbook import Plan
    from chaton_ops.ops.engine import StepEvent
    from chaton_ops.ops.vm.run import VmSession

app = typer.Typer(help="Proxmox VE guests: drift, onboot, snapshots before risky work, vzdump.",
                  no_args_is_help=True)

Host = Annotated[str, typer.Argument(metavar="HOST", help="Inventory host that is a Proxmox guest (has `vm:`).")]


def _session(opts: GlobalOptions, question: str = "") -> VmSession:
    """The clusters and the journal (ops/vm/run.py); before a change, the plan shown and the question asked
    with the one confirmation helper (cli/confirm.py): --yes answers, and without a terminal it refuses."""
    from chaton_ops.ops.vm.run import connect

    def confirm(plan: Plan) -> bool:
        from chaton_ops.cli.confirm import confirm as ask
        from chaton_ops.cli.vm_render import print_plan
        from chaton_ops.errors import Declined

        if not (opts.yes and opts.quiet):
            print_plan(plan, title="Plan", to_stderr=True)
        try:
            ask(opts, question)
        except Declined:
            return False
        return True

    return connect(opts.load(), confirm=confirm, notify=warn, on_event=_task_lines(opts))


def _task_lines(opts: GlobalOptions) -> Callable[[StepEvent], None]:
    """A line on stderr as each long task starts and ends, on a terminal only (cron and --json get none)."""
    if opts.quiet or opts.json or not sys.stderr.isatty():
        return lambda event: None
    from chaton_ops.cli.output import stderr

    def show(event: StepEvent) -> None:
        if event.kind == "progress":
            stderr().print(event.text, highlight=False, markup=False, soft_wrap=True)

    return show


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _exit(code: int) -> None:
    if code:
        raise typer.Exit(int(code))


@app.command("list")
def list_guests(ctx: typer.Context) -> None:
    """Every guest (QEMU and LXC) of every cluster, and its drift from the inventory: guests no host describes,
    inventory VMs missing or on another node. Exit 4 when a cluster cannot be reached."""
    from chaton_ops.cli.vm_render import render_listing
    from chaton_ops.ops.vm.inspect import list_guests as list_all

    opts = global_options(ctx)
    session = _session(opts)
    _exit(render_listing(opts, session.inventory, list_all(session.inventory, session.api_for)))


@app.command("onboot")
def onboot(
    ctx: typer.Context,
    fix: Annotated[bool, typer.Option("--fix", help="Set onboot=1 on exactly those guests (plan shown, confirmed).")]
    = False,
) -> None:
    """Inventory guests that would not start with their node. Exit 0 when all start, 1 otherwise."""
    from chaton_ops.cli.vm_render import render_onboot
    from chaton_ops.ops.vm.run import OnbootRequest, fix_onboot

    opts = global_options(ctx)
    report = fix_onboot(_session(opts, "Set onboot=1 on these guests?"), OnbootRequest(fix=fix, dry_run=opts.dry_run))
    render_onboot(opts, report, fix=fix)
    _exit(report.exit_code)


@app.command("snapshot")
def snapshot(
    ctx: typer.Context,
    host: Host,
    name: Annotated[str | None, typer.Option("--name", help="Snapshot name (default chaton-YYYY-MM-DD-HHMM, UTC).")]
    = None,
    vmstate: Annotated[bool, typer.Option("--vmstate", help="Also save the RAM of a running VM.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Remove chaton's old snapshots instead (--keep, --older-than).")]
    = False,
    keep: Annotated[int | None, typer.Option("--keep", min=0, metavar="N",
                                             help="With --prune: keep the N newest of chaton's snapshots.")] = None,
    older_than: Annotated[float | None, typer.Option("--older-than", min=0, metavar="DAYS",
                                                     help="With --prune: remove those older than DAYS.")] = None,
) -> None:
    """Snapshot a guest before risky work; with --prune, remove chaton's dated snapshots beyond a policy
    (snapshots with other names are never removed)."""
    from chaton_ops.cli.vm_render import render_prune, render_run
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.vm.run import PruneRequest, SnapshotRequest, prune_snapshots, take_snapshot

    opts = global_options(ctx)
    if prune and (name or vmstate):
        raise UsageError("--prune takes --keep and --older-than, not --name or --vmstate")
    if not prune and (keep is not None or older_than is not None):
        raise UsageError("--keep and --older-than go with --prune")
    if prune:
        report = prune_snapshots(_session(opts, f"Delete these snapshots of {host}?"),
                                 PruneRequest(host, keep=keep, older_than_days=older_than, dry_run=opts.dry_run))
        render_prune(opts, report)
        _exit(report.run.exit_code)
        return
    run = take_snapshot(_session(opts), SnapshotRequest(host, name=name, vmstate=vmstate, dry_run=opts.dry_run))
    render_run(opts, run, title=f"Snapshot of {host}")
    _exit(run.exit_code)


@app.command("snapshots")
def snapshots(ctx: typer.Context, host: Host) -> None:
    """A guest's snapshots, oldest first: name, when, RAM state, description."""
    from chaton_ops.cli.vm_render import render_snapshots
    from chaton_ops.ops.vm.inspect import list_snapshots

    opts = global_options(ctx)
    session = _session(opts)
    render_snapshots(opts, list_snapshots(session.inventory, session.api_for, host), _now())


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    host: Host,
    name: Annotated[str, typer.Option("--name", help="Snapshot to go back to (see `chaton vm snapshots HOST`).")],
) -> None:
    """Go back to a snapshot (confirmation, or --yes); a guest that was running runs again afterwards."""
    from chaton_ops.cli.vm_render import render_rollback
    from chaton_ops.ops.vm.run import RollbackRequest, roll_back

    opts = global_options(ctx)
    report = roll_back(_session(opts, f"Roll {host} back to {name}? Everything written since is lost"),
                       RollbackRequest(host, name, dry_run=opts.dry_run))
    render_rollback(opts, report, host)
    _exit(report.run.exit_code)


@app.command("vzdump")
def vzdump(
    ctx: typer.Context,
    hosts: Annotated[list[str] | None, typer.Argument(metavar="HOST", show_default=False,
                                                      help="Inventory hosts to back up.")] = None,
    all_guests: Annotated[bool, typer.Option("--all", help="Every guest of every cluster (templates excepted).")]
    = False,
    storage: Annotated[str | None, typer.Option("--storage", metavar="S",
                                                help="PVE storage (default: proxmox.C.vzdump.storage).")] = None,
    mode: Annotated[str | None, typer.Option("--mode", metavar="snapshot|suspend|stop",
                                             help="vzdump mode (default: the inventory's, else snapshot).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, max=64,
                                             help="Nodes backed up at once (default: defaults.jobs).")] = None,
) -> None:
    """Back up guests with vzdump, one task per guest, nodes in parallel; prune-backups from the inventory.
    Exit 0 all good, 1 all failed, 3 partial, 4 nothing reached."""
    from chaton_ops.cli.vm_render import render_vzdump
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.vm.run import VzdumpRequest, run_vzdump

    if mode is not None and mode not in ("snapshot", "suspend", "stop"):
        raise UsageError(f"--mode {mode}: use snapshot, suspend or stop")
    opts = global_options(ctx)
    report = run_vzdump(_session(opts), VzdumpRequest(tuple(hosts or ()), all_guests, storage, mode, jobs,
                                                      dry_run=opts.dry_run))
    render_vzdump(opts, report)
    _exit(report.exit_code)


@app.command("backups")
def backups(
    ctx: typer.Context,
    storage: Annotated[str | None, typer.Option("--storage", metavar="S",
                                                help="PVE storage (default: each cluster's vzdump storage).")] = None,
) -> None:
    """vzdump archives with guest, age and size; flags guests without an archive newer than their schedule
    allows (proxmox.C.vzdump.max_age_hours). Exit 1 when a guest is flagged."""
    from chaton_ops.cli.vm_render import render_backups
    from chaton_ops.ops.vm.inspect import list_backups

    opts = global_options(ctx)
    session = _session(opts)
    now = _now()
    _exit(render_backups(opts, list_backups(session.inventory, session.api_for, storage=storage, now=now), now))
