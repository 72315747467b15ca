"""Secret masking: every secret value chaton reveals is registered here and masked in any text
that leaves the process (argv shown in errors, logs, journal, command output tails)."""

from __future__ import annotations

import threading

MASK = "******"

_lock = threading.Lock()
_values: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a revealed secret value so that `mask_text` hides it from then on."""
    value = value.strip()
    if len(value) >= 4:
        with _lock:
            _values.add(value)


def mask_text(text: str) -> str:
    """Return `text` with every registered secret value replaced by a mask."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_argv(argv: list[str] | tuple[str, ...]) -> list[str]:
    return [mask_text(arg) for arg in argv]


class SecretValue:
    """A revealed secret (what the Secrets port of core/ports.py returns). Its repr and str never show
    the value, and the value is registered for masking as soon as it exists; call `reveal()` where it
    is used (a transport's `secret_env`, a notifier's URL), never to print or journal it."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue({self.name!r}, ******)"

    __str__ = __repr__
