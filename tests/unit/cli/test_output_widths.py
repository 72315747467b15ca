"""Tables at 80 columns: the widest columns give way first, headers break between words, and a short value
(a size, a duration) is never broken in two."""

from __future__ import annotations

from chaton_ops.cli.output import COLUMN_GAP, fit_column_widths

BACKUPS = ["service", "host", "repository", "snapshot", "files new/changed", "data added", "duration", "result"]


def test_a_size_stays_on_one_line_and_the_long_header_gives_way():
    rows = [["site", "primary", "main", "1a2b3c4d", "1/0", "392.4 KiB", "5.0 s", "ok"]]

    widths = fit_column_widths(BACKUPS, rows, 80)

    assert widths is not None and sum(widths) + COLUMN_GAP * (len(widths) - 1) <= 80
    assert widths[BACKUPS.index("data added")] >= len("392.4 KiB")
    assert widths[BACKUPS.index("files new/changed")] >= len("new/changed")


def test_a_long_value_still_breaks_between_words():
    rows = [["site", "a rather long explanation of what went wrong on the host", "ok"]]

    widths = fit_column_widths(["service", "message", "result"], rows, 40)

    assert widths is not None and sum(widths) + COLUMN_GAP * 2 <= 40
