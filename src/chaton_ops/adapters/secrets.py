"""The Secrets port of core/ports.py: secret references (env, file, command) resolved only when a
step needs them.

Revealed values are SecretValues (core/masking.py), registered for masking, so they never reach
logs, errors or the journal. Composition roots build `InventorySecrets(loaded)` and hand it down.
"""

from __future__ import annotations

import logging
import os
import shlex
import stat
import subprocess
from pathlib import Path

from chaton_ops.core.inventory import SecretRef
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import SecretValue
from chaton_ops.core.yaml_source import read_regular_file
from chaton_ops.errors import SecretError

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30
MAX_SECRET_FILE_BYTES = 64 * 1024


class InventorySecrets:
    """The secrets an inventory declares, each read from its reference when asked (implements Secrets)."""

    def __init__(self, loaded: LoadedInventory) -> None:
        self.loaded = loaded

    def resolve(self, name: str) -> SecretValue:
        return resolve_secret(self.loaded, name)


def resolve_secret(loaded: LoadedInventory, name: str) -> SecretValue:
    """The value of secret `name`; SecretError says which reference failed and why, never the value."""
    ref = loaded.inventory.secrets.get(name)
    if ref is None:
        raise SecretError(f"secret '{name}' is not defined in the inventory")
    value = _read_reference(loaded, name, ref)
    if not value:
        raise SecretError(f"secret '{name}' ({ref.describe()}) is empty")
    return SecretValue(name, value)


def _read_reference(loaded: LoadedInventory, name: str, ref: SecretRef) -> str:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretError(f"secret '{name}': environment variable {ref.env} is not set")
        return value.strip()
    if ref.file is not None:
        path = loaded.resolve_path(ref.file)
        warn_if_exposed(name, path)
        try:
            # a regular file, bounded: a secret given as /dev/zero or a FIFO is refused, never read forever
            return _first_line(read_regular_file(path, MAX_SECRET_FILE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            raise SecretError(f"secret '{name}': file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise SecretError(f"secret '{name}': cannot read {path}: {reason}") from None
    assert ref.command is not None
    return _run_command(name, ref.command)


def _run_command(name: str, command: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise SecretError(f"secret '{name}': cannot split its command: {error}") from None
    if not argv:
        raise SecretError(f"secret '{name}': the command is empty")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL,
                              check=False)
    except FileNotFoundError:
        raise SecretError(f"secret '{name}': command {argv[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"secret '{name}': command {argv[0]!r} did not finish in {COMMAND_TIMEOUT} s") from None
    if done.returncode != 0:
        # Its output may hold part of the secret: say only how it ended.
        raise SecretError(f"secret '{name}': command {argv[0]!r} exited with {done.returncode}")
    return _first_line(done.stdout)


def _first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def exposure_warning(name: str, path: Path) -> str | None:
    """A warning when a secret file can be read by group or others, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"secret '{name}': {path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
                f"run chmod 600 {shlex.quote(str(path))}")
    return None


def warn_if_exposed(name: str, path: Path) -> None:
    warning = exposure_warning(name, path)
    if warning:
        log.warning(warning)
