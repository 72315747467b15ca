"""The last status of each service per command, kept between runs to notice recoveries.

A small JSON file, `last-status.json` in $CHATON_STATE_DIR, else $XDG_STATE_HOME/chaton, else
~/.local/state/chaton: {"backup": {"www": "failed", "mail": "ok"}}. Runs covering different services
may end at the same time (one cron line per host), so saving merges under a lock instead of
overwriting what another run just wrote. `LastStatusFile` is the LastStatuses port (core/ports.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from chaton_ops.adapters.atomic import locked_file, read_regular_file, write_text_atomically
from chaton_ops.errors import PathError

STATE_DIR_VARIABLE = "CHATON_STATE_DIR"
STATE_FILE_NAME = "last-status.json"


def default_state_dir(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    if environ.get(STATE_DIR_VARIABLE):
        return Path(environ[STATE_DIR_VARIABLE])
    state = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "chaton"


def default_state_path(environ: dict[str, str] | None = None) -> Path:
    return default_state_dir(environ) / STATE_FILE_NAME


def load_last_statuses(path: Path, command: str) -> dict[str, str]:
    """The last status per service for `command`; {} when nothing was recorded yet.

    Raises ValueError when the file is not what this module writes (the caller reports it and goes on).
    """
    return dict(_read_all(path).get(command, {}))


def save_last_statuses(path: Path, command: str, statuses: Mapping[str, str]) -> None:
    """Record `statuses` for `command`, keeping the services this run did not cover (PathError if the
    state file cannot be written)."""
    with locked_file(path):
        try:
            everything = _read_all(path)
        except ValueError:
            everything = {}  # unreadable: start afresh rather than never record again
        everything[command] = {**everything.get(command, {}), **statuses}
        write_text_atomically(path, json.dumps(everything, indent=2, sort_keys=True) + "\n", mode=0o600)


class LastStatusFile:
    """The LastStatuses port over the state file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, command: str) -> dict[str, str]:
        return load_last_statuses(self.path, command)

    def save(self, command: str, statuses: Mapping[str, str]) -> None:
        save_last_statuses(self.path, command, statuses)


def _read_all(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = read_regular_file(path).decode("utf-8")
    except FileNotFoundError:
        return {}
    except PathError as error:
        raise ValueError(error.message) from None
    except UnicodeDecodeError:
        raise ValueError(f"cannot read {path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(per_command, dict) and all(isinstance(v, str) for v in per_command.values())
        for per_command in data.values()
    ):
        raise ValueError(f"{path} does not hold statuses per command and service")
    return data
