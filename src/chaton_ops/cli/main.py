"""Root of the `chaton` command: global options, command groups, errors → messages and exit codes.

Command modules import heavy libraries (fabric, proxmoxer, httpx, dnspython) only inside the
commands that use them, so `chaton --help` and `chaton inventory check` start fast.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import sys
from typing import Annotated

import typer

from chaton_ops import __version__
from chaton_ops.cli import backup as backup_cli
from chaton_ops.cli import check as check_cli
from chaton_ops.cli import completion as completion_cli
from chaton_ops.cli import deploy as deploy_cli
from chaton_ops.cli import failover as failover_cli
from chaton_ops.cli import history as history_cli
from chaton_ops.cli import inventory as inventory_cli
from chaton_ops.cli import ping as ping_cli
from chaton_ops.cli import prune as prune_cli
from chaton_ops.cli import repo as repo_cli
from chaton_ops.cli import restore as restore_cli
from chaton_ops.cli import runbook_doc as runbook_cli
from chaton_ops.cli import schedule as schedule_cli
from chaton_ops.cli import snapshots as snapshots_cli
from chaton_ops.cli import status as status_cli
from chaton_ops.cli import tenant as tenant_cli
from chaton_ops.cli import vm as vm_cli
from chaton_ops.cli.argv import hoist_global_options
from chaton_ops.cli.context import GlobalOptions
from chaton_ops.core.masking import mask_text
from chaton_ops.errors import ChatonError, Verdict, exit_code_for

try:  # recent typer carries its own copy of click and raises that copy's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(
    name="chaton",
    help="Ops toolkit of a hosting collective: inventory, backups, health checks, failover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(inventory_cli.app, name="inventory")
app.command("history")(history_cli.history)
app.command("ping")(ping_cli.ping)
app.command("deploy")(deploy_cli.deploy)
app.command("backup")(backup_cli.backup)
app.command("snapshots")(snapshots_cli.snapshots)
app.command("check")(check_cli.check)
app.command("prune")(prune_cli.prune)
app.command("status")(status_cli.status)
app.command("restore")(restore_cli.restore)
app.command("drill")(restore_cli.drill)
app.add_typer(repo_cli.app, name="repo")
app.add_typer(vm_cli.app, name="vm")
app.command("failover")(failover_cli.failover)
app.command("failback")(failover_cli.failback)
app.add_typer(schedule_cli.app, name="schedule")
app.add_typer(tenant_cli.app, name="tenant")
app.command("runbook")(runbook_cli.runbook)
app.command("completion")(completion_cli.completion)


def _version(value: bool) -> None:
    if value:
        print(f"chaton {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    inventory: Annotated[str | None, typer.Option(
        "-i", "--inventory", metavar="PATH",
        help="Inventory file or directory of *.yml (else $CHATON_INVENTORY, else ./inventory/).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More detail on stderr (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only problems (for cron).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before destructive steps.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Ops toolkit of a hosting collective: inventory, backups, health checks, failover."""
    ctx.obj = GlobalOptions(inventory=inventory, json=json_output, verbose=verbose, quiet=quiet,
                            dry_run=dry_run, yes=yes)
    _configure_logging(verbose, quiet)


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(_MaskingFilter())
    root_logger = logging.getLogger()
    root_logger.handlers[:] = [handler]
    root_logger.setLevel(level)
    for noisy in ("paramiko", "invoke", "fabric", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if verbose < 2 else logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    """Run chaton with `argv`; return the exit code. No traceback reaches the user for expected errors."""
    from chaton_ops.cli.output import error, use_any_terminal_encoding

    use_any_terminal_encoding()
    try:
        return _run_command(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        return _output_closed()
    except SystemExit as stop:
        # click (and rich) turn a closed pipe into `sys.exit(1)` while handling it: the reader went
        # away (`chaton inventory | head -1`), which is no failure of chaton's
        if _is_broken_pipe(stop.__context__):
            return _output_closed()
        raise
    except KeyboardInterrupt:
        error("interrupted")
        return int(exit_code_for(Verdict.INTERRUPTED))


def _run_command(argv: list[str]) -> int:
    from chaton_ops.cli.output import error

    completion_cli.prepare_if_completing(dict(os.environ))
    command = typer.main.get_command(app)
    try:
        args = hoist_global_options(argv, command)
        result = command.main(args=args, prog_name="chaton", standalone_mode=False)
    except ChatonError as failure:
        error(mask_text(failure.message))
        return int(failure.exit_code)
    except click_errors.NoArgsIsHelpError as failure:
        typer.echo(failure.ctx.get_help() if failure.ctx else "", err=False)
        return int(exit_code_for(Verdict.OK))
    except click_errors.UsageError as failure:
        error(one_line_usage_error(failure))
        return int(exit_code_for(Verdict.USAGE))
    except click_errors.ClickException as failure:
        error(" ".join(failure.format_message().split()))
        return int(exit_code_for(Verdict.FAILED))
    except typer.Abort:
        error("aborted")
        return int(exit_code_for(Verdict.DECLINED))
    if result == 130:  # typer turns Ctrl-C into a silent `Exit(130)`
        error("interrupted")
    return int(result or 0)


def one_line_usage_error(failure: click_errors.UsageError) -> str:
    """click's four-line usage error as one line: the problem, then where to read the usage."""
    message = " ".join(failure.format_message().split()).rstrip(".")
    where = failure.ctx.command_path if failure.ctx else "chaton"
    return f"{message} (see: {where} --help)"


def _is_broken_pipe(failure: BaseException | None) -> bool:
    return isinstance(failure, BrokenPipeError) or (isinstance(failure, OSError) and failure.errno == errno.EPIPE)


def _output_closed() -> int:
    """Whoever read stdout is gone: later writes (and the flush at exit) go nowhere, quietly."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return int(exit_code_for(Verdict.OUTPUT_CLOSED))
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)
    return int(exit_code_for(Verdict.OUTPUT_CLOSED))


def run() -> None:
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _output_closed()
    # At exit the interpreter's cyclic collector walks every object the imports and the models made
    # (≈ 50 ms, paid by every command, cron backups included); nothing needs collecting any more.
    gc.freeze()
    sys.exit(code)
