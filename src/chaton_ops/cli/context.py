"""Global options, carried on ctx.obj from the root callback to every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from chaton_ops.core.loader import LoadedInventory

# The loader (pydantic models) is imported only when a command loads the inventory: `chaton --help`
# and the help of every command must not pay for building the models.


@dataclass
class GlobalOptions:
    """The global options of the command line (-i, --json, -v, -q, --dry-run, --yes) and the inventory
    they lead to. Not a command's own options: a backup's are a `BackupRequest` (ops/backup_run.py),
    turned into the `BackupSettings` its steps follow (ops/backup.py)."""

    inventory: str | None = None
    json: bool = False
    verbose: int = 0
    quiet: bool = False
    dry_run: bool = False
    yes: bool = False
    _loaded: LoadedInventory | None = field(default=None, repr=False)

    def inventory_path(self) -> Path:
        from chaton_ops.core.loader import locate_inventory

        return locate_inventory(self.inventory)

    def load(self, *, placed: bool = True) -> LoadedInventory:
        """The inventory, loaded once per run, with every moved service on the host where it runs now
        (the journal's placements: after a failover, on its fallback). `placed=False`: as written
        (validation reads no journal)."""
        if not placed:
            from chaton_ops.core.loader import load_inventory

            return self._loaded or load_inventory(self.inventory_path())
        if self._loaded is None:
            from chaton_ops.core.loader import load_inventory
            from chaton_ops.ops.compose import open_journal_for_reading
            from chaton_ops.ops.placement import place_services

            loaded = load_inventory(self.inventory_path())
            with open_journal_for_reading() as journal:
                self._loaded, warnings = place_services(loaded, journal)
            if not self.quiet:
                from chaton_ops.cli.output import warn

                for warning in warnings:
                    warn(warning)
        return self._loaded


def global_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def require_writable(option: str, path: Path | None) -> None:
    """A file option naming a file chaton may not write (a device, a folder, in a folder that does not
    exist) is a usage error now, before the command runs, not a warning at its end."""
    if path is None:
        return
    from chaton_ops.errors import PathError, UsageError
    from chaton_ops.ops.compose import check_writable

    try:
        check_writable(path)
    except PathError as error:
        raise UsageError(f"{option}: {error.message}") from None
