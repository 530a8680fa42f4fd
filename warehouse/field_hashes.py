"""Per-field hashes of new records, computed by the load for the records that make a new version.

`article_state.field_hashes` keeps, per article, a 64-bit hash of each tracked field of its current
version (parsers.record.TRACKED_FIELDS order); a load finds which fields changed by comparing them
with the new record's hashes. The hashes must be those migration 004's macros give (`field_value_hash`
over `change_text` / `change_list_text` / `change_time_text`), so they are computed by DuckDB itself,
in a private in-memory database holding the same macros: no warehouse file, no lock of its own.

The url is the one field that depends on the warehouse: a record without an address keeps the
article's known one, so for a known article the load takes the kept url hash in that case
(warehouse.merge_sql); the staged slot holds the hash of the record's url, null included.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from parsers.record import RECORD_FIELDS, TRACKED_FIELDS

HASH_TYPE = pa.list_(pa.uint64())

# Migration 004's macros, verbatim in meaning; tests compare both on the same values.
_MACROS = (
    "CREATE MACRO change_text(value) AS CAST(value AS VARCHAR)",
    "CREATE MACRO change_list_text(value) AS CAST(to_json(value) AS VARCHAR)",
    "CREATE MACRO change_time_text(value) AS strftime(value, '%Y-%m-%dT%H:%M:%SZ')",
    "CREATE MACRO field_value_hash(value_text) AS coalesce(hash(value_text), 0::UBIGINT)",
)
# The record declares each field's kind (parsers.record.RECORD_FIELDS); the text of a change follows it.
_KIND_OF = {f.name: f.kind for f in RECORD_FIELDS}
_TEXT_MACRO = {"texts": "change_list_text", "time": "change_time_text"}


def field_text_sql(field: str, expression: str) -> str:
    """The text a change row shows for `field` (lists as JSON, times ISO-8601 UTC), as SQL."""
    return f"{_TEXT_MACRO.get(_KIND_OF[field], 'change_text')}({expression})"


def _hash_list_sql() -> str:
    columns = {"url": "v.record_url", "published_at": "v.published_at"}
    slots = [f"field_value_hash({field_text_sql(f, columns.get(f, 'n.' + f))})" for f in TRACKED_FIELDS]
    return "[" + ", ".join(slots) + "]"


# A visit without a record (no version row) has no hashes.
_HASHES_QUERY = f"""
SELECT CASE WHEN n.pos IS NOT NULL THEN {_hash_list_sql()}::UBIGINT[] END AS field_hashes
FROM staged_visits AS v
LEFT JOIN staged_versions AS n USING (pos)
ORDER BY v.pos
"""


def stage_field_hashes(visits: pa.Table, versions: pa.Table) -> pa.ChunkedArray:
    """One hash list per row of `visits` (in `pos` order); null for a visit without a record.

    `visits` and `versions` are a batch's staged tables (warehouse.stage): the record's url and
    published_at are visit columns, the other tracked fields version columns, joined on `pos`.
    """
    if TRACKED_FIELDS[0] != "url":
        raise AssertionError("the url must stay the first tracked field: the load resolves its slot")
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        for macro in _MACROS:
            conn.execute(macro)
        conn.register("staged_visits", visits)
        conn.register("staged_versions", versions)
        hashes = conn.sql(_HASHES_QUERY).to_arrow_table().column("field_hashes")
    finally:
        conn.close()
    return hashes.cast(HASH_TYPE)
