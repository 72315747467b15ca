"""`chaton inventory`: tables, check, show, schema."""

from __future__ import annotations

from typing import Annotated

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import print_json, print_line, print_table, warn

app = typer.Typer(help="Show, check and describe the inventory.", invoke_without_command=True, no_args_is_help=False)


@app.callback()
def overview(ctx: typer.Context) -> None:
    """Tables of hosts, services, tenants, repositories and DNS zones."""
    if ctx.invoked_subcommand is not None:
        return
    from chaton_ops.ops.inventory import describe_inventory

    opts = global_options(ctx)
    loaded = opts.load()
    tables = describe_inventory(loaded.inventory, placements=loaded.placements)
    if opts.json:
        print_json(tables)
        return
    print_table("Hosts", ["host", "kind", "address", "VM", "services"],
                [[r["name"], r["kind"], r["address"], r["vm"], r["services"]] for r in tables["hosts"]])
    # Repositories per service are in the Repositories table: seven columns do not fit 80 characters.
    print_table("Services", ["service", "host", "tenant", "priority", "fallback", "data"],
                [[r["name"], r["host"] if not r["moved"] else f"{r['host']} (home {r['home']}, moved "
                  f"{r['moved']['since'][:16].replace('T', ' ')} by run {r['moved']['run_id']})",
                  r["tenant"], r["priority"], r["fallback"],
                  r["data"] + r["databases"]] for r in tables["services"]])
    print_table("Tenants", ["tenant", "contact", "last contact", "repository", "services"],
                [[r["name"], r["contact"],
                  (r["last_contact"] or "-") + (" (over a year ago)" if r["inactive"] else ""),
                  r["repository"], r["services"]] for r in tables["tenants"]])
    print_table("Repositories", ["repository", "url", "password", "services"],
                [[r["name"], r["url"], r["password"], r["services"]] for r in tables["repositories"]])
    print_table("DNS zones", ["zone", "provider", "server", "TSIG key", "failover TTL"],
                [[r["zone"], r["provider"], r["server"], r["key_name"], r["failover_ttl"]] for r in tables["dns"]])


@app.command("check")
def check(
    ctx: typer.Context,
    path: Annotated[str | None, typer.Argument(help="Inventory file or directory (default: -i or its default).")] = None,
) -> None:
    """Validate the inventory and the playbook variables of its services: every error at once
    (file:line:column), exit 2 if any."""
    from chaton_ops.ops.compose import secret_file_warnings, service_manager
    from chaton_ops.ops.inventory_check import check_inventory

    opts = global_options(ctx)
    if path is not None:
        opts.inventory = path
    loaded = opts.load(placed=False)
    check_inventory(loaded, calendar=service_manager())
    inventory = loaded.inventory
    warnings = secret_file_warnings(loaded)
    for message in warnings:
        warn(message)
    files = [str(f) for f in loaded.files]
    summary = {
        "ok": True,
        "files": files,
        "hosts": len(inventory.hosts),
        "services": len(inventory.services),
        "tenants": len(inventory.tenants),
        "repositories": len(inventory.repositories),
        "warnings": warnings,
    }
    if opts.json:
        print_json(summary)
    elif not opts.quiet:
        print_line(f"inventory OK: {summary['hosts']} hosts, {summary['services']} services, "
                   f"{summary['tenants']} tenants, {summary['repositories']} repositories "
                   f"({', '.join(files)})")


@app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Host, service, tenant or repository.")]) -> None:
    """One host, service, tenant or repository, with everything that refers to it."""
    from chaton_ops.ops.inventory import show_object

    opts = global_options(ctx)
    found = show_object(opts.load(), name)
    if opts.json:
        print_json(found)
        return
    for item in found:
        rows = [["defined at", item["defined_at"]]]
        rows += [[key, _flat(value)] for key, value in item["settings"].items()]
        rows += [[key, _flat(value)] for key, value in item.items()
                 if key not in ("type", "name", "defined_at", "settings")]
        print_table(f"{item['type']} {item['name']}", ["field", "value"], rows)


@app.command("schema")
def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the inventory format (generated from the models)."""
    from chaton_ops.ops.inventory import inventory_schema

    print_json(inventory_schema())


@app.command("export")
def export(
    ctx: typer.Context,
    output_format: Annotated[str, typer.Option("--format", help="Output format: ansible.")] = "ansible",
) -> None:
    """Print the inventory in another tool's format (ansible: a YAML inventory with groups and host vars)."""
    from chaton_ops.errors import UsageError
    from chaton_ops.ops.export import FORMATS, export_inventory_text

    if output_format not in FORMATS:
        raise UsageError(f"unknown export format {output_format!r} (known: {', '.join(FORMATS)})")
    print(export_inventory_text(global_options(ctx).load(), output_format), end="")


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value) if value else "-"
    return "-" if value is None else str(value)
