"""Free space of a repository's file system: parsed from `sftp df` or `df -P -k`, and the verdict that
refuses a backup below the repository's `min_free_percent`."""

from __future__ import annotations

from dataclasses import dataclass

from chaton_ops.core.units import format_bytes


@dataclass(frozen=True)
class FreeSpace:
    total_bytes: int
    available_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.available_bytes / self.total_bytes if self.total_bytes else 0.0


def space_problem(space: FreeSpace, min_free_percent: float, repository: str) -> str | None:
    if space.free_percent < min_free_percent:
        return (f"repository {repository}: only {space.free_percent:.1f} % free "
                f"({format_bytes(space.available_bytes)} of {format_bytes(space.total_bytes)}), "
                f"below min_free_percent {min_free_percent:g} %: backup refused")
    return None


def parse_sftp_df(text: str) -> FreeSpace | None:
    """OpenSSH `sftp` batch `df PATH` (statvfs@openssh.com): sizes in KiB on the line after the header."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.split()[:3] == ["Size", "Used", "Avail"] and index + 1 < len(lines):
            numbers = lines[index + 1].split()
            if len(numbers) >= 3 and all(n.isdigit() for n in numbers[:3]):
                size, _used, available = (int(n) * 1024 for n in numbers[:3])
                return FreeSpace(size, available)
    return None


def parse_df_posix(text: str) -> FreeSpace | None:
    """`df -P -k PATH`: 1024-blocks, used, available on the second line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    if len(fields) < 4 or not all(f.isdigit() for f in fields[1:4]):
        return None
    return FreeSpace(int(fields[1]) * 1024, int(fields[3]) * 1024)
