"""Scratch PostgreSQL databases for the benchmarks: made on the server of DATABASE_URL, dropped after."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql


def server_url(database_url: str, dbname: str) -> str:
    """The same server as `database_url`, another database."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("DATABASE_URL must point at PostgreSQL (postgres://user@host:port/db).")
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, ""))


def run_admin(database_url: str, statement: sql.Composable) -> None:
    # The maintenance database, not the scratch one: a database cannot drop itself.
    conn = psycopg2.connect(server_url(database_url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def create_database(database_url: str, name: str) -> str:
    run_admin(database_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url(database_url, name)


def drop_database(database_url: str, name: str) -> None:
    run_admin(database_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
