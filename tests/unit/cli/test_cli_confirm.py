"""The one confirmation helper of destructive steps: --yes, a terminal's answer, or a refusal."""

from __future__ import annotations

import io

import pytest

from chaton_ops.cli.confirm import confirm
from chaton_ops.cli.context import GlobalOptions
from chaton_ops.errors import ConfirmationRequired, Declined, ExitCode


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def ask(answer: str | None, *, yes: bool = False, dry_run: bool = False, terminal: bool = True) -> str:
    """Ask, with `answer` typed (None: nothing can be typed); return what was shown on stderr."""
    stdin = (Terminal if terminal else io.StringIO)(answer or "")
    stderr = Terminal() if terminal else io.StringIO()
    confirm(GlobalOptions(yes=yes, dry_run=dry_run), "remove every lock of main", stdin=stdin, stderr=stderr)
    return stderr.getvalue()


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n", " YES \n"])
def test_yes_on_the_terminal_goes_ahead(answer: str) -> None:
    assert ask(answer) == "remove every lock of main? [y/N] "


@pytest.mark.parametrize("answer", ["\n", "n\n", "no\n", "yess\n", "oui\n", ""])  # "" is the end of input
def test_anything_else_on_the_terminal_declines_and_exits_1(answer: str) -> None:
    with pytest.raises(Declined, match="^not confirmed: nothing was done$") as declined:
        ask(answer)

    assert declined.value.exit_code == ExitCode.FAILED


def test_without_a_terminal_it_refuses_rather_than_guess_and_exits_2() -> None:
    with pytest.raises(ConfirmationRequired, match="no terminal to ask on; add --yes to go ahead") as refused:
        ask("y\n", terminal=False)  # a `y` piped in is not a person answering

    assert refused.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("terminal", [True, False])
def test_yes_or_a_dry_run_asks_nothing(terminal: bool) -> None:
    assert ask(None, yes=True, terminal=terminal) == ""
    assert ask(None, dry_run=True, terminal=terminal) == ""
