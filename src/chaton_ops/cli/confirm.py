"""Asking before a destructive step: the one helper every command uses.

`--yes` answers for the user. Without it, chaton asks on the terminal and goes on only on `y` or
`yes`; with no terminal to ask on (cron, a pipe, CI) it refuses rather than guess: a destructive step
never runs because nobody was there to say no.
"""

from __future__ import annotations

import sys
from typing import TextIO

from chaton_ops.cli.context import GlobalOptions
from chaton_ops.errors import ConfirmationRequired, Declined

YES_ANSWERS = ("y", "yes")


def confirm(opts: GlobalOptions, action: str, *, stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Return if the user agrees to `action` ("remove every restic lock of main", or a question), else raise.

    Raises ConfirmationRequired (exit 2) without a terminal and without --yes, Declined (exit 1) on any
    answer but yes, end of input included. Nothing is asked in a dry run: nothing will be done.
    """
    if opts.yes or opts.dry_run:
        return
    reader = stdin or sys.stdin
    writer = stderr or sys.stderr
    statement = action.rstrip().rstrip("?")
    if not (_is_terminal(reader) and _is_terminal(writer)):
        raise ConfirmationRequired(f"{statement}: this needs a confirmation and there is no terminal to ask on; "
                                   f"add --yes to go ahead")
    writer.write(f"{statement}? [y/N] ")
    writer.flush()
    answer = reader.readline()
    if answer.strip().lower() not in YES_ANSWERS:
        if not answer.endswith("\n"):
            writer.write("\n")
        raise Declined("not confirmed: nothing was done")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
