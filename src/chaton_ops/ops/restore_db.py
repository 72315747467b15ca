"""Database steps of restores and drills: a dump read back from the repository (`restic dump`) and
loaded with the engine's own client, on the host that restores.

In place the dump goes into a staging database first; only when the load succeeded is the live
database renamed aside (kept under another name) and the staging one given its name. A drill loads
into a scratch database, queries it and drops it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from chaton_ops.core.database import (
    create_argv,
    drop_argv,
    is_postgres,
    list_databases_argv,
    load_argv,
    mysql_objects_argv,
    mysql_swap_argv,
    owner_argv,
    parse_count,
    parse_database_names,
    parse_mysql_objects,
    pg_swap_argv,
    query_argv,
)
from chaton_ops.core.inventory import Database
from chaton_ops.core.ports import Transport
from chaton_ops.core.restic import (
    ResticRun,
    build_dump_argv,
    build_load_pipeline_argv,
    classify,
    parse_pipe_status,
    strip_pipe_status,
)
from chaton_ops.core.restore import DatabaseRestore, RestoreRefused
from chaton_ops.errors import ChatonError, CommandFailed
from chaton_ops.ops.restic_calls import run_restic
from chaton_ops.ops.restore_steps import RestoreFailed

LOAD_TIMEOUT = 48 * 3600.0
SQL_TIMEOUT = 600.0
ERROR_TAIL = 300


@dataclass(frozen=True)
class DatabaseLoaded:
    """A dump loaded: where, how big the database answered, and where the previous one is kept."""

    engine: str
    name: str  # the database that now holds the dump (the live name, or the scratch one)
    snapshot_id: str
    duration: float
    tables: int | None
    kept_aside: str | None = None

    def detail(self) -> dict[str, Any]:
        return {**asdict(self), "duration": round(self.duration, 3)}


def database_of(item: DatabaseRestore, databases: list[Database]) -> Database:
    for database in databases:
        if database.engine == item.engine and database.name == item.name:
            return database
    return Database(engine=item.engine, name=item.name)  # type: ignore[arg-type]


def existing_databases(transport: Transport, database: Database) -> set[str] | None:
    """Names of the databases of the engine on the host; None when its client is not there."""
    result = transport.run(list_databases_argv(database), timeout=SQL_TIMEOUT, check=False)
    if result.returncode == 127 or "not found" in result.stderr:
        return None
    if not result.ok:
        raise CommandFailed(transport.host, list(result.argv), result.returncode, result.stderr_tail(3))
    return parse_database_names(result.stdout)


def _sql(transport: Transport, argv: list[str], what: str) -> str:
    result = transport.run(argv, timeout=SQL_TIMEOUT, check=False)
    if not result.ok:
        raise RestoreFailed(f"{transport.host}: {what} failed: {result.stderr_tail(3) or f'exit {result.returncode}'}")
    return result.stdout


def _load(transport: Transport, database: Database, item: DatabaseRestore, into: str, *, binary: str,
          repository_url: str, password: str, portable: bool) -> None:
    restic_argv = build_dump_argv(binary, repository_url, item.snapshot_id, item.file)
    argv = build_load_pipeline_argv(restic_argv, load_argv(database, into, portable=portable))
    run = run_restic(transport, argv, password, timeout=LOAD_TIMEOUT)
    if run.result.ok:
        return
    statuses = parse_pipe_status(run.result.stderr)
    stderr = strip_pipe_status(run.result.stderr)
    if statuses is not None and statuses[0] != 0:
        outcome = classify(statuses[0], stderr)
        raise ResticRun(run.result, outcome).error(f"reading the dump {item.file} of snapshot {item.snapshot_id[:8]}")
    tail = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())[-ERROR_TAIL:]
    raise RestoreFailed(f"{transport.host}: loading the dump of {item.engine} database {item.name} into {into} "
                        f"failed: {tail or f'exit {run.result.returncode}'}")


def _with_staging_free(transport: Transport, item: DatabaseRestore, database: Database) -> set[str]:
    """The databases on the host, once its engine is known to be installed and the staging name free."""
    names = existing_databases(transport, database)
    if names is None:
        raise RestoreRefused(f"{item.engine} is not installed on {transport.host}")
    if item.staging_name in names:
        raise RestoreRefused(f"{transport.host}: database {item.staging_name} exists already")
    return names


def load_database(transport: Transport, item: DatabaseRestore, database: Database, *, binary: str,
                  repository_url: str, password: str) -> DatabaseLoaded:
    """Load the dump into `item.staging_name`, then swap it in (the live one renamed to `item.kept_aside`).

    Precondition, checked now: the staging name is free, and the live database exists exactly when the
    plan keeps one aside. A failed load drops the staging database: the live one was not touched."""
    assert item.staging_name is not None
    started = time.monotonic()
    names = _with_staging_free(transport, item, database)
    if (item.name in names) != (item.kept_aside is not None):
        raise RestoreRefused(f"{transport.host}: database {item.name} {'appeared' if item.name in names else 'vanished'}"
                             " since the plan was made: plan again")
    owner = None
    if is_postgres(database) and item.name in names:
        owner = _sql(transport, owner_argv(database, item.name), f"reading the owner of {item.name}").strip() or None
    _sql(transport, create_argv(database, item.staging_name, owner=owner), f"creating database {item.staging_name}")
    try:
        _load(transport, database, item, item.staging_name, binary=binary, repository_url=repository_url,
              password=password, portable=False)
        tables = parse_count(_sql(transport, query_argv(database, item.staging_name),
                                  f"querying database {item.staging_name}"))
        _swap(transport, database, item)
    except ChatonError:
        transport.run(drop_argv(database, item.staging_name), timeout=SQL_TIMEOUT, check=False)
        raise
    return DatabaseLoaded(item.engine, item.name, item.snapshot_id, time.monotonic() - started, tables, item.kept_aside)


def _swap(transport: Transport, database: Database, item: DatabaseRestore) -> None:
    assert item.staging_name is not None
    swap_database(transport, database, live=item.name, staging=item.staging_name, kept_aside=item.kept_aside)


def swap_database(transport: Transport, database: Database, *, live: str, staging: str,
                  kept_aside: str | None) -> None:
    """`staging` becomes `live`; the live database is kept as `kept_aside` (dropped when None and absent).
    PostgreSQL renames databases; MariaDB moves every table in one RENAME TABLE."""
    if is_postgres(database):
        _sql(transport, pg_swap_argv(database, live=live, staging=staging, kept_aside=kept_aside),
             f"renaming {staging} to {live}")
        return
    schemas = [staging] + ([live] if kept_aside else [])
    tables, others = parse_mysql_objects(_sql(transport, mysql_objects_argv(database, schemas),
                                              "listing the tables to move"))
    views = [name for schema in schemas for name, kind in tables.get(schema, []) if kind != "BASE TABLE"]
    if views or others:
        raise RestoreFailed(f"{transport.host}: {database.engine} database {live}: views, triggers, routines or events "
                            "cannot be moved by RENAME TABLE; the live database was left as it was. Restore with "
                            "--target DIR and load the dump by hand")
    _sql(transport, mysql_swap_argv(database, live=live, staging=staging, kept_aside=kept_aside,
                                    live_tables=[t for t, _ in tables.get(live, [])],
                                    staging_tables=[t for t, _ in tables.get(staging, [])]),
         f"moving the tables of {staging} into {live}")


def drill_database(transport: Transport, item: DatabaseRestore, database: Database, *, binary: str,
                   repository_url: str, password: str) -> DatabaseLoaded:
    """Load the dump into a scratch database, run a query in it, drop it (also when something failed).
    Ownership and privilege statements are left out: the application's roles need not exist here."""
    assert item.staging_name is not None
    started = time.monotonic()
    _with_staging_free(transport, item, database)
    _sql(transport, create_argv(database, item.staging_name), f"creating database {item.staging_name}")
    try:
        _load(transport, database, item, item.staging_name, binary=binary, repository_url=repository_url,
              password=password, portable=True)
        tables = parse_count(_sql(transport, query_argv(database, item.staging_name),
                                  f"querying database {item.staging_name}"))
    finally:
        transport.run(drop_argv(database, item.staging_name), timeout=SQL_TIMEOUT, check=False)
    if tables is None:
        raise RestoreFailed(f"{transport.host}: the scratch database {item.staging_name} did not answer the query")
    return DatabaseLoaded(item.engine, item.staging_name, item.snapshot_id, time.monotonic() - started, tables)
