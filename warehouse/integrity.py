"""Checks of what the warehouse's loads guarantee by construction (migration 005 dropped the
tables' primary-key indexes). Each check is a query returning offending rows;
an empty result means the rule holds. The tests run them after their loads."""

from __future__ import annotations

import duckdb

CHECKS: dict[str, str] = {
    "visit ids are unique": """
        SELECT visit_id, count(*) AS n FROM visits GROUP BY visit_id HAVING count(*) > 1""",
    "a version exists once": """
        SELECT source, article_id, version, count(*) AS n FROM article_versions
        GROUP BY ALL HAVING count(*) > 1""",
    "an article has one state row": """
        SELECT source, article_id, count(*) AS n FROM article_state GROUP BY ALL HAVING count(*) > 1""",
    "a raw body is stored once": """
        SELECT raw_sha256, count(*) AS n FROM raw_pages GROUP BY raw_sha256 HAVING count(*) > 1""",
    "versions run 1..n with exactly the last one current": """
        SELECT source, article_id, count(*) AS n, max(version) AS last,
               count(*) FILTER (WHERE valid_to IS NULL) AS current
        FROM article_versions GROUP BY ALL
        HAVING count(*) <> max(version) OR min(version) <> 1 OR count(*) FILTER (WHERE valid_to IS NULL) <> 1
            OR max(version) <> max(version) FILTER (WHERE valid_to IS NULL)""",
    "article_state points at the current version": """
        SELECT s.source, s.article_id, s.current_version, v.version
        FROM article_state AS s
        FULL JOIN (SELECT * FROM article_versions WHERE valid_to IS NULL) AS v USING (source, article_id)
        WHERE v.version IS DISTINCT FROM s.current_version
           OR v.content_hash IS DISTINCT FROM s.current_hash""",
    "every version's visit exists": """
        SELECT v.source, v.article_id, v.version, v.visit_id FROM article_versions AS v
        ANTI JOIN visits AS x ON x.visit_id = v.visit_id""",
    "every visit's raw body is stored": """
        SELECT x.visit_id, x.raw_sha256 FROM visits AS x
        WHERE x.raw_sha256 IS NOT NULL AND x.raw_sha256 NOT IN (SELECT raw_sha256 FROM raw_pages)""",
}


def integrity_violations(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    """The checks that fail, each with (up to 10 of) its offending rows."""
    failed: dict[str, list[tuple[object, ...]]] = {}
    for name, query in CHECKS.items():
        offending = conn.execute(f"SELECT * FROM ({query}) LIMIT 10").fetchall()
        if offending:
            failed[name] = offending
    return failed
