"""Quantities written for people: sizes in tables, messages and reports (cli, ops and core use it)."""

from __future__ import annotations


def format_bytes(value: int | None) -> str:
    """`512 B`, `1.5 KiB`, `3.2 GiB` (binary units, one decimal); `-` for an unknown size."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
