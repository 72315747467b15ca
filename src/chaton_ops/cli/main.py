"""Root of the `chaton` command: global options, command groups, errors → messages and exit codes.

Command modules import heavy libraries (fabric, proxmoxer, httpx, dnspython) only inside the
commands that use them, so `chaton --help` and `chaton inventory check` start fast.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Annotated

import typer

from chaton_ops import __version__
from chaton_ops.cli import backup as backup_cli
from chaton_ops.cli import check as check_cli
from chaton_ops.cli import deploy as deploy_cli
from chaton_ops.cli import history as history_cli
from chaton_ops.cli import inventory as inventory_cli
from chaton_ops.cli import ping as ping_cli
from chaton_ops.cli import repo as repo_cli
from chaton_ops.cli import snapshots as snapshots_cli
from chaton_ops.cli import status as status_cli
from chaton_ops.cli import vm as vm_cli
from chaton_ops.cli.context import Options
from chaton_ops.core.masking import mask_text
from chaton_ops.errors import ChatonError, ExitCode

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
app.command("status")(status_cli.status)
app.add_typer(repo_cli.app, name="repo")
app.add_typer(vm_cli.app, name="vm")

# Flags that belong to the root callback but that admins write after the subcommand
# (`chaton backup --all --dry-run`): moved in front of it before click parses argv.
GLOBAL_FLAGS = {"--json", "-v", "--verbose", "-vv", "-q", "--quiet", "--dry-run", "--yes", "-y"}
GLOBAL_WITH_VALUE = {"-i", "--inventory"}


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
    ctx.obj = Options(inventory=inventory, json=json_output, verbose=verbose, quiet=quiet, dry_run=dry_run, yes=yes)
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


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move root options written after a subcommand in front of it; stop at `--`."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        name = arg.split("=", 1)[0]
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        elif name in GLOBAL_WITH_VALUE:
            front.append(arg)
            if "=" not in arg and index + 1 < len(argv):
                index += 1
                front.append(argv[index])
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    """Run chaton with `argv`; return the exit code. No traceback reaches the user for expected errors."""
    from chaton_ops.cli.output import error

    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="chaton", standalone_mode=False)
    except ChatonError as failure:
        error(mask_text(failure.message))
        return int(failure.exit_code)
    except click_errors.NoArgsIsHelpError as failure:
        typer.echo(failure.ctx.get_help() if failure.ctx else "", err=False)
        return int(ExitCode.OK)
    except click_errors.UsageError as failure:
        failure.show()
        return int(ExitCode.USAGE)
    except click_errors.ClickException as failure:
        failure.show()
        return int(ExitCode.FAILED)
    except typer.Abort:
        error("aborted")
        return int(ExitCode.FAILED)
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        return int(ExitCode.OK)
    return int(result or 0)


def run() -> None:
    code = main()
    # At exit the interpreter's cyclic collector walks every object the imports and the models made
    # (≈ 50 ms, paid by every command, cron backups included); nothing needs collecting any more.
    gc.freeze()
    sys.exit(code)
