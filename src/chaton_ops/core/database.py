"""Database engines as pure argv and SQL: dumping, listing, creating, loading a dump, swapping, dropping.

Dumps are taken by backups (ops/backup.py streams `dump_command` into restic); the rest is used by
restores and drills (ops/restore_db.py runs them on the host). PostgreSQL through the local
socket as its system user (peer authentication, `runuser`), MySQL/MariaDB through the local socket as
root (Debian's unix_socket authentication) or `--user` when the inventory gives one. No password is
ever handled here. Names come from the inventory (`[A-Za-z0-9_][A-Za-z0-9_.-]*`) and are quoted anyway.
"""

from __future__ import annotations

import shlex

from chaton_ops.core.inventory import Database

PG_NAME_LIMIT = 63  # NAMEDATALEN - 1
MYSQL_NAME_LIMIT = 64


def is_postgres(database: Database) -> bool:
    return database.engine == "postgres"


def name_limit(database: Database) -> int:
    return PG_NAME_LIMIT if is_postgres(database) else MYSQL_NAME_LIMIT


def derived_name(database: Database, suffix: str) -> str:
    """`NAME_SUFFIX`, NAME shortened so that the whole fits the engine's limit."""
    room = name_limit(database) - len(suffix) - 1
    return f"{database.name[:max(room, 1)]}_{suffix}"


def pg_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def mysql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# --------------------------------------------------------------------------------------- clients
def psql_argv(database: Database, sql: str, *, db: str = "postgres") -> list[str]:
    """psql as the engine's system user, unaligned output without headers, stopping at the first error."""
    user = database.user or "postgres"
    return ["runuser", "-u", user, "--", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql]


def mysql_argv(database: Database, sql: str | None = None) -> list[str]:
    argv = ["mysql", "--batch", "--skip-column-names"]
    if database.user:
        argv.append(f"--user={database.user}")
    return argv + (["-e", sql] if sql is not None else [])


def list_databases_argv(database: Database) -> list[str]:
    if is_postgres(database):
        return psql_argv(database, "SELECT datname FROM pg_database")
    return mysql_argv(database, "SHOW DATABASES")


def parse_database_names(stdout: str) -> set[str]:
    return {line.strip() for line in stdout.splitlines() if line.strip()}


def owner_argv(database: Database, name: str) -> list[str]:
    """The owner of a PostgreSQL database (a restored database gets the same owner)."""
    return psql_argv(database, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                               f"WHERE datname = {pg_literal(name)}")


def create_argv(database: Database, name: str, *, owner: str | None = None) -> list[str]:
    """An empty database; for PostgreSQL from template0, as plain pg_dump output expects."""
    if is_postgres(database):
        owner_clause = f" OWNER {pg_identifier(owner)}" if owner else ""
        return psql_argv(database, f"CREATE DATABASE {pg_identifier(name)}{owner_clause} TEMPLATE template0")
    return mysql_argv(database, f"CREATE DATABASE {mysql_identifier(name)}")


def drop_argv(database: Database, name: str) -> list[str]:
    if is_postgres(database):
        return psql_argv(database, f"DROP DATABASE IF EXISTS {pg_identifier(name)}")
    return mysql_argv(database, f"DROP DATABASE IF EXISTS {mysql_identifier(name)}")


# ------------------------------------------------------------------------------------------ dumps
def dump_filename(database: Database) -> str:
    """The file name a dump has in its snapshot (restic's --stdin-filename), and when restored."""
    return f"{database.engine}-{database.name}.sql"


def dump_command(database: Database) -> list[str]:
    """The dump tool's argv, run on the service's host (as root there)."""
    if database.engine == "postgres":
        user = database.user or "postgres"
        # pg_dump through the local socket with peer authentication, as the database's system user
        return ["runuser", "-u", user, "--", "pg_dump", "--no-password", "--format=plain", database.name]
    argv = ["mysqldump", "--single-transaction", "--routines", "--events", "--databases", database.name]
    if database.user:
        argv.insert(1, f"--user={database.user}")
    return argv


# ------------------------------------------------------------------------------------------ loads
def load_argv(database: Database, into: str, *, portable: bool = False) -> list[str]:
    """A command reading a dump (`dump_command`'s output) on stdin into database `into`.

    PostgreSQL: psql in one transaction, stopping at the first error (a failed load leaves nothing).
    `portable` drops ownership and privilege statements, for a drill on a host where the
    application's roles do not exist. MySQL/MariaDB: `mysqldump --databases NAME` names its
    database (`CREATE DATABASE … NAME`, `USE NAME`); those two lines are rewritten to `into`.
    """
    if is_postgres(database):
        user = database.user or "postgres"
        psql = ["runuser", "-u", user, "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                "-d", into]
        if not portable:
            return psql
        script = ("sed -E -e '/^ALTER [A-Z ]+ .* OWNER TO .*;$/d' -e '/^(GRANT|REVOKE) .*;$/d' | \"$@\"")
        return ["bash", "-c", f"set -o pipefail; {script}", "sed", *psql]
    name = database.name.replace(".", "\\.")  # the only character of a name that a sed pattern reads
    target = into.replace("\\", "\\\\").replace("/", "\\/").replace("&", "\\&")
    rewrite = [
        "sed", "-e", f"s/^CREATE DATABASE \\(.*\\)`{name}`/CREATE DATABASE \\1`{target}`/",
        "-e", f"s/^USE `{name}`;$/USE `{target}`;/",
    ]
    script = f"set -o pipefail; {shlex.join(rewrite)} | \"$@\""
    return ["bash", "-c", script, "sed", *mysql_argv(database)]


def query_argv(database: Database, name: str) -> list[str]:
    """A query that proves a loaded database answers: how many tables it has."""
    if is_postgres(database):
        return psql_argv(database, "SELECT count(*) FROM information_schema.tables "
                                   "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')", db=name)
    return mysql_argv(database, "SELECT COUNT(*) FROM information_schema.tables "
                                f"WHERE table_schema = {sql_literal(name)}")


def parse_count(stdout: str) -> int | None:
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


# ------------------------------------------------------------------------------------------ swaps
def pg_swap_argv(database: Database, *, live: str, staging: str, kept_aside: str | None) -> list[str]:
    """In one transaction: disconnect both, move the live database aside (when there is one), give the
    loaded one its name. Either both renames happen or neither."""
    names = ", ".join(pg_literal(n) for n in (live, staging))
    sql = [f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN ({names}) "
           "AND pid <> pg_backend_pid()"]
    if kept_aside is not None:
        sql.append(f"ALTER DATABASE {pg_identifier(live)} RENAME TO {pg_identifier(kept_aside)}")
    sql.append(f"ALTER DATABASE {pg_identifier(staging)} RENAME TO {pg_identifier(live)}")
    user = database.user or "postgres"
    argv = ["runuser", "-u", user, "--", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "--single-transaction",
            "-d", "postgres"]
    for statement in sql:
        argv += ["-c", statement]
    return argv


def mysql_objects_argv(database: Database, schemas: list[str]) -> list[str]:
    """Every table of the schemas with its type, then a count of what RENAME TABLE cannot move
    (views, triggers, routines, events): lines `T schema table type` and `X count`."""
    names = ", ".join(sql_literal(s) for s in schemas)
    sql = (f"SELECT 'T', table_schema, table_name, table_type FROM information_schema.tables "
           f"WHERE table_schema IN ({names}); "
           "SELECT 'X', (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema IN "
           f"({names})) + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema IN ({names})) "
           f"+ (SELECT COUNT(*) FROM information_schema.events WHERE event_schema IN ({names}))")
    return mysql_argv(database, sql)


def parse_mysql_objects(stdout: str) -> tuple[dict[str, list[tuple[str, str]]], int]:
    """{schema: [(table, type)]} and the count of triggers, routines and events."""
    tables: dict[str, list[tuple[str, str]]] = {}
    others = 0
    for line in stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "T" and len(fields) == 4:
            tables.setdefault(fields[1], []).append((fields[2], fields[3]))
        elif fields[0] == "X" and len(fields) == 2 and fields[1].isdigit():
            others = int(fields[1])
    return tables, others


def mysql_swap_argv(database: Database, *, live: str, staging: str, kept_aside: str | None,
                    live_tables: list[str], staging_tables: list[str]) -> list[str]:
    """One atomic RENAME TABLE moving the live tables aside and the loaded ones into place (MariaDB has
    no RENAME DATABASE), then the emptied staging database is dropped."""
    statements = []
    if kept_aside is not None:
        statements.append(f"CREATE DATABASE {mysql_identifier(kept_aside)}")
    else:
        statements.append(f"CREATE DATABASE IF NOT EXISTS {mysql_identifier(live)}")
    moves = []
    if kept_aside is not None:
        moves += [f"{mysql_identifier(live)}.{mysql_identifier(t)} TO {mysql_identifier(kept_aside)}.{mysql_identifier(t)}"
                  for t in live_tables]
    moves += [f"{mysql_identifier(staging)}.{mysql_identifier(t)} TO {mysql_identifier(live)}.{mysql_identifier(t)}"
              for t in staging_tables]
    if moves:
        statements.append("RENAME TABLE " + ", ".join(moves))
    statements.append(f"DROP DATABASE {mysql_identifier(staging)}")
    return mysql_argv(database, "; ".join(statements))
