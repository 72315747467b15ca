"""`chaton tenant list|export|remove`: the collective's rules on inactive members; members take their data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import escape, print_json, print_table, stderr, stdout, warn

app = typer.Typer(help="Tenants: who is silent past the collective's limit, their data as one archive, "
                       "their removal.", no_args_is_help=True)


@app.command("list")
def list_tenants(
    ctx: typer.Context,
    no_sizes: Annotated[bool, typer.Option("--no-sizes", help="Do not ask the repositories for data sizes.")] = False,
) -> None:
    """Each tenant: services, data size (newest snapshots), last contact, and whether it is past the
    collective's limit (defaults.inactive_after). Exit 0; 3 when some sizes could not be read."""
    from chaton_ops.core.units import format_bytes
    from chaton_ops.ops.tenants import list_tenants as list_rows

    opts = global_options(ctx)
    loaded = opts.load()
    if no_sizes:
        rows = list_rows(loaded, None)
    else:
        from chaton_ops.ops.compose import inventory_secrets, on_hosts

        rows = on_hosts(loaded, lambda transports: list_rows(loaded, transports, secrets=inventory_secrets(loaded),
                                                             jobs=loaded.inventory.defaults.jobs))
    limit = loaded.inventory.defaults.inactive_after
    if opts.json:
        print_json({"inactive_after_days": limit, "tenants": [
            {"tenant": r.name, "contact": r.contact, "services": r.services, "data_bytes": r.data_bytes,
             "last_contact": r.inactivity.last_contact.isoformat() if r.inactivity.last_contact else None,
             "days_since_contact": r.inactivity.days, "past_limit": r.inactivity.past_limit, "problem": r.problem}
            for r in rows]})
    elif not opts.quiet:
        print_table(f"Tenants (limit: {f'{limit} days without contact' if limit else 'none set'})",
                    ["tenant", "services", "data", "last contact", "status"],
                    [[r.name, r.services, format_bytes(r.data_bytes) if r.data_bytes is not None else
                      ("-" if no_sizes else "unknown"),
                      r.inactivity.last_contact.isoformat() if r.inactivity.last_contact else "-",
                      ("PAST THE LIMIT: " if r.inactivity.past_limit else "") + r.inactivity.describe()]
                     for r in rows])
    for row in rows:
        if row.problem:
            warn(f"{row.name}: data size unknown: {row.problem}")
    if any(row.problem for row in rows):
        raise typer.Exit(3)


@app.command("export")
def export(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="The tenant whose data is exported.")],
    to: Annotated[Path, typer.Option("--to", metavar="FILE", help="The archive to write: .tar.gz, .tgz or .tar.")],
) -> None:
    """Write one archive with the tenant's newest snapshot of every service, its databases as SQL dumps,
    and a manifest: what a member takes with them. Nothing is changed anywhere. Exit 0 written, 1 failed."""
    from chaton_ops.core.tenants import check_tenant
    from chaton_ops.core.units import format_bytes
    from chaton_ops.ops.compose import inventory_secrets, on_hosts
    from chaton_ops.ops.tenants import export_tenant

    opts = global_options(ctx)
    loaded = opts.load()
    check_tenant(loaded.inventory, tenant)
    show = not opts.quiet and not opts.json and stderr().is_terminal
    progress = (lambda text: stderr().print(f"… {escape(text)}", highlight=False)) if show else None
    report = on_hosts(loaded, lambda transports: export_tenant(loaded, tenant, transports, to,
                                                               secrets=inventory_secrets(loaded), progress=progress))
    if opts.json:
        print_json({"tenant": tenant, "archive": str(to), "files": report.files, "bytes": report.bytes,
                    "services": [{"service": s.service, "host": s.host, "repository": s.repository,
                                  "data": s.data, "databases": s.databases} for s in report.services]})
    elif not opts.quiet:
        print_table(f"Export of {tenant}", ["service", "data snapshot", "files", "databases"],
                    [[s.service, s.data["snapshot"][:8] if s.data else "-",
                      f"{s.data['files']} ({format_bytes(s.data['bytes'])})" if s.data else "-",
                      [d["file"].rsplit("/", 1)[1] if d.get("file") else f"{d['database']}: no dump"
                       for d in s.databases]] for s in report.services])
        stdout().print(f"written: {escape(str(to))} ({report.files} file{'s' if report.files != 1 else ''}, "
                       f"{format_bytes(report.bytes)}, "
                       "manifest.json inside)", highlight=False, soft_wrap=True)


@app.command("remove")
def remove(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="The tenant who leaves.")],
    force: Annotated[bool, typer.Option("--force", help="Remove even inside the collective's limit "
                                                        "(the member asked to leave).")] = False,
    export_to: Annotated[Path | None, typer.Option(
        "--export-to", metavar="FILE", help="Where the export taken first goes (default: exports/ in chaton's "
        "state folder).")] = None,
) -> None:
    """Remove a tenant: an export first, then each service undeployed, its data and databases removed
    on its host, its snapshots forgotten. Refused inside defaults.inactive_after unless --force; the plan
    first (--dry-run stops there), then a confirmation (--yes; refused without a terminal); journaled.
    Exit 0 done, 1 failed or not confirmed, 2 refused, 3 partly done."""
    import datetime as dt

    from chaton_ops.cli.plan_view import Progress, print_run, run_as_json, show_plan_and_confirm
    from chaton_ops.ops.compose import state_folder
    from chaton_ops.ops.tenant_remove import (
        default_export_path,
        inventory_advice,
        prepare_removal,
        remove_tenant,
    )

    opts = global_options(ctx)
    loaded = opts.load()
    target = export_to or default_export_path(state_folder(), tenant, dt.datetime.now())
    plan = prepare_removal(loaded, tenant, export_to=target, force=force)
    services = plan.inputs["services"]
    question = (f"Remove {tenant} for good: undeploy {', '.join(services) or 'no service'}, delete their data, "
                f"databases and snapshots (the export comes first, to {target})")
    if not show_plan_and_confirm(opts, plan, f"Removal of {tenant}", question, detail=_detail):
        return
    result = remove_tenant(loaded, plan, args=[tenant, *(["--force"] if force else []), "--export-to", str(target)],
                           on_event=Progress(opts), warn=warn)
    if opts.json:
        print_json(run_as_json(result))
    elif not opts.quiet:
        print_run(result, f"Removal of {tenant}", ["step", "on", "result"],
                  lambda r: [r.step.title, r.step.host or "-", r.status])
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))
    if not opts.json:
        stdout().print(escape(inventory_advice(loaded, tenant)), highlight=False, soft_wrap=True)


def _detail(step: Any) -> str:
    if step.action == "export":
        return f"to {step.inputs['to']}"
    if step.action == "remove-data":
        return ", ".join([*step.inputs["paths"], *step.inputs["databases"]])
    return ""
