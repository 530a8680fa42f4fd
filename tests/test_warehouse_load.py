"""load_batch against a real DuckDB file: outcomes, versions, change rows, raw pages, rollback."""

from __future__ import annotations

import gc
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import warehouse.load as load_module
from test_warehouse_support import ARTICLE_ID, T0, URL, bare, later, make_record, parsed, rows, writer
from warehouse.db import VACUUM_BELOW_VISITS, open_writer
from warehouse.load import ArticleEvent, load_batch
from warehouse.raw import raw_page_bytes, raw_sha256
from warehouse.visit import VisitInput


def test_new_article_is_created_with_version_1_visit_and_raw_bytes(tmp_path: Path) -> None:
    record = make_record()
    with writer(tmp_path) as conn:
        result = load_batch(conn, "run-1", [parsed(record, raw=b"<html>page</html>")])

        assert result.outcomes == ["created"]
        assert result.counts == {"created": 1}
        assert result.events == [ArticleEvent("created", "kazinform", ARTICLE_ID, 1, URL, ())]
        assert rows(
            conn,
            "select version, valid_to, title, authors, tags, published_at::varchar from article_versions",
        ) == [(1, None, record.title, ["Наталья Мосунова"], ["Токаев", "Россия"], "2025-11-12 14:09:00+00")]
        assert rows(conn, "select visit_id, run_id, outcome, url, path, raw_sha256, bytes from visits") == [
            (result.visit_ids[0], "run-1", "created", URL, None, raw_sha256(b"<html>page</html>"), 17)
        ]
        assert raw_page_bytes(conn, raw_sha256(b"<html>page</html>")) == b"<html>page</html>"
        assert rows(
            conn, "select article_id, url, versions, edits, deleted, first_seen_at from articles"
        ) == [(ARTICLE_ID, URL, 1, 0, False, T0)]
        assert rows(conn, "select blocks::varchar from article_versions") == [
            ('[{"kind":"paragraph"},{"kind":"paragraph"}]',)
        ]
        assert rows(conn, "select position, kind, text from article_blocks order by position") == [
            (i, b.kind, b.text) for i, b in enumerate(record.blocks, start=1)
        ]
        assert rows(conn, "select count(*) from article_changes") == [(0,)]


def test_same_input_and_whitespace_only_difference_are_unchanged(tmp_path: Path) -> None:
    record = make_record()
    spaced = make_record(title="Госвизит\u00a0Токаева  в Москву ", body=record.body.replace(" ", "  "))
    assert spaced.content_hash == record.content_hash
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(record)])
        again = load_batch(conn, "run-2", [parsed(record, later(10)), parsed(spaced, later(20))])

        assert again.outcomes == ["unchanged", "unchanged"]
        assert again.events == []
        assert rows(conn, "select count(*), max(version) from article_versions") == [(1, 1)]
        assert rows(conn, "select title, last_seen_at from articles") == [(record.title, later(20))]
        assert rows(conn, "select count(*) from visits") == [(3,)]


def test_title_edit_makes_version_2_with_exactly_one_title_change(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        first = load_batch(conn, "run-1", [parsed(make_record())])
        second = load_batch(conn, "run-2", [parsed(make_record(title="Новый заголовок"), later(60))])

        assert second.outcomes == ["changed"]
        assert second.events == [ArticleEvent("changed", "kazinform", ARTICLE_ID, 2, URL, ("title",))]
        assert rows(conn, "select version, valid_from, valid_to from article_versions order by version") == [
            (1, T0, later(60)),
            (2, later(60), None),
        ]
        assert rows(
            conn,
            "select version, field, old_value, new_value, changed_at, visit_id, flipflop"
            " from article_changes",
        ) == [
            (
                2,
                "title",
                "Госвизит Токаева в Москву",
                "Новый заголовок",
                later(60),
                second.visit_ids[0],
                False,
            )
        ]
        assert rows(conn, "select title, version, versions, edits from articles") == [
            ("Новый заголовок", 2, 2, 1)
        ]
        assert first.visit_ids[0] < second.visit_ids[0]


def test_list_and_body_changes_are_text_rows_in_record_order(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        edited = make_record(tags=["Токаев"], body="Первый абзац о визите.", image_caption="Токаев и Путин")
        result = load_batch(conn, "run-2", [parsed(edited, later(5))])

        assert result.events[0].changed_fields == ("body", "tags", "image_caption")
        changes = dict(
            (field, (old, new))
            for field, old, new in rows(conn, "select field, old_value, new_value from article_changes")
        )
        assert changes["tags"] == ('["Токаев","Россия"]', '["Токаев"]')
        assert changes["body"][1] == "Первый абзац о визите."
        assert changes["image_caption"] == ("Tokayev and Putin", "Токаев и Путин")


def test_new_address_is_redirected_with_a_url_change(tmp_path: Path) -> None:
    moved_url = f"https://www.inform.kz/ru/novyi-slug-{ARTICLE_ID}"
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        moved = load_batch(conn, "run-2", [parsed(make_record(url=moved_url), later(30), requested_url=URL)])

        assert moved.outcomes == ["redirected"]
        assert moved.events == [ArticleEvent("moved", "kazinform", ARTICLE_ID, 2, moved_url, ("url",))]
        assert rows(conn, "select field, old_value, new_value from article_changes") == [
            ("url", URL, moved_url)
        ]
        assert rows(conn, "select url, versions from articles") == [(moved_url, 2)]
        assert rows(conn, "select requested_url from visits where outcome = 'redirected'") == [(URL,)]

        both = load_batch(conn, "run-3", [parsed(make_record(url=URL, title="Другой"), later(60))])
        assert both.outcomes == ["redirected"]
        assert both.events[0].changed_fields == ("url", "title")


def test_record_without_url_keeps_the_known_address(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        result = load_batch(conn, "run-2", [parsed(make_record(url=None), later(5), locator="copy.txt")])

        assert result.outcomes == ["unchanged"]
        assert rows(conn, "select url from articles") == [(URL,)]
        assert rows(conn, "select path, url from visits where visit_id = ?", [result.visit_ids[0]]) == [
            ("copy.txt", None)
        ]


def test_gone_marks_deleted_and_a_return_restores(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        gone = load_batch(conn, "run-2", [bare("gone", later(10), http_status=404)])
        assert gone.outcomes == ["gone"]
        assert gone.events == [ArticleEvent("deleted", "kazinform", ARTICLE_ID, 1, URL, ("deleted",))]
        assert rows(conn, "select deleted, versions, title, next_visit_at from articles") == [
            (True, 1, "Госвизит Токаева в Москву", None)
        ]
        again_gone = load_batch(conn, "run-3", [bare("gone", later(20), http_status=410)])
        assert again_gone.events == []

        back = load_batch(conn, "run-4", [parsed(make_record(), later(30))])
        assert back.outcomes == ["unchanged"]
        assert [e.kind for e in back.events] == ["restored"]
        assert rows(
            conn, "select version, field, old_value, new_value from article_changes order by changed_at"
        ) == [
            (1, "deleted", "false", "true"),
            (1, "deleted", "true", "false"),
        ]
        assert rows(conn, "select deleted, versions from articles") == [(False, 1)]


def test_gone_article_returning_with_new_content_is_changed_and_restored(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        load_batch(conn, "run-2", [bare("gone", later(10))])
        back = load_batch(conn, "run-3", [parsed(make_record(lead="Новый лид"), later(20))])

        assert back.outcomes == ["changed"]
        assert [(e.kind, e.changed_fields) for e in back.events] == [
            ("restored", ("deleted",)),
            ("changed", ("lead",)),
        ]
        assert rows(conn, "select field from article_changes where version = 2 order by field") == [
            ("deleted",),
            ("lead",),
        ]


def test_not_modified_adds_a_visit_and_moves_last_visited(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        result = load_batch(conn, "run-2", [bare("not_modified", later(15), http_status=304, etag='"v1"')])

        assert result.outcomes == ["not_modified"]
        assert rows(conn, "select count(*) from article_versions") == [(1,)]
        assert rows(conn, "select last_visited_at, last_seen_at from articles") == [(later(15), later(15))]
        assert rows(conn, "select outcome, http_status, etag from visits order by visit_id")[-1] == (
            "not_modified",
            304,
            '"v1"',
        )


def test_parse_error_keeps_raw_bytes_and_changes_nothing_else(tmp_path: Path) -> None:
    broken = b"\x00\x01binary junk"
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        before = rows(conn, "select * from article_state")
        result = load_batch(
            conn,
            "run-2",
            [
                bare(
                    "parse_error", later(5), raw=broken, error="binary file, no text", locator="seeds/bad.txt"
                )
            ],
        )

        assert result.outcomes == ["parse_error"]
        assert rows(
            conn,
            "select outcome, error, path, raw_sha256 from visits where visit_id = ?",
            [result.visit_ids[0]],
        ) == [("parse_error", "binary file, no text", "seeds/bad.txt", raw_sha256(broken))]
        assert raw_page_bytes(conn, raw_sha256(broken)) == broken
        assert rows(conn, "select * from article_state") == before
        assert rows(conn, "select count(*) from article_versions") == [(1,)]


def test_failed_and_listed_visits_are_recorded_as_given(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        result = load_batch(
            conn,
            "run-1",
            [
                bare("failed", error="timeout after 3 attempts", http_status=None),
                bare(
                    "listed",
                    article_id=None,
                    locator="https://www.inform.kz/ru/lenta",
                    raw=b"<rss/>",
                    http_status=200,
                ),
            ],
        )
        assert result.outcomes == ["failed", "listed"]
        assert result.counts == {"failed": 1, "listed": 1}
        assert rows(conn, "select outcome, error, raw_sha256 is null from visits order by visit_id") == [
            ("failed", "timeout after 3 attempts", True),
            ("listed", None, False),
        ]
        assert rows(conn, "select count(*) from article_state") == [(0,)]
        with pytest.raises(KeyError):
            raw_page_bytes(conn, "0" * 64)


def test_raw_bytes_are_stored_once(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(
            conn, "run-1", [parsed(make_record(), raw=b"same"), parsed(make_record("b1"), raw=b"same")]
        )
        load_batch(conn, "run-2", [parsed(make_record(), later(1), raw=b"same")])
        assert rows(conn, "select count(*), min(size) from raw_pages") == [(1, 4)]
        assert rows(conn, "select count(*) from visits where raw_sha256 = ?", [raw_sha256(b"same")]) == [(3,)]


def test_same_article_twice_in_a_batch_is_merged_in_input_order(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        result = load_batch(
            conn,
            "run-1",
            [
                parsed(make_record()),
                parsed(make_record("other1")),
                parsed(make_record()),
                parsed(make_record(title="Правка"), later(1)),
            ],
        )
        assert result.outcomes == ["created", "created", "unchanged", "changed"]
        assert rows(
            conn,
            "select version, title, valid_to from article_versions where article_id = ? order by 1",
            [ARTICLE_ID],
        ) == [
            (1, "Госвизит Токаева в Москву", later(1)),
            (2, "Правка", None),
        ]
        assert result.visit_ids == sorted(result.visit_ids)


def test_flipflop_between_two_values_is_flagged_after_the_first_change(tmp_path: Path) -> None:
    a, b = make_record(title="A"), make_record(title="B")
    with writer(tmp_path) as conn:
        for minute, record in enumerate([a, b, a, b]):
            load_batch(conn, f"run-{minute}", [parsed(record, later(minute))])
        load_batch(conn, "run-c", [parsed(make_record(title="C"), later(9))])

        assert rows(
            conn, "select version, old_value, new_value, flipflop from article_changes order by version"
        ) == [
            (2, "A", "B", False),
            (3, "B", "A", True),
            (4, "A", "B", True),
            (5, "B", "C", False),
        ]
        assert rows(conn, "select versions, edits from articles") == [(5, 2)]


def test_failed_batch_rolls_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        snapshot = {
            table: rows(conn, f"select * from {table} order by all")
            for table in ("visits", "raw_pages", "article_versions", "article_changes", "article_state")
        }

        def fail_after_versions_were_written(*_args: object) -> None:
            raise RuntimeError("disk full")

        # versions, changes, state and raw pages are written before the visits: fail there
        monkeypatch.setattr(load_module, "_insert_visits", fail_after_versions_were_written)
        batch = [
            parsed(make_record(title="Правка"), later(5), raw=b"new bytes"),
            parsed(make_record("b2"), later(5)),
        ]
        with pytest.raises(RuntimeError, match="disk full"):
            load_batch(conn, "run-2", batch)
        assert gc.isenabled()  # the collector paused for the load runs again after a failure too

        for table, before in snapshot.items():
            assert rows(conn, f"select * from {table} order by all") == before, table
        monkeypatch.undo()
        assert load_batch(conn, "run-3", batch).outcomes == ["changed", "created"]


def test_naive_datetimes_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        with pytest.raises(ValueError, match="timezone-aware"):
            load_batch(conn, "run-1", [parsed(make_record(), T0.replace(tzinfo=None))])
        assert rows(conn, "select count(*) from visits") == [(0,)]


def test_change_rows_store_no_text_and_the_view_reads_it_from_the_versions(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        load_batch(conn, "run-2", [parsed(make_record(body="Новый текст статьи."), later(5))])
        assert rows(conn, "select field, old_value, new_value from article_field_changes") == [
            ("body", None, None)
        ]
        [(old_body, new_body)] = rows(conn, "select old_value, new_value from article_changes")
        assert old_body == make_record().body
        assert new_body == "Новый текст статьи."


def _failed_fetches(count: int, at: datetime) -> list[VisitInput]:
    return [
        bare("failed", at, article_id=None, locator=f"{URL}-{i:06d}", error="timed out") for i in range(count)
    ]


def _visit_row_groups(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Rows of each row group of `visits`, in order."""
    sizes = conn.execute(
        "SELECT sum(count) FROM pragma_storage_info('visits') WHERE column_id = 0 AND column_path = '[0]' "
        "GROUP BY row_group_id ORDER BY row_group_id"
    ).fetchall()
    return [int(size) for (size,) in sizes]


def test_large_loads_commit_without_the_vacuum_and_a_small_one_merges_what_they_left(tmp_path: Path) -> None:
    # With DuckDB's vacuum at every commit the second large load would merge both into one row
    # group (2,048 + 2,053 rows reach twice the first): each large load would rewrite the last.
    path = tmp_path / "warehouse.duckdb"
    for minutes, count in ((0, VACUUM_BELOW_VISITS), (10, VACUUM_BELOW_VISITS + 5)):
        with open_writer(path) as conn:
            load_batch(conn, "large", _failed_fetches(count, later(minutes)))
    with open_writer(path) as conn:
        assert _visit_row_groups(conn) == [VACUUM_BELOW_VISITS, VACUUM_BELOW_VISITS + 5]
        # 100 visits: enough to make the commit checkpoint (warehouse.db's checkpoint_threshold)
        load_batch(conn, "small", _failed_fetches(100, later(20)))
        assert _visit_row_groups(conn) == [2 * VACUUM_BELOW_VISITS + 105]
        assert rows(conn, "select run_id, count(*) from visits group by run_id order by run_id") == [
            ("large", 2 * VACUUM_BELOW_VISITS + 5),
            ("small", 100),
        ]
