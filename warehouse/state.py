"""Queries the crawler asks the warehouse before it fetches, and the file ingest before it parses:
what it knows, and what is due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, NamedTuple

import duckdb
import pyarrow as pa

RevisitMode = Literal["all", "due"]

SELECT_VALIDATORS = """
SELECT url, etag, last_modified FROM http_validators WHERE url IN (SELECT unnest($urls))
"""
SELECT_KNOWN_IDS = "SELECT article_id FROM article_state WHERE source = $source"
SELECT_DELETED_IDS = "SELECT article_id FROM article_state WHERE source = $source AND deleted"
# Deleted articles are left out: a 404 is final until the article shows up again in a feed or
# listing, which the crawler discovers anyway (and the loader then restores it).
SELECT_REVISIT_ALL = """
SELECT article_id, url FROM article_state
WHERE source = $source AND NOT deleted AND url IS NOT NULL
ORDER BY next_visit_at NULLS LAST, article_id
"""
SELECT_REVISIT_DUE = """
SELECT article_id, url FROM article_state
WHERE source = $source AND NOT deleted AND url IS NOT NULL AND next_visit_at <= $now
ORDER BY next_visit_at, article_id
"""
# The last visit of each path that read a body, when it made or kept an article: the outcomes of a
# page that parsed (a `parse_error` or a `failed` read is parsed again, perhaps by a fixed parser).
# visit_id orders loads: a later load has higher ids, whatever the clocks of the readers said.
SELECT_LAST_FILE_READS = """
SELECT path, raw_sha256, source, article_id FROM (
    SELECT v.path, v.raw_sha256, v.source, v.article_id, v.outcome
    FROM visits AS v JOIN file_paths AS f ON f.path = v.path
    WHERE v.raw_sha256 IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY v.path ORDER BY v.visit_id DESC) = 1
)
WHERE outcome IN ('created', 'changed', 'unchanged', 'redirected', 'not_modified')
  AND article_id IS NOT NULL
"""
SELECT_KNOWN_TAGS = """
SELECT DISTINCT unnest(tags) FROM article_versions WHERE valid_to IS NULL
"""


def http_validators(
    conn: duckdb.DuckDBPyConnection, urls: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """url → (etag, last_modified) from the latest 200 answer, for the urls that have any."""
    wanted = list(dict.fromkeys(urls))
    if not wanted:
        return {}
    rows = conn.execute(SELECT_VALIDATORS, {"urls": wanted}).fetchall()
    return {url: (etag, last_modified) for url, etag, last_modified in rows}


def known_article_ids(conn: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    """Every article id of `source` the warehouse holds (deleted ones included)."""
    return {row[0] for row in conn.execute(SELECT_KNOWN_IDS, {"source": source}).fetchall()}


def deleted_article_ids(conn: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    """Articles last seen gone: fetched again when discovery lists them, so a comeback is recorded."""
    return {row[0] for row in conn.execute(SELECT_DELETED_IDS, {"source": source}).fetchall()}


def revisit_targets(
    conn: duckdb.DuckDBPyConnection, source: str, mode: RevisitMode, now: datetime
) -> list[tuple[str, str]]:
    """(article_id, current url) to fetch again: every live article ('all') or those due by `now`."""
    if mode == "all":
        rows = conn.execute(SELECT_REVISIT_ALL, {"source": source}).fetchall()
    elif mode == "due":
        rows = conn.execute(SELECT_REVISIT_DUE, {"source": source, "now": now}).fetchall()
    else:
        raise ValueError(f"revisit mode must be 'all' or 'due', not {mode!r}")
    return [(article_id, url) for article_id, url in rows]


def known_tags(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Distinct tags of the current versions (the parser keeps a known multi-word tag whole)."""
    return {row[0] for row in conn.execute(SELECT_KNOWN_TAGS).fetchall() if row[0]}


class FileRead(NamedTuple):
    """What a path's last read gave: the body's sha256 and the article it made or kept."""

    raw_sha256: str
    source: str
    article_id: str


def last_file_reads(conn: duckdb.DuckDBPyConnection, paths: Iterable[str]) -> dict[str, FileRead]:
    """path → its last read that parsed, for the `paths` the warehouse has read before. A file
    whose bytes still hash the same is not parsed again (flows.read): it is a `not_modified` visit,
    as an HTTP 304 is."""
    wanted = pa.table({"path": pa.array(list(dict.fromkeys(paths)), pa.string())})
    if wanted.num_rows == 0:
        return {}
    conn.register("file_paths", wanted)
    try:
        rows = conn.execute(SELECT_LAST_FILE_READS).fetchall()
    finally:
        conn.unregister("file_paths")
    return {path: FileRead(sha, source, article_id) for path, sha, source, article_id in rows}
