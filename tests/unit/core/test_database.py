"""Database argv and SQL: quoting, the name rewrite of a mysqldump (run through the real sed and bash),
the one-transaction PostgreSQL swap and the one-statement MariaDB swap."""

from __future__ import annotations

import subprocess

from chaton_ops.core.database import (
    create_argv,
    derived_name,
    load_argv,
    mysql_swap_argv,
    parse_mysql_objects,
    pg_identifier,
    pg_swap_argv,
    query_argv,
)
from chaton_ops.core.inventory import Database

PG = Database(engine="postgres", name="site")
MARIA = Database(engine="mariadb", name="shop.v2", user="backup")

MYSQLDUMP_HEAD = """\
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Current Database: `shop.v2`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop.v2` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE `shop.v2`;
INSERT INTO `items` VALUES (1,'USE `shop.v2`;');
"""


def run_filter(argv: list[str], text: str) -> str:
    """Run the load command with `cat` standing in for the database client (argv after the script)."""
    assert argv[:2] == ["bash", "-c"]
    script, name = argv[2], argv[3]
    done = subprocess.run(["bash", "-c", script, name, "cat"], input=text, capture_output=True, text=True, check=True)
    return done.stdout


def test_mysqldump_is_loaded_under_the_staging_name_keeping_its_character_set():
    out = run_filter(load_argv(MARIA, "shop.v2_chaton_new_x"), MYSQLDUMP_HEAD)
    assert "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop.v2_chaton_new_x` /*!40100 DEFAULT CHARACTER SET" in out
    assert "\nUSE `shop.v2_chaton_new_x`;\n" in out
    assert "(1,'USE `shop.v2`;')" in out  # data is never rewritten


def test_a_name_with_a_dot_matches_only_itself():
    other = MYSQLDUMP_HEAD.replace("`shop.v2`", "`shopXv2`")
    assert "chaton_new" not in run_filter(load_argv(MARIA, "shop.v2_chaton_new_x"), other)


def test_portable_postgres_load_leaves_out_owners_and_grants_only():
    dump = ("CREATE TABLE public.notes (id integer);\nALTER TABLE public.notes OWNER TO \"www-data\";\n"
            "GRANT ALL ON TABLE public.notes TO \"www-data\";\nINSERT INTO x VALUES ('ALTER TABLE a OWNER TO b;');\n")
    out = run_filter(load_argv(PG, "scratch", portable=True), dump)
    assert out == "CREATE TABLE public.notes (id integer);\nINSERT INTO x VALUES ('ALTER TABLE a OWNER TO b;');\n"
    plain = load_argv(PG, "site_new")
    assert plain == ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                     "--single-transaction", "-d", "site_new"]


def test_postgres_swap_renames_both_in_one_transaction():
    argv = pg_swap_argv(PG, live="site", staging="site_new", kept_aside="site_prev")
    assert "--single-transaction" in argv
    statements = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert statements[1:] == ['ALTER DATABASE "site" RENAME TO "site_prev"', 'ALTER DATABASE "site_new" RENAME TO "site"']
    assert "pg_terminate_backend" in statements[0]


def test_mariadb_swap_moves_every_table_in_one_rename_statement():
    argv = mysql_swap_argv(MARIA, live="shop.v2", staging="new", kept_aside="prev", live_tables=["a"],
                           staging_tables=["a", "b"])
    assert argv[:4] == ["mysql", "--batch", "--skip-column-names", "--user=backup"]
    sql = argv[-1]
    assert "RENAME TABLE `shop.v2`.`a` TO `prev`.`a`, `new`.`a` TO `shop.v2`.`a`, `new`.`b` TO `shop.v2`.`b`" in sql
    assert sql.startswith("CREATE DATABASE `prev`") and sql.endswith("DROP DATABASE `new`")


def test_identifiers_and_owner_are_quoted():
    assert pg_identifier('we"ird') == '"we""ird"'
    assert create_argv(PG, "site_new", owner="www-data")[-1] == 'CREATE DATABASE "site_new" OWNER "www-data" TEMPLATE template0'
    assert query_argv(MARIA, "shop.v2")[-1].endswith("table_schema = 'shop.v2'")


def test_mysql_object_listing_is_parsed():
    tables, others = parse_mysql_objects("T\tnew\ta\tBASE TABLE\nT\tnew\tv\tVIEW\nX\t2\n")
    assert tables == {"new": [("a", "BASE TABLE"), ("v", "VIEW")]} and others == 2


def test_derived_names_fit_the_limits():
    assert derived_name(PG, "chaton_prev_x") == "site_chaton_prev_x"
    assert len(derived_name(Database(engine="mysql", name="m" * 63), "chaton_prev_20261122t100000z")) == 64
