"""The memory of `chaton status` between runs: `status.json` in the state directory ($CHATON_STATE_DIR,
else $XDG_STATE_HOME/chaton): each finding's level, since when, for how many runs and what the admins
were last told; the incidents of public services; the silences of `--silence`.

Runs may overlap (cron and an admin at a terminal): `locked_state` holds a lock from reading the file
to writing it back, and the file is replaced atomically. `AlertStateFile` is the AlertStore port
(core/ports.py).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaton_ops.adapters.atomic import locked_file, read_regular_file, write_text_atomically
from chaton_ops.adapters.run_state import default_state_dir
from chaton_ops.core.alerting import AlertState, Incident, Tracked
from chaton_ops.errors import PathError

STATE_FILE_NAME = "status.json"
FORMAT_VERSION = 1


def default_status_state_path() -> Path:
    return default_state_dir() / STATE_FILE_NAME


def read_alert_state(path: Path) -> tuple[AlertState, str | None]:
    """The state, and a problem text when the file could not be used (then an empty state: every
    finding starts afresh, which delays messages by `confirm` runs but never loses a run)."""
    try:
        text = read_regular_file(path).decode("utf-8")
    except FileNotFoundError:
        return AlertState(), None
    except PathError as error:
        return AlertState(), error.message
    except UnicodeDecodeError:
        return AlertState(), f"cannot read {path}: not UTF-8 text"
    try:
        return decode_state(json.loads(text)), None
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return AlertState(), f"{path} is not a status state file ({error}); starting afresh"


def decode_state(data: Any) -> AlertState:
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError("unknown format")
    findings = {str(key): Tracked(**value) for key, value in data.get("findings", {}).items()}
    incidents = tuple(Incident(**value) for value in data.get("incidents", []))
    silences = {str(name): str(until) for name, until in data.get("silences", {}).items()}
    return AlertState(findings, incidents, silences)


def encode_state(state: AlertState) -> str:
    data = {
        "version": FORMAT_VERSION,
        "findings": {key: asdict(value) for key, value in sorted(state.findings.items())},
        "incidents": [asdict(incident) for incident in state.incidents],
        "silences": dict(sorted(state.silences.items())),
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write_alert_state(path: Path, state: AlertState) -> None:
    write_text_atomically(path, encode_state(state), mode=0o600)


def locked_state(path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the state's lock (a sibling `.lock` file) for a read-modify-write (PathError if the state
    folder or the lock file cannot be used)."""
    return locked_file(path)


class AlertStateFile:
    """The AlertStore port over the state file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return locked_state(self.path)

    def read(self) -> tuple[AlertState, str | None]:
        return read_alert_state(self.path)

    def write(self, state: AlertState) -> None:
        write_alert_state(self.path, state)
