"""`chaton history`: what ran, when, by whom, on what machine, and how it ended."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer

from chaton_ops.cli.context import global_options
from chaton_ops.cli.output import print_json, print_line, print_table

MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot exist


def history(
    ctx: typer.Context,
    run_id: Annotated[int | None, typer.Argument(min=1, max=MAX_RUN_ID, help="Show this run and its steps.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", max=MAX_RUN_ID,
                                       help="How many recent runs to list.")] = 20,
) -> None:
    """The journal: recent runs (id, when, command, user, machine, status, exit code), or one run's steps."""
    from chaton_ops.ops.compose import journal_path, open_journal_for_reading
    from chaton_ops.ops.history import read_history

    opts = global_options(ctx)
    where = journal_path()
    with open_journal_for_reading(where) as journal:
        found = read_history(journal, where, limit, run_id)
    if isinstance(found, dict):
        _show_run(found, opts.json)
    else:
        _show_runs(found, opts.json, opts.quiet)


def _show_runs(runs: list[dict[str, Any]], as_json: bool, quiet: bool) -> None:
    if as_json:
        print_json(runs)
        return
    if not runs:
        if not quiet:
            print_line("no run recorded yet")
        return
    print_table("Runs", ["id", "when (UTC)", "command", "user", "machine", "status", "exit"],
                [[r["id"], _when(r["started_at"]), shlex.join([r["command"], *r["args"]]), r["user"], r["machine"],
                  r["status"], r["exit_code"]] for r in runs])


def _show_run(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(run)
        return
    print_line(f"run {run['id']}: chaton {shlex.join([run['command'], *run['args']])} — {run['status']}"
               f" (exit {run['exit_code'] if run['exit_code'] is not None else '-'}), by {run['user']}"
               f" on {run['machine']}, {_when(run['started_at'])} → {_when(run['ended_at'])}")
    print_table("Steps", ["#", "target", "step", "status", "started", "detail"],
                [[index, s["target"], s["step"], _status(s), _when(s["started_at"])[11:], _detail(s["detail"])]
                 for index, s in enumerate(run["steps"], start=1)])


def _status(step: dict[str, Any]) -> str:
    attempt = step.get("attempt") or 1
    return step["status"] if attempt == 1 else f"{step['status']} (attempt {attempt})"


def _when(stamp: str | None) -> str:
    # Stored as ISO 8601 UTC; a table needs minutes, not the offset.
    return "-" if not stamp else stamp.replace("T", " ")[:19].removesuffix("+00:00")


def _detail(detail: dict[str, Any]) -> str:
    # a runbook step keeps {inputs, outputs, reason, error, earlier_attempts}: what it did matters most
    if "inputs" in detail:
        shown = {**detail.get("outputs", {})}
        for key in ("reason", "error"):
            if detail.get(key):
                shown[key] = detail[key]
        detail = shown
    return ", ".join(f"{key}={_compact(value)}" for key, value in detail.items()) or "-"


def _compact(value: Any) -> str:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)
