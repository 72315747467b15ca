"""The journal: what ran, when, by whom, on what, and how it ended — an embedded SQLite file.

Location: $CHATON_JOURNAL, else $XDG_STATE_HOME/chaton/journal.sqlite3 (~/.local/state/…).
Everything written here is masked: no secret value reaches the journal.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaton_ops.core.masking import mask_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    user TEXT NOT NULL,
    machine TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    exit_code INTEGER
);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    target TEXT NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS steps_by_run ON steps(run_id);
"""


def default_journal_path(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    if environ.get("CHATON_JOURNAL"):
        return Path(environ["CHATON_JOURNAL"])
    state = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "chaton" / "journal.sqlite3"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _masked_json(value: Any) -> str:
    return mask_text(json.dumps(value, default=str, ensure_ascii=False))


@dataclass(frozen=True)
class RunRecord:
    id: int
    command: str
    args: list[str]
    user: str
    machine: str
    started_at: str
    ended_at: str | None
    status: str
    exit_code: int | None


@dataclass(frozen=True)
class StepRecord:
    id: int
    run_id: int
    target: str
    step: str
    status: str
    detail: dict[str, Any]
    started_at: str
    ended_at: str | None


class Journal:
    """Append-only record of runs and their steps. Safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        os.chmod(path, 0o600)

    def close(self) -> None:
        self._db.close()

    def start_run(self, command: str, args: list[str]) -> int:
        cursor = self._db.execute(
            "INSERT INTO runs (command, args, user, machine, started_at) VALUES (?, ?, ?, ?, ?)",
            (command, _masked_json(args), _user(), socket.gethostname(), _now()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None:
        self._db.execute("UPDATE runs SET ended_at = ?, status = ?, exit_code = ? WHERE id = ?",
                         (_now(), status, exit_code, run_id))

    def start_step(self, run_id: int, target: str, step: str, detail: dict[str, Any] | None = None) -> int:
        cursor = self._db.execute(
            "INSERT INTO steps (run_id, target, step, status, detail, started_at) VALUES (?, ?, ?, 'running', ?, ?)",
            (run_id, target, step, _masked_json(detail or {}), _now()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_step(self, step_id: int, status: str, detail: dict[str, Any] | None = None) -> None:
        if detail is None:
            self._db.execute("UPDATE steps SET status = ?, ended_at = ? WHERE id = ?", (status, _now(), step_id))
        else:
            self._db.execute("UPDATE steps SET status = ?, detail = ?, ended_at = ? WHERE id = ?",
                             (status, _masked_json(detail), _now(), step_id))

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int:
        step_id = self.start_step(run_id, target, step, detail)
        self.finish_step(step_id, status)
        return step_id

    @contextmanager
    def step(self, run_id: int, target: str, step: str, detail: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Record a step around a block: 'ok' when it ends, 'failed' (with the error) when it raises.
        The yielded dict may be filled with details to store at the end."""
        step_id = self.start_step(run_id, target, step, detail)
        extra: dict[str, Any] = dict(detail or {})
        try:
            yield extra
        except BaseException as error:
            extra["error"] = str(error)
            self.finish_step(step_id, "failed", extra)
            raise
        self.finish_step(step_id, extra.pop("status", "ok"), extra)

    def runs(self, limit: int = 20, command: str | None = None) -> list[RunRecord]:
        query = "SELECT id, command, args, user, machine, started_at, ended_at, status, exit_code FROM runs"
        params: tuple[Any, ...] = ()
        if command:
            query += " WHERE command = ?"
            params = (command,)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._db.execute(query, (*params, limit)).fetchall()
        return [RunRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        row = self._db.execute(
            "SELECT id, command, args, user, machine, started_at, ended_at, status, exit_code FROM runs WHERE id = ?",
            (run_id,)).fetchone()
        return RunRecord(row[0], row[1], json.loads(row[2]), *row[3:]) if row else None

    def steps(self, run_id: int) -> list[StepRecord]:
        rows = self._db.execute(
            "SELECT id, run_id, target, step, status, detail, started_at, ended_at FROM steps WHERE run_id = ? "
            "ORDER BY id", (run_id,)).fetchall()
        return [StepRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
