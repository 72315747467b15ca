"""systemd calendar expressions (systemd.time(7)), the forms chaton documents: parsed without systemd,
normalized, and turned into a cron schedule where systemd is absent.

The documented forms:
- the shorthands `minutely`, `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `semiannually`,
  `yearly` (`annually`);
- `[WEEKDAYS] [[YYYY-]MM-DD] [HH:MM[:SS]]`: WEEKDAYS a day name (`Mon`, `Monday`), a list (`Sat,Sun`) or
  a range (`Mon..Fri`); each number component `*`, a number, a list (`1,15`), a range (`1..5`) or a
  repetition (`*/2`, `0/15`, start/step). A missing date is every day; a missing time is midnight; a
  missing seconds field is 0.

`systemd-analyze calendar` knows more (time zones, `~` for the last days of a month): where it is
installed, `chaton inventory check` asks it about what this parser does not know (ops/inventory_check.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHORTHANDS: dict[str, str] = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# (lowest, highest) of each component, and its name in messages
_RANGES = {"year": (1970, 2199), "month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59),
           "second": (0, 59)}
_ITEM = re.compile(r"^(?:(?P<star>\*)|(?P<start>\d{1,4})(?:\.\.(?P<end>\d{1,4}))?)(?:/(?P<step>\d{1,4}))?$")


class CalendarError(ValueError):
    """Not a calendar expression of the documented forms; the message says what is wrong."""


@dataclass(frozen=True)
class Item:
    """One list item of a component: `*`, N, A..B, with an optional /STEP."""

    start: int | None  # None: `*`
    end: int | None = None
    step: int | None = None

    def render(self, width: int = 2) -> str:
        text = "*" if self.start is None else f"{self.start:0{width}d}"
        if self.end is not None:
            text += f"..{self.end:0{width}d}"
        return text + (f"/{self.step}" if self.step else "")


Component = tuple[Item, ...]
ANY: Component = (Item(None),)


@dataclass(frozen=True)
class Calendar:
    """A parsed expression: weekdays (0 = Monday; empty: any) and the six number components."""

    weekdays: tuple[int, ...]
    year: Component
    month: Component
    day: Component
    hour: Component
    minute: Component
    second: Component

    def normalized(self) -> str:
        """The normalized form, as `systemd-analyze calendar` prints it (`Mon *-*-* 02:30:00`)."""
        days = _render_weekdays(self.weekdays)
        date = "-".join(_render(c, width) for c, width in ((self.year, 4), (self.month, 2), (self.day, 2)))
        time = ":".join(_render(c, 2) for c in (self.hour, self.minute, self.second))
        return f"{days + ' ' if days else ''}{date} {time}"

    def cron_fields(self) -> str:
        """The five fields of a crontab line (minute hour day month weekday), or CalendarError when cron
        cannot say the same thing (seconds, years, a day of the month and a weekday together)."""
        if self.year != ANY:
            raise CalendarError("cron cannot restrict the year: use `*` (or systemd timers)")
        if self.second != (Item(0),):
            raise CalendarError("cron runs at whole minutes: the seconds must be 0 (or use systemd timers)")
        if self.day != ANY and self.weekdays:
            # cron runs when EITHER the day of the month OR the weekday matches; systemd wants both
            raise CalendarError("cron cannot require both a day of the month and a weekday (or use systemd timers)")
        fields = [_cron(self.minute, "minute"), _cron(self.hour, "hour"), _cron(self.day, "day"),
                  _cron(self.month, "month")]
        fields.append(",".join(str((day + 1) % 7) for day in self.weekdays) if self.weekdays else "*")
        return " ".join(fields)


def parse_calendar(text: str) -> Calendar:
    """Parse one expression of the documented forms; CalendarError says what is wrong."""
    expression = " ".join(text.split())
    if not expression:
        raise CalendarError("is empty: give a calendar expression such as `*-*-* 02:30` or `daily`")
    expression = SHORTHANDS.get(expression.lower(), expression)
    words = expression.split(" ")
    weekdays: tuple[int, ...] = ()
    if words and re.match(r"^[A-Za-z]", words[0]):
        weekdays = _parse_weekdays(words.pop(0))
    date = time = None
    for word in words:
        if ":" in word and time is None:
            time = word
        elif "-" in word and date is None and time is None:
            date = word
        else:
            raise CalendarError(f"cannot read {word!r} (expected [WEEKDAYS] [[YYYY-]MM-DD] [HH:MM[:SS]]; "
                                "time zones are not among the documented forms)")
    if not words and not weekdays:
        raise CalendarError("is empty")
    year, month, day = _parse_date(date) if date is not None else (ANY, ANY, ANY)
    hour, minute, second = _parse_time(time) if time is not None else ((Item(0),), (Item(0),), (Item(0),))
    return Calendar(weekdays, year, month, day, hour, minute, second)


def _parse_weekdays(word: str) -> tuple[int, ...]:
    chosen: set[int] = set()
    for part in word.split(","):
        ends = part.split("..")
        if len(ends) > 2 or not all(ends):
            raise CalendarError(f"cannot read the weekdays {word!r} (e.g. Mon, Sat,Sun or Mon..Fri)")
        first, last = (_weekday(end) for end in (ends[0], ends[-1]))
        if last < first:
            raise CalendarError(f"the weekday range {part!r} runs backwards")
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


def _weekday(name: str) -> int:
    lowered = name.lower()
    for index, (short, full) in enumerate(zip(WEEKDAYS, _FULL_WEEKDAYS, strict=True)):
        if lowered in (short.lower(), full):
            return index
    raise CalendarError(f"{name!r} is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _parse_date(word: str) -> tuple[Component, Component, Component]:
    parts = word.split("-")
    if len(parts) == 2:
        parts = ["*", *parts]
    if len(parts) != 3:
        raise CalendarError(f"cannot read the date {word!r} (expected [YYYY-]MM-DD, each part may be *)")
    year, month, day = (_component(part, name) for part, name in zip(parts, ("year", "month", "day"), strict=True))
    return year, month, day


def _parse_time(word: str) -> tuple[Component, Component, Component]:
    parts = word.split(":")
    if len(parts) == 2:
        parts.append("00")
    if len(parts) != 3:
        raise CalendarError(f"cannot read the time {word!r} (expected HH:MM or HH:MM:SS, each part may be *)")
    hour, minute, second = (_component(part, name)
                            for part, name in zip(parts, ("hour", "minute", "second"), strict=True))
    return hour, minute, second


def _component(text: str, name: str) -> Component:
    low, high = _RANGES[name]
    items = []
    for part in text.split(","):
        found = _ITEM.match(part)
        if not found:
            raise CalendarError(f"cannot read the {name} {text!r} (a number, *, a list 1,15, a range 1..5 or a "
                                f"repetition */2)")
        start = None if found["star"] else int(found["start"])
        end = int(found["end"]) if found["end"] else None
        step = int(found["step"]) if found["step"] else None
        for value in (start, end):
            if value is not None and not low <= value <= high:
                raise CalendarError(f"{name} {value} is out of range ({low}..{high})")
        if start is not None and end is not None and end < start:
            raise CalendarError(f"the {name} range {part!r} runs backwards")
        if step == 0:
            raise CalendarError(f"the {name} repetition {part!r} needs a step above 0")
        items.append(Item(start, end, step))
    return tuple(items)


def _render(component: Component, width: int) -> str:
    return ",".join(item.render(width) for item in component)


def _render_weekdays(days: tuple[int, ...]) -> str:
    if not days:
        return ""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    # as systemd writes them: a run of three days or more as a range, shorter ones listed
    return ",".join(f"{WEEKDAYS[a]}..{WEEKDAYS[b]}" if b - a >= 2 else ",".join(WEEKDAYS[a:b + 1]) for a, b in runs)


def _cron(component: Component, name: str) -> str:
    low, high = _RANGES[name]
    rendered = []
    for item in component:
        if item.start is None:
            text = "*"
        elif item.end is not None:
            text = f"{item.start}-{item.end}"
        elif item.step:
            # systemd's START/STEP: from START to the end of the range
            text = "*" if item.start == low else f"{item.start}-{high}"
        else:
            text = str(item.start)
        rendered.append(text + (f"/{item.step}" if item.step else ""))
    return ",".join(rendered)
