"""The journal: what ran, when, by whom, on what, how it ended — and where services run now.

An embedded SQLite file: $CHATON_JOURNAL, else $XDG_STATE_HOME/chaton/journal.sqlite3 (~/.local/state/…).
Everything written here is masked: no secret value reaches the journal.

- runs: one row per command run, with the process that runs it (pid and start time, so that a run
  whose process died is told apart from one still running and marked `interrupted`) and, for
  runbooks, the plan it applies (JSON) so that `--resume` continues the very same plan;
- steps: one row per step. Keyed steps (the runbook engine's) have a `step_key` unique within their
  run: a step is written `running` before it starts and updated with its outputs when it ends, and a
  resumed step updates its own row (attempt + 1) instead of adding another;
- placements: where a service was moved (failover, failback), since when and by which run.

The schema is versioned (`PRAGMA user_version`) and migrated in place. One connection is shared by
the threads of a run, each statement under a lock, and new row ids come from `RETURNING`, never from
the connection's last row id (which another thread's insert may have changed).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chaton_ops.core.masking import mask_text
from chaton_ops.errors import JournalError

SCHEMA_VERSION = 2
# SQLite integers are signed 64-bit: a larger run id cannot exist (and would overflow the binding).
MAX_ID = 2**63 - 1
DONE_STATUSES = ("ok", "changed", "noop", "warning")
UNFINISHED_STATUSES = ("running", "interrupted", "failed", "partial")

_V1 = """
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

# Each migration takes the schema from version N-1 to N; run in order, in one transaction each.
_MIGRATIONS: dict[int, str] = {
    1: _V1,
    2: """
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN process_start TEXT;
ALTER TABLE runs ADD COLUMN plan TEXT;
ALTER TABLE runs ADD COLUMN resumed_at TEXT;
ALTER TABLE steps ADD COLUMN step_key TEXT;
ALTER TABLE steps ADD COLUMN host TEXT;
ALTER TABLE steps ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX IF NOT EXISTS steps_by_key ON steps(run_id, step_key) WHERE step_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS placements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    home TEXT NOT NULL,
    since TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(id),
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS placements_by_service ON placements(service, id);
""",
}


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


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


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
    pid: int | None = None
    resumed_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED_STATUSES


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
    key: str | None = None
    host: str | None = None
    attempt: int = 1

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES


@dataclass(frozen=True)
class PlacementRecord:
    """Where a service runs since a failover or failback (the inventory's host is its home)."""

    service: str
    host: str
    home: str
    since: str
    run_id: int | None
    reason: str

    @property
    def away(self) -> bool:
        return self.host != self.home


_RUN_COLUMNS = "id, command, args, user, machine, started_at, ended_at, status, exit_code, pid, resumed_at"
_STEP_COLUMNS = "id, run_id, target, step, status, detail, started_at, ended_at, step_key, host, attempt"

T = TypeVar("T")


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(row[0], row[1], _loads(row[2], []), row[3], row[4], row[5], row[6], row[7], row[8],
                     row[9], row[10])


def _step_record(row: tuple[Any, ...]) -> StepRecord:
    return StepRecord(row[0], row[1], row[2], row[3], row[4], _loads(row[5], {}), row[6], row[7], row[8], row[9],
                      row[10] or 1)


class Journal:
    """Runs, steps and placements. Safe to use from several threads of one process, and from several
    processes at once (SQLite's own locking, WAL mode)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._db = self._guard("open", lambda: self._open(path, read_only))

    @classmethod
    def open_if_present(cls, path: Path) -> Journal | None:
        """The journal opened read-only, or None when none was ever written (reading must not create one)."""
        return cls(path, read_only=True) if path.exists() else None

    # ------------------------------------------------------------------ opening, errors
    def _open(self, path: Path, read_only: bool) -> sqlite3.Connection:
        if read_only:
            if not path.is_file():
                raise JournalError(f"journal {path}: not a regular file")
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False,
                                 isolation_level=None)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(f"journal {path}: written by a newer chaton (schema {version}, this one "
                                   f"knows {SCHEMA_VERSION}); upgrade chaton")
            self._schema = version
            db.execute("SELECT count(*) FROM runs").fetchone()  # a file that is not a journal fails here
            return db
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise JournalError(f"journal {path}: not a regular file")
        db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        os.chmod(path, 0o600)
        db.execute("PRAGMA journal_mode=WAL")
        self._migrate(db)
        self._schema = SCHEMA_VERSION
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see the new version
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone():
                version = 1  # written before the schema carried a version
            if version > SCHEMA_VERSION:
                raise JournalError(f"journal {self.path}: written by a newer chaton (schema {version}, this one "
                                   f"knows {SCHEMA_VERSION}); upgrade chaton")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _guard(self, what: str, action: Callable[[], T]) -> T:
        """Run a database action; turn SQLite and file-system failures into one JournalError naming the
        file and what to do."""
        try:
            with self._lock:
                return action()
        except JournalError:
            raise
        except sqlite3.Error as failure:
            raise JournalError(_explain(self.path, what, failure)) from None
        except OSError as failure:
            raise JournalError(f"journal {self.path}: cannot {what}: {failure.strerror or failure}; "
                               f"set CHATON_JOURNAL to a writable place") from None

    def _execute(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._guard(what, lambda: self._db.execute(sql, params))

    def _insert(self, what: str, sql: str, params: tuple[Any, ...]) -> int:
        row = self._guard(what, lambda: self._db.execute(sql + " RETURNING id", params).fetchone())
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def start_run(self, command: str, args: list[str], *, plan: dict[str, Any] | None = None) -> int:
        self.mark_interrupted_runs()
        return self._insert(
            "record a run",
            "INSERT INTO runs (command, args, user, machine, started_at, pid, process_start, plan) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (command, _masked_json(args), _user(), socket.gethostname(), _now(), os.getpid(),
             _process_start(os.getpid()), None if plan is None else _masked_json(plan)),
        )

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None:
        self._execute("record the end of a run", "UPDATE runs SET ended_at = ?, status = ?, exit_code = ? WHERE id = ?",
                      (_now(), status, exit_code, run_id))

    def resume_run(self, run_id: int) -> None:
        """Take over an unfinished run in this process: it is running again, its finished steps stay."""
        self._execute("resume a run",
                      "UPDATE runs SET status = 'running', ended_at = NULL, exit_code = NULL, pid = ?, "
                      "process_start = ?, machine = ?, resumed_at = ? WHERE id = ?",
                      (os.getpid(), _process_start(os.getpid()), socket.gethostname(), _now(), run_id))

    def set_plan(self, run_id: int, plan: dict[str, Any]) -> None:
        self._execute("record a plan", "UPDATE runs SET plan = ? WHERE id = ?", (_masked_json(plan), run_id))

    def plan(self, run_id: int) -> dict[str, Any] | None:
        row = self._execute("read a plan", "SELECT plan FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _loads(row[0], None) if row else None

    def mark_interrupted_runs(self) -> list[int]:
        """Runs of this machine still `running` whose process is gone: they were interrupted (killed,
        power lost). Marked so in a writable journal; returned either way."""
        machine = socket.gethostname()
        rows = self._execute("read running runs", "SELECT id, pid, process_start FROM runs "
                             "WHERE status = 'running' AND machine = ?", (machine,)).fetchall()
        dead = [row[0] for row in rows if not _process_alive(row[1], row[2])]
        if dead and not self.read_only:
            for run_id in dead:
                self._execute("mark an interrupted run",
                              "UPDATE runs SET status = 'interrupted', ended_at = COALESCE(ended_at, ?) "
                              "WHERE id = ? AND status = 'running'", (_now(), run_id))
                self._execute("mark an interrupted step",
                              "UPDATE steps SET status = 'interrupted', ended_at = ? "
                              "WHERE run_id = ? AND status = 'running'", (_now(), run_id))
        return dead

    def runs(self, limit: int = 20, command: str | None = None) -> list[RunRecord]:
        dead = set(self.mark_interrupted_runs())
        query = f"SELECT {_RUN_COLUMNS} FROM runs"
        params: tuple[Any, ...] = ()
        if command:
            query += " WHERE command = ?"
            params = (command,)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._execute("read runs", query, (*params, max(0, min(limit, MAX_ID)))).fetchall()
        return [_as_interrupted(_run_record(r), dead) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        if not 0 < run_id <= MAX_ID:
            return None
        dead = set(self.mark_interrupted_runs())
        row = self._execute("read a run", f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _as_interrupted(_run_record(row), dead) if row else None

    def unfinished_runs(self, command: str) -> list[RunRecord]:
        """Runs of `command` that did not finish (running, interrupted, failed, partial), newest first."""
        return [run for run in self.runs(limit=MAX_ID, command=command) if not run.finished]

    # ------------------------------------------------------------------ steps (audit, v1)
    def start_step(self, run_id: int, target: str, step: str, detail: dict[str, Any] | None = None) -> int:
        return self._insert("record a step",
                            "INSERT INTO steps (run_id, target, step, status, detail, started_at) "
                            "VALUES (?, ?, ?, 'running', ?, ?)",
                            (run_id, target, step, _masked_json(detail or {}), _now()))

    def finish_step(self, step_id: int, status: str, detail: dict[str, Any] | None = None) -> None:
        if detail is None:
            self._execute("record the end of a step", "UPDATE steps SET status = ?, ended_at = ? WHERE id = ?",
                          (status, _now(), step_id))
        else:
            self._execute("record the end of a step",
                          "UPDATE steps SET status = ?, detail = ?, ended_at = ? WHERE id = ?",
                          (status, _masked_json(detail), _now(), step_id))

    def record_step(self, run_id: int, target: str, step: str, status: str,
                    detail: dict[str, Any] | None = None) -> int:
        return self._insert("record a step",
                            "INSERT INTO steps (run_id, target, step, status, detail, started_at, ended_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (run_id, target, step, status, _masked_json(detail or {}), _now(), _now()))

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

    # ------------------------------------------------------------------ keyed steps (runbooks)
    def begin_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                         inputs: dict[str, Any]) -> int:
        """Journal a runbook step as running before it starts. A step already recorded under `key` in
        this run (a resumed run) is taken over: attempt + 1, its earlier outcome kept in its detail."""
        def write() -> int:
            existing = self._db.execute("SELECT id, status, detail, attempt FROM steps WHERE run_id = ? AND "
                                        "step_key = ?", (run_id, key)).fetchone()
            if existing is None:
                row = self._db.execute(
                    "INSERT INTO steps (run_id, target, step, status, detail, started_at, step_key, host) "
                    "VALUES (?, ?, ?, 'running', ?, ?, ?, ?) RETURNING id",
                    (run_id, target, action, _masked_json({"inputs": inputs}), _now(), key, host)).fetchone()
                return int(row[0])
            earlier = _loads(existing[2], {})
            history = [*earlier.pop("earlier_attempts", []),
                       {"status": existing[1], "error": earlier.get("error")}]
            self._db.execute("UPDATE steps SET status = 'running', detail = ?, started_at = ?, ended_at = NULL, "
                             "attempt = ? WHERE id = ?",
                             (_masked_json({"inputs": inputs, "earlier_attempts": history}), _now(),
                              existing[3] + 1, existing[0]))
            return int(existing[0])

        return self._guard("record a step", write)

    def end_keyed_step(self, step_id: int, status: str, *, outputs: dict[str, Any] | None = None,
                       error: str | None = None, reason: str | None = None) -> None:
        def write() -> None:
            row = self._db.execute("SELECT detail FROM steps WHERE id = ?", (step_id,)).fetchone()
            detail = _loads(row[0] if row else None, {})
            detail.update({k: v for k, v in (("outputs", outputs), ("error", error), ("reason", reason))
                           if v is not None})
            if error is None:
                detail.pop("error", None)
            self._db.execute("UPDATE steps SET status = ?, detail = ?, ended_at = ? WHERE id = ?",
                             (status, _masked_json(detail), _now(), step_id))

        self._guard("record the end of a step", write)

    def record_keyed_step(self, run_id: int, key: str, *, action: str, target: str, host: str | None,
                          status: str, inputs: dict[str, Any], reason: str) -> int:
        """A step that does not run (a planned no-op, a skip): recorded with its reason, never run."""
        step_id = self.begin_keyed_step(run_id, key, action=action, target=target, host=host, inputs=inputs)
        self.end_keyed_step(step_id, status, reason=reason)
        return step_id

    def steps(self, run_id: int) -> list[StepRecord]:
        rows = self._execute("read steps", f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY id",
                             (run_id,)).fetchall()
        return [_step_record(r) for r in rows]

    def keyed_steps(self, run_id: int) -> dict[str, StepRecord]:
        return {step.key: step for step in self.steps(run_id) if step.key is not None}

    def latest_steps(self, action: str, *, limit: int = 50) -> list[StepRecord]:
        """The most recent steps named `action` across runs, newest first (e.g. measured restores)."""
        rows = self._execute("read steps", f"SELECT {_STEP_COLUMNS} FROM steps WHERE step = ? "
                             "ORDER BY id DESC LIMIT ?", (action, max(0, min(limit, MAX_ID)))).fetchall()
        return [_step_record(r) for r in rows]

    # ------------------------------------------------------------------ placements
    def set_placement(self, service: str, host: str, *, home: str, run_id: int | None, reason: str) -> None:
        self._insert("record where a service runs",
                     "INSERT INTO placements (service, host, home, since, run_id, reason) VALUES (?, ?, ?, ?, ?, ?)",
                     (service, host, home, _now(), run_id, reason))

    def placements(self) -> dict[str, PlacementRecord]:
        """Each service's latest placement (services never moved have none)."""
        if self._schema < 2:
            return {}
        rows = self._execute("read placements",
                             "SELECT service, host, home, since, run_id, reason FROM placements p WHERE id = "
                             "(SELECT max(id) FROM placements q WHERE q.service = p.service)").fetchall()
        return {row[0]: PlacementRecord(*row) for row in rows}

    def placement_history(self, limit: int = 100) -> list[PlacementRecord]:
        """Every recorded move (failover, failback), newest first."""
        if self._schema < 2:
            return []
        rows = self._execute("read placements", "SELECT service, host, home, since, run_id, reason FROM placements "
                             "ORDER BY id DESC LIMIT ?", (max(0, min(limit, MAX_ID)),)).fetchall()
        return [PlacementRecord(*row) for row in rows]


def _as_interrupted(run: RunRecord, dead: set[int]) -> RunRecord:
    if run.id in dead and run.status == "running":
        from dataclasses import replace

        return replace(run, status="interrupted")
    return run


def _explain(path: Path, what: str, failure: sqlite3.Error) -> str:
    text = str(failure)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        hint = "it is damaged or not a journal: move it aside (chaton starts a new one) or set CHATON_JOURNAL"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "it is read-only here: set CHATON_JOURNAL to a writable place"
    elif "disk is full" in lowered or "disk i/o" in lowered:
        hint = "its disk is full or failing: free space, or set CHATON_JOURNAL elsewhere"
    elif "unable to open" in lowered:
        hint = "check that its folder exists and is writable, or set CHATON_JOURNAL"
    elif "locked" in lowered:
        hint = "another chaton holds it too long; try again"
    else:
        hint = "set CHATON_JOURNAL to use another journal"
    return f"journal {path}: cannot {what} ({text}); {hint}"


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the pid it
    names one process even when the pid is reused later."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie has ended: only its parent has not looked
        return None
    return fields[19]


def _process_alive(pid: int | None, started: str | None) -> bool:
    if pid is None:
        return False  # written before runs carried their process: cannot be running still
    now = _process_start(pid)
    if now is None:
        return False
    return started is None or now == started


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
