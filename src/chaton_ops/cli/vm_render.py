"""Rendering of `chaton vm` reports: tables for people (readable at 80 columns), JSON with --json, the plan
(the API calls, never the token) for --dry-run and before a confirmation. Data on stdout, problems on stderr."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chaton_ops.cli.output import error, print_json, print_line, print_table, stderr, stdout, warn
from chaton_ops.core.vm_plan import format_bytes, format_compact, format_hours

if TYPE_CHECKING:
    from chaton_ops.cli.context import GlobalOptions
    from chaton_ops.core.inventory import Inventory
    from chaton_ops.core.runbook import Plan
    from chaton_ops.core.vm_plan import GuestResult
    from chaton_ops.ops.vm.inspect import ClusterBackups, ClusterListing, GuestSnapshots
    from chaton_ops.ops.vm.run import OnbootReport, PruneReport, RollbackReport, VmRun, VzdumpReport


# ------------------------------------------------------------------------------------------ pieces
def short_size(size: int | None) -> str:
    """512M, 2G, 1.5T: a size in a narrow column."""
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 and unit != "B" else f"{value:.0f}"
            return text + ("" if unit == "B" else unit)
        value /= 1024
    return str(size)


def uptime(seconds: int | None) -> str:
    return format_compact(seconds / 3600) if seconds else "-"


def when(moment: dt.datetime | None) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M}" if moment else "-"


def age(moment: dt.datetime | None, now: dt.datetime) -> str:
    return format_hours((now - moment).total_seconds() / 3600) if moment else "-"


def print_plan(plan: Plan | None, *, title: str, to_stderr: bool = False) -> None:
    """The runbook, step by step: its guest, what it does and the exact API call (method, path,
    parameters), or why it is not done (a no-op)."""
    console = stderr() if to_stderr else stdout()
    console.print(title, highlight=False, markup=False)
    steps = plan.steps if plan is not None else ()
    if not steps:
        console.print("  nothing to change", highlight=False, markup=False)
    for step in steps:
        inputs = step.inputs
        if step.noop is not None:
            console.print(f"  {step.target}: {inputs['action']}: {step.noop}", highlight=False,
                          markup=False, soft_wrap=True)
            continue
        condition = f" ({inputs['condition']})" if inputs.get("condition") else ""
        console.print(f"  {step.target}: {inputs['action']}{condition}", highlight=False, markup=False)
        console.print(f"      {inputs['request']}", highlight=False, markup=False, soft_wrap=True)


def report_failures(results: Sequence[GuestResult]) -> None:
    """Each failure on stderr: the guest, PVE's message, and the last lines of the task's log."""
    for result in results:
        if result.status != "failed":
            continue
        target = f"{result.host or result.name or result.vmid} ({result.cluster}/{result.vmid})"
        error(f"{target}: {result.action}: {result.message}")
        for line in result.log_tail:
            stderr().print(f"    {line}", highlight=False, markup=False, soft_wrap=True)


def run_as_dict(run: VmRun) -> dict[str, Any]:
    """`plan`: the calls it sends; `runbook_plan`: every step of the engine's plan (no-ops with their
    reason); `runbook`: the run in the shape every engine command shares (none for a dry run)."""
    from chaton_ops.cli.plan_view import plan_as_json, runbook_json

    return {"command": run.command, "dry_run": run.dry_run, "declined": run.declined,
            "plan": [change.as_dict() for change in run.changes], "results": [r.as_dict() for r in run.results],
            "notes": list(run.notes), "run_id": run.run_id, "exit_code": int(run.exit_code),
            "runbook_plan": plan_as_json(run.plan) if run.plan is not None else None,
            **runbook_json(run.run.summary() if run.run is not None else None)}


RESULT_COLUMNS = ["guest", "node", "action", "result", "time", "detail"]


def _result_rows(results: Sequence[GuestResult]) -> list[list[Any]]:
    return [[r.host or r.name or r.vmid, r.node, r.action, r.status, f"{r.duration:.1f} s", r.message or "-"]
            for r in results]


def render_run(opts: GlobalOptions, run: VmRun, *, title: str) -> None:
    """A changing command's report: its plan (dry run), or each change's result."""
    if opts.json:
        print_json(run_as_dict(run))
        return
    if run.dry_run:
        print_plan(run.plan, title=f"{title}: plan (dry run, nothing changed)")
        return
    if run.declined:
        error("nothing changed")
        return
    if not opts.quiet and run.results:
        print_table(title, RESULT_COLUMNS, _result_rows(run.results))
    report_failures(run.results)


# ------------------------------------------------------------------------------------------- list
def guest_as_dict(cluster: str, row: Any) -> dict[str, Any]:
    guest = row.guest
    return {"cluster": cluster, "vmid": row.vmid, "name": guest.name if guest else None,
            "type": guest.ref.kind if guest else None, "node": guest.ref.node if guest else None,
            "status": guest.status if guest else None, "uptime": guest.uptime if guest else None,
            "memory": guest.memory if guest else None, "max_memory": guest.max_memory if guest else None,
            "onboot": row.onboot, "lock": guest.lock if guest else None,
            "template": guest.template if guest else None, "host": row.host,
            "inventory_node": row.inventory_node, "relation": row.relation, "drift": row.drift}


def render_listing(opts: GlobalOptions, inventory: Inventory, listings: Sequence[ClusterListing]) -> int:
    """Tables per cluster (or JSON); returns the exit code: that of the first cluster that could not be read."""
    from chaton_ops.core.proxmox import base_url

    if opts.json:
        print_json({"clusters": [{"cluster": item.cluster, "api": base_url(inventory.proxmox[item.cluster]),
                                  "quorate": item.state.quorate if item.state else None,
                                  "nodes": [{"name": n, "online": o} for n, o in (item.state.nodes if item.state else ())],
                                  "error": item.error.message if item.error else None} for item in listings],
                    "guests": [guest_as_dict(item.cluster, row) for item in listings for row in item.rows],
                    "drift": sum(1 for item in listings for row in item.rows if row.drift)})
    for item in listings:
        if item.error is not None:
            error(item.error.message)
            continue
        if not opts.json:
            _print_cluster(opts, item)
        for node in item.offline_nodes:
            warn(f"{item.cluster}: node {node} is offline: the state of its guests is unknown")
        if item.state is not None and not item.state.quorate:
            warn(f"{item.cluster}: the cluster has lost quorum: PVE refuses every change until enough nodes are back")
    failed = [item.error for item in listings if item.error is not None]
    return int(failed[0].exit_code) if failed else 0


def _print_cluster(opts: GlobalOptions, item: ClusterListing) -> None:
    state = item.state
    drift = [row for row in item.rows if row.drift]
    if not opts.quiet:
        nodes = ", ".join(f"{name} {'online' if online else 'OFFLINE'}" for name, online in (state.nodes if state else ()))
        quorum = "" if state is None or state.quorate else ", NO QUORUM"
        print_table(f"{item.cluster} ({nodes}{quorum})",
                    ["vmid", "name", "type", "node", "status", "uptime", "memory", "boot", "lock", "inventory"],
                    [_listing_row(row) for row in item.rows])
    for row in drift:
        print_line(f"drift: {row.describe()}")


def _listing_row(row: Any) -> list[Any]:
    guest = row.guest
    marker = {"inventory": row.host, "migrated": f"{row.host} (!)", "missing": f"{row.host} (!)",
              "template": "template", "not-in-inventory": "- (!)"}[row.relation]
    if guest is None:
        return [row.vmid, "-", "-", row.inventory_node, "absent", "-", "-", None, None, marker]
    return [row.vmid, guest.name, "ct" if guest.ref.kind == "lxc" else "vm", guest.ref.node, guest.status,
            uptime(guest.uptime) if guest.running else "-", _memory(guest), row.onboot, guest.lock, marker]


def _memory(guest: Any) -> str:
    if guest.running and guest.memory:
        return f"{short_size(guest.memory)}/{short_size(guest.max_memory)}"
    return short_size(guest.max_memory)


# ----------------------------------------------------------------------------------------- onboot
def render_onboot(opts: GlobalOptions, report: OnbootReport, *, fix: bool) -> None:
    if opts.json:
        data = run_as_dict(report.run)
        data["guests"] = [{"host": c.host, "cluster": c.cluster, "vmid": c.vmid,
                           "node": c.guest.ref.node if c.guest else None, "onboot": c.onboot, "reason": c.reason,
                           "would_change": c.call is not None} for c in report.checks]
        data["errors"] = {name: e.message for name, e in report.errors.items()}
        data["exit_code"] = int(report.exit_code)
        print_json(data)
        return
    for problem in report.errors.values():
        error(problem.message)
    if opts.dry_run:
        print_plan(report.run.plan, title="onboot: plan (dry run, nothing changed)")
        return
    rows = [[c.host, f"{c.cluster}/{c.vmid}", c.guest.ref.node if c.guest else "-", c.onboot, c.reason]
            for c in report.checks if not opts.quiet or c.problem]
    if rows and not (fix and report.run.results and opts.quiet):
        print_table("Start with their node (onboot)", ["host", "guest", "node", "onboot", "state"], rows)
    if report.run.declined:
        error("nothing changed")
    elif report.run.results:
        if not opts.quiet:
            print_table("onboot --fix", RESULT_COLUMNS, _result_rows(report.run.results))
        report_failures(report.run.results)
    elif not fix and report.run.changes and not opts.quiet:
        print_line(f"{len(report.run.changes)} guest(s) would not start with their node: "
                   "`chaton vm onboot --fix` sets onboot=1 on them")


# -------------------------------------------------------------------------------------- snapshots
def render_snapshots(opts: GlobalOptions, found: GuestSnapshots, now: dt.datetime) -> None:
    if opts.json:
        print_json({"host": found.vm.host, "cluster": found.vm.cluster, "vmid": found.vm.vmid,
                    "node": found.guest.ref.node,
                    "snapshots": [{"name": s.name, "taken": s.taken.isoformat() if s.taken else None,
                                   "vmstate": s.vmstate, "description": s.description, "parent": s.parent}
                                  for s in found.snapshots]})
        return
    if opts.quiet:
        return
    title = f"Snapshots of {found.vm.host} ({found.vm.cluster}/{found.vm.vmid} on {found.guest.ref.node})"
    if not found.snapshots:
        print_line(f"{title}: none")
        return
    print_table(title, ["name", "taken (UTC)", "age", "RAM", "description"],
                [[s.name, when(s.taken), age(s.taken, now), s.vmstate, s.description or "-"] for s in found.snapshots])


def render_prune(opts: GlobalOptions, report: PruneReport) -> None:
    if opts.json:
        data = run_as_dict(report.run)
        data["keep"] = [s.name for s in report.plan.keep]
        data["delete"] = [s.name for s in report.plan.delete]
        data["untouched"] = [s.name for s in report.plan.untouched]
        print_json(data)
        return
    if not opts.quiet:
        kept = ", ".join(s.name for s in report.plan.keep) or "none"
        print_line(f"keep: {kept}")
        if report.plan.untouched:
            print_line(f"not chaton's, never pruned: {', '.join(s.name for s in report.plan.untouched)}")
        if not report.plan.delete:
            print_line("nothing to delete")
    render_run(opts, report.run, title="Snapshot prune")


def render_rollback(opts: GlobalOptions, report: RollbackReport, host: str) -> None:
    if opts.json:
        data = run_as_dict(report.run)
        data.update(was_running=report.was_running, running_after=report.running_after)
        print_json(data)
        return
    render_run(opts, report.run, title=f"Rollback of {host}")
    if report.running_after is not None and not opts.quiet:
        print_line(f"{host} is {'running' if report.running_after else 'stopped'} "
                   f"(it was {'running' if report.was_running else 'stopped'} before the rollback)")


# ----------------------------------------------------------------------------------------- vzdump
def render_vzdump(opts: GlobalOptions, report: VzdumpReport) -> None:
    if opts.json:
        data = run_as_dict(report.run)
        data["errors"] = {name: e.message for name, e in report.errors.items()}
        data["exit_code"] = int(report.exit_code)
        print_json(data)
        return
    for problem in report.errors.values():
        error(problem.message)
    render_run(opts, report.run, title="vzdump")


def render_backups(opts: GlobalOptions, clusters: Sequence[ClusterBackups], now: dt.datetime) -> int:
    """Archives and stale guests per cluster; returns the exit code (1 when a guest is flagged)."""
    if opts.json:
        print_json([{"cluster": c.cluster, "storage": c.storage, "error": c.error.message if c.error else None,
                     "unknown_nodes": list(c.unknown_nodes),
                     "archives": [{"volid": a.volid, "vmid": a.vmid, "created": a.created.isoformat() if a.created
                                   else None, "age_hours": round((now - a.created).total_seconds() / 3600, 2)
                                   if a.created else None, "size": a.size, "protected": a.protected}
                                  for a in c.archives],
                     "guests": [{"vmid": f.guest.ref.vmid, "name": f.guest.name, "host": f.host,
                                 "newest": f.newest.volid if f.newest else None,
                                 "age_hours": round(f.age_hours, 2) if f.age_hours is not None else None,
                                 "max_age_hours": f.max_age_hours, "stale": f.stale, "known": f.known}
                                for f in c.freshness]} for c in clusters])
    names = {(c.cluster, g.ref.vmid): g.name for c in clusters for g in c.guests}
    for item in clusters:
        if item.error is not None:
            error(item.error.message)
            continue
        if item.storage is None:
            warn(f"{item.cluster}: no vzdump storage (proxmox.{item.cluster}.vzdump.storage, or --storage)")
            continue
        if not opts.json and not opts.quiet:
            rows = [[f"{a.vmid} {names.get((item.cluster, a.vmid or 0), '')}".strip(), a.name,
                     age(a.created, now), format_bytes(a.size)] for a in item.archives]
            print_table(f"Archives on {item.storage} ({item.cluster})", ["guest", "archive", "age", "size"], rows)
        for node in item.unknown_nodes:
            warn(f"{item.cluster}: node {node} is offline: its archives on {item.storage} could not be listed")
        if item.stale and not opts.json:
            print_table(f"Guests without a fresh archive ({item.cluster})",
                        ["guest", "host", "newest archive", "allowed"],
                        [[f"{f.guest.ref.vmid} {f.guest.name}", f.host or "-",
                          f"{format_hours(f.age_hours)} old" if f.newest else "none", format_hours(f.max_age_hours)]
                         for f in item.stale])
    if any(item.error for item in clusters):
        return int(next(item.error for item in clusters if item.error).exit_code)
    return 1 if any(item.stale for item in clusters) else 0
