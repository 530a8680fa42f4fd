"""Schema migrations: numbered `.sql` files in `warehouse/sql/`, applied in order, recorded in the warehouse.

A warehouse made by an older release is upgraded in place: each pending file runs in its own
transaction together with its `schema_migrations` row, so a failed upgrade leaves the previous schema
and all data as they were. Files are never edited once released; a change is a new file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)
"""
APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations VALUES (?, ?, now())"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with this release, in version order."""
    found = []
    for entry in resources.files("warehouse").joinpath("sql").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def apply_migrations(conn: duckdb.DuckDBPyConnection, *, up_to: int | None = None) -> list[int]:
    """Apply pending migrations (all, or those numbered ≤ `up_to`); return the versions applied."""
    conn.execute(CREATE_MIGRATIONS_TABLE)
    applied = {row[0] for row in conn.execute(APPLIED_VERSIONS).fetchall()}
    done = []
    for migration in available_migrations():
        if migration.version in applied or (up_to is not None and migration.version > up_to):
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(migration.sql)
            conn.execute(RECORD_MIGRATION, [migration.version, migration.name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        done.append(migration.version)
    return done
