"""Queries the crawler asks the warehouse before it fetches: what it knows, and what is due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import duckdb

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
