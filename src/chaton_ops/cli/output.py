"""Data on stdout (tables or JSON), messages and progress on stderr.

rich is imported on first use, not when this module is: `chaton --help` and `chaton inventory check`
print a line or two and must start fast. `stdout()` and `stderr()` return the rich consoles, created
when first called, so they may be imported at the top of a command module.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Between two columns: one space of padding and the (blank) vertical rule.
COLUMN_GAP = 2
# A word longer than this (a path, a URL) may be folded rather than widen its column.
LONGEST_UNBROKEN_WORD = 24
MIN_COLUMN = 6
SHORT_CELL = 12  # a cell line this short (a size, a duration) is not broken while headers can give way


@cache
def _console(to_stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=True) if to_stderr else Console(soft_wrap=False)


def stdout() -> Console:
    """The rich console of stdout (data), created on first use: importing this module costs nothing."""
    return _console(False)


def stderr() -> Console:
    """The rich console of stderr (messages, progress), created on first use.

    A real Console, never a stand-in: rich uses it as a context manager and reads its attributes
    in places no proxy can foresee (the progress display crashed on one)."""
    return _console(True)


# Characters a terminal encoding must hold for chaton's output to pass through unchanged.
_SAMPLE_TEXT = "é→…✓"
_LENIENT_ERRORS = ("backslashreplace", "replace", "namereplace", "xmlcharrefreplace", "ignore")


def use_any_terminal_encoding() -> None:
    """Let stdout and stderr take any text, whatever the locale's encoding (LANG=C with PYTHONUTF8=0:
    ASCII): a character the encoding lacks is written as a `\\xe9`-style escape instead of raising.
    JSON escapes such characters itself (`print_json`), so it stays valid."""
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        if errors in _LENIENT_ERRORS or not hasattr(stream, "reconfigure"):
            continue
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text stream we may change (a test's capture)
            pass


def _holds_any_text(stream: Any) -> bool:
    try:
        _SAMPLE_TEXT.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def print_json(data: Any) -> None:
    # \u escapes where stdout cannot hold every character: the document stays valid JSON
    text = json.dumps(data, indent=2, default=str, ensure_ascii=not _holds_any_text(sys.stdout))
    sys.stdout.write(text + "\n")


def print_line(text: str) -> None:
    """One plain line of data on stdout (no markup, no highlighting)."""
    sys.stdout.write(text + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table on stdout, readable at 80 columns: the first column (the name) never wraps, other cells
    wrap between words, lists are shown one item a line and only a word too long for any column (a long path or
    URL) is folded."""
    from rich import box
    from rich.table import Table

    cells = [[format_cell(cell) for cell in row] for row in rows]
    console = _console(False)
    widths = fit_column_widths(columns, cells, console.width)
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  min_width=min(len(title), console.width))  # a narrow table does not fold its title
    for index, column in enumerate(columns):
        table.add_column(column, no_wrap=index == 0, overflow="fold", width=widths[index] if widths else None)
    for row in cells:
        table.add_row(*row)
    console.print(table)


def fit_column_widths(columns: Sequence[str], cells: list[list[str]], total: int) -> list[int] | None:
    """Column widths that fit `total` characters, or None when the natural widths already fit.

    Rich shrinks every column evenly, which breaks short names mid-word; here the widest columns give
    way first, down to their longest word, and only then below it. The first column (the name) stays
    whole."""
    gap = COLUMN_GAP
    available = total - gap * (len(columns) - 1)
    wanted = [max([len(column), *(len(line) for row in cells for line in row[i].splitlines())])
              for i, column in enumerate(columns)]
    if sum(wanted) <= available:
        return None
    floors = [wanted[0]] + [
        min(wanted[i], max([len(word) for word in column.split()]
                           + [_unbroken(line) for row in cells for line in row[i].splitlines()]), LONGEST_UNBROKEN_WORD)
        for i, column in enumerate(columns) if i > 0
    ]
    widths = list(wanted)
    for limit in (floors, [wanted[0]] + [min(f, MIN_COLUMN) for f in floors[1:]]):
        while sum(widths) > available:
            slack = [(widths[i] - limit[i], i) for i in range(len(widths)) if widths[i] > limit[i]]
            if not slack:
                break
            widths[max(slack)[1]] -= 1
    return widths


def _unbroken(line: str) -> int:
    """How narrow a cell's line may get before it breaks: a short value (`392.4 KiB`, `5.0 s`) stays whole,
    a longer one breaks between words."""
    return len(line) if len(line) <= SHORT_CELL else max((len(word) for word in line.split()), default=0)


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value) if value else "-"
    return str(value)


def warn(message: str) -> None:
    _message("warning", "33", message)


def error(message: str) -> None:
    _message("error", "31", message)


def _message(label: str, colour: str, message: str) -> None:
    # Plain text, not rich: a message is never re-wrapped at 80 columns (file:line stays on one line,
    # greppable) and printing an error costs no import.
    stream = sys.stderr
    if stream.isatty() and not os.environ.get("NO_COLOR"):
        label = f"\x1b[{colour}m{label}:\x1b[0m"
    else:
        label += ":"
    stream.write(f"{label} {message}\n")
    stream.flush()


def escape(text: str) -> str:
    """Escape rich markup in `text` (for callers that print through the rich consoles)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
