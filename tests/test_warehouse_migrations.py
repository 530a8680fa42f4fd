"""A warehouse made by release 1 (migration 001 only) is upgraded in place with its data intact."""

from __future__ import annotations

from pathlib import Path

import duckdb

from test_warehouse_support import T0, later, make_record, parsed, rows
from warehouse.db import open_writer
from warehouse.integrity import integrity_violations
from warehouse.load import load_batch
from warehouse.migrate import apply_migrations, available_migrations
from warehouse.raw import raw_page_bytes

RELEASE_1_DATA = """
INSERT INTO raw_pages VALUES ('aa', 'identity', 'old page'::BLOB, 8, TIMESTAMPTZ '2025-11-01 10:00:00+00');
INSERT INTO visits VALUES
    (1, 'old-run', 'kazinform', 'old1', NULL, 'seeds/old1.txt', TIMESTAMPTZ '2025-11-01 10:00:00+00',
     'created', NULL, 'aa', 29),
    (2, 'old-run', 'kazinform', 'old1', NULL, 'seeds/old1.txt', TIMESTAMPTZ '2025-11-02 10:00:00+00',
     'changed', NULL, 'aa', 29);
INSERT INTO article_versions (source, article_id, version, url, title, body, content_hash,
                              valid_from, valid_to, visit_id, tags, authors, published_at)
VALUES
    ('kazinform', 'old1', 1, NULL, 'Было', 'Текст', 'h1', TIMESTAMPTZ '2025-11-01 10:00:00+00',
     TIMESTAMPTZ '2025-11-02 10:00:00+00', 1, ['т'], ['а'], TIMESTAMPTZ '2025-11-01 09:00:00+00'),
    ('kazinform', 'old1', 2, NULL, 'Стало', 'Текст', 'h2', TIMESTAMPTZ '2025-11-02 10:00:00+00', NULL, 2,
     ['т'], ['а'], TIMESTAMPTZ '2025-11-01 09:00:00+00');
INSERT INTO article_changes VALUES
    ('kazinform', 'old1', 2, 'title', 'Было', 'Стало', TIMESTAMPTZ '2025-11-02 10:00:00+00', 2);
"""


def make_release_1_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as conn:
        assert apply_migrations(conn, up_to=1) == [1]
        conn.execute(RELEASE_1_DATA)
        assert rows(conn, "select title, versions from articles") == [("Стало", 2)]


def test_release_1_warehouse_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    make_release_1_warehouse(path)
    latest = available_migrations()[-1].version
    assert latest >= 2

    with open_writer(path) as conn:
        assert [v for (v,) in rows(conn, "select version from schema_migrations order by 1")] == list(
            range(1, latest + 1)
        )
        # data intact
        assert rows(conn, "select visit_id, outcome, path from visits order by 1") == [
            (1, "created", "seeds/old1.txt"),
            (2, "changed", "seeds/old1.txt"),
        ]
        assert rows(conn, "select version, title, valid_to is null from article_versions order by 1") == [
            (1, "Было", False),
            (2, "Стало", True),
        ]
        assert rows(conn, "select field, old_value, new_value, flipflop from article_changes") == [
            ("title", "Было", "Стало", False)
        ]
        assert raw_page_bytes(conn, "aa") == b"old page"
        # new columns and objects present, derived from the old data
        assert rows(conn, "select http_status, etag, requested_url from visits where visit_id = 1") == [
            (None, None, None)
        ]
        assert rows(
            conn, "select article_id, versions, edits, deleted, first_seen_at::varchar from articles"
        ) == [("old1", 2, 1, False, "2025-11-01 10:00:00+00")]
        assert rows(conn, "select count(*) from http_validators") == [(0,)]
        # the tables kept their columns and NOT NULLs but lost their key indexes (migration 005)
        assert rows(
            conn,
            """select table_name, constraint_type, count(*) from duckdb_constraints()
               where table_name in ('visits', 'article_versions', 'raw_pages', 'article_state')
                 and database_name = current_database()
               group by all order by all""",
        ) == [
            ("article_state", "NOT NULL", 6),
            ("article_versions", "NOT NULL", 6),
            ("raw_pages", "NOT NULL", 5),
            ("visits", "NOT NULL", 5),
        ]
        assert integrity_violations(conn) == {}

        # and the upgraded warehouse takes new loads on top of the old data
        result = load_batch(conn, "new-run", [parsed(make_record("old1"), later(1))])
        assert result.outcomes == ["redirected"]  # the release-1 copy had no address; now it has one
        assert rows(conn, "select max(visit_id), count(*) from visits") == [(3, 3)]
        assert rows(conn, "select versions from articles") == [(3,)]


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with open_writer(path) as conn:
        load_batch(conn, "r", [parsed(make_record(), T0)])
    with open_writer(path) as conn:
        assert apply_migrations(conn) == []
        assert rows(conn, "select count(*) from article_versions") == [(1,)]
