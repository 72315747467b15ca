"""systemd calendar expressions read without systemd: the same normalized form as systemd-analyze gives
(asked for real where it is installed), and the same schedule in cron's words."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from chaton_ops.core.calendar import CalendarError, parse_calendar

DOCUMENTED = {
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "hourly": "*-*-* *:00:00",
    "*-*-* 02:30": "*-*-* 02:30:00",
    "Sun *-*-* 04:00": "Sun *-*-* 04:00:00",
    "Mon..Fri 06:15": "Mon..Fri *-*-* 06:15:00",
    "Sat,Sun *-*-* 10:00": "Sat,Sun *-*-* 10:00:00",
    "*:0/5": "*-*-* *:00/5:00",
    "*-*-01 06:00": "*-*-01 06:00:00",
    "*-01,07-01 03:00": "*-01,07-01 03:00:00",
    "02:30": "*-*-* 02:30:00",
    "2027-03-01 04:00:30": "2027-03-01 04:00:30",
}


@pytest.mark.parametrize("expression, normalized", DOCUMENTED.items())
def test_documented_forms_normalize_as_systemd_says(expression, normalized):
    assert parse_calendar(expression).normalized() == normalized


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("expression", DOCUMENTED)
def test_systemd_analyze_normalizes_them_the_same_way(expression):
    done = subprocess.run(["systemd-analyze", "calendar", "--iterations=1", expression], capture_output=True,
                          text=True, check=True)
    theirs = next(line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if "Normalized form" in line)
    assert parse_calendar(expression).normalized() == theirs


@pytest.mark.parametrize("expression, fields", [
    ("*-*-* 02:30", "30 2 * * *"), ("Sun *-*-* 04:00", "0 4 * * 0"), ("Mon..Fri 06:15", "15 6 * * 1,2,3,4,5"),
    ("*:0/5", "*/5 * * * *"), ("*:10/20", "10-59/20 * * * *"), ("*-*-01 06:00", "0 6 1 * *"),
    ("hourly", "0 * * * *"), ("*-01,07-01 03:00", "0 3 1 1,7 *"), ("*-*-* 08..18:00", "0 8-18 * * *"),
])
def test_cron_says_the_same_schedule(expression, fields):
    assert parse_calendar(expression).cron_fields() == fields


@pytest.mark.parametrize("expression, message", [
    ("*-*-* 02:30:15", "seconds must be 0"), ("2027-*-* 02:00", "cannot restrict the year"),
    ("Mon *-*-01 02:00", "both a day of the month and a weekday"),
])
def test_what_cron_cannot_say_is_refused_with_the_reason(expression, message):
    with pytest.raises(CalendarError, match=message):
        parse_calendar(expression).cron_fields()


@pytest.mark.parametrize("expression, message", [
    ("", "is empty"), ("every night", "'every' is not a weekday"), ("*-*-* 25:00", "hour 25 is out of range"),
    ("*-13-01", "month 13 is out of range"), ("Fri..Mon 02:00", "runs backwards"), ("*:0/0", "step above 0"),
    ("*-*-* 02:30 Europe/Paris", "time zones are not among the documented forms"), ("02:30:00:00", "cannot read"),
])
def test_bad_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(CalendarError, match=message):
        parse_calendar(expression)
