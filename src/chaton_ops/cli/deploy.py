"""`chaton deploy SERVICE [--to HOST]`: run the service's playbook on a host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import escape, print_json, print_table, stdout, warn

if TYPE_CHECKING:
    from chaton_ops.ops.deploy import DeployReport


def deploy(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service whose playbook runs (services.NAME.playbook).")],
    to: Annotated[str | None, typer.Option("--to", metavar="HOST",
                                           help="Host to deploy on (default: the service's host).")] = None,
    after_restore: Annotated[bool, typer.Option("--after-restore",
                                                help="Run the playbook's after_restore steps instead.")] = False,
) -> None:
    """Run the service's playbook: each step reports ok / changed / failed; --dry-run shows diffs."""
    from chaton_ops.cli.plan_view import Progress, plan_as_json, runbook_json
    from chaton_ops.cli.plan_view import print_plan as print_runbook
    from chaton_ops.errors import ChatonError, CommandFailed
    from chaton_ops.ops.deploy_run import DeployRequest, deploy_service

    opts = global_options(ctx)
    request = DeployRequest(service, to, phase="after_restore" if after_restore else "steps", dry_run=opts.dry_run)
    deployment = deploy_service(opts.load(), request, on_event=Progress(opts), warn=warn)
    if opts.dry_run and not opts.json:
        print_runbook(deployment.plan, "Runbook: deploy (dry run)",
                      detail=lambda step: f"playbook {step.inputs['playbook']}, {step.inputs['steps']} steps"
                                          + (" (after_restore)" if step.inputs["phase"] == "after_restore" else ""))
        stdout().print("", highlight=False)
    summary = runbook_json(deployment.run.summary() if deployment.run is not None else None)
    for report in deployment.reports:
        if opts.json:
            extra = {"plan": plan_as_json(deployment.plan)} if opts.dry_run else summary
            print_json({**report_as_dict(report), **extra})
        elif opts.dry_run:
            print_plan(report)
        elif not opts.quiet or report.failure:
            print_table(f"deploy {report.service} on {report.host} (playbook {report.playbook})",
                        ["#", "step", "status", "detail"],
                        [[o.index + 1, o.label, o.status, o.reason] for o in report.outcomes])
        failure = report.failure
        if failure is not None:
            if failure.returncode is not None:
                raise CommandFailed(report.host, list(failure.argv), failure.returncode, failure.output_tail)
            raise ChatonError(f"{report.host}: step {failure.index + 1} ({failure.label}): {failure.message}")


def print_plan(report: DeployReport) -> None:
    stdout().print(f"deploy {report.service} on {report.host} (playbook {report.playbook}) — dry run, "
                 "nothing changed", highlight=False)
    for plan in report.plans:
        status = "error" if plan.error else ("would change" if plan.changes else "ok")
        reason = plan.error or plan.reason
        stdout().print(f"\n[bold]{plan.index + 1}. {escape(plan.label)}[/bold]: {status} ({escape(reason)})",
                     highlight=False)
        for action in plan.actions:
            stdout().print(f"    {escape(action.describe())}", highlight=False)
        if plan.diff:
            stdout().print(escape(plan.diff.rstrip("\n")), highlight=False, markup=False, soft_wrap=True)
    changed = sum(1 for p in report.plans if p.changes)
    stdout().print(f"\n{changed} of {len(report.plans)} steps would change", highlight=False)


def report_as_dict(report: DeployReport) -> dict[str, Any]:
    data: dict[str, Any] = {"service": report.service, "host": report.host, "playbook": report.playbook,
                            "phase": report.phase, "dry_run": report.dry_run}
    if report.dry_run:
        data["steps"] = [{"step": p.index + 1, "name": p.label, "kind": p.kind, "changes": p.changes,
                          "reason": p.error or p.reason, "actions": [a.describe() for a in p.actions],
                          "diff": p.diff, "content": p.content} for p in report.plans]
    else:
        data["steps"] = [{"step": o.index + 1, "name": o.label, "kind": o.kind, "status": o.status,
                          "reason": o.reason, "commands": list(o.commands)} for o in report.outcomes]
        data["changed"] = report.changed
    if report.failure is not None:
        data["failure"] = {"step": report.failure.index + 1, "message": report.failure.message,
                           "argv": list(report.failure.argv), "exit_code": report.failure.returncode,
                           "output_tail": report.failure.output_tail}
    return data
