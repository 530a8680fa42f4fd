"""The event outbox written by load_batch in the batch's own transaction (real DuckDB files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import warehouse.outbox as outbox
from test_warehouse_support import ARTICLE_ID, T0, URL, bare, later, make_record, parsed, rows, writer
from warehouse.load import PackageRecord, load_batch
from warehouse.outbox import delete_rows, pending_count, pending_rows


def outbox_events(conn: Any) -> list[tuple[str, dict, dict, list]]:
    return [
        (row.event, json.loads(row.resource), json.loads(row.payload), json.loads(row.related))
        for row in pending_rows(conn, 1_000)
    ]


def article_resource(article_id: str = ARTICLE_ID, language: str = "ru") -> dict:
    return {
        "prefect.resource.id": f"kazinform.article.kazinform.{article_id}",
        "kazinform.source": "kazinform",
        "kazinform.language": language,
        "kazinform.article_id": article_id,
    }


def test_each_article_event_is_one_outbox_row_with_its_payload(tmp_path: Path) -> None:
    moved_url = f"https://www.inform.kz/ru/novyi-slug-{ARTICLE_ID}"
    with writer(tmp_path) as conn:
        first = load_batch(conn, "run-1", [parsed(make_record())])
        assert outbox_events(conn) == [
            (
                "kazinform.article.created",
                article_resource(),
                {"version": 1, "url": URL},
                [{"prefect.resource.id": "prefect.flow-run.run-1", "prefect.resource.role": "flow-run"}],
            )
        ]
        assert [row.occurred_at for row in pending_rows(conn, 10)] == [T0]
        assert [row.run_id for row in pending_rows(conn, 10)] == ["run-1"]
        delete_rows(conn, [row.id for row in pending_rows(conn, 10)])
        assert pending_count(conn) == 0 and first.outcomes == ["created"]

        load_batch(conn, "run-2", [parsed(make_record(title="Новый заголовок", tags=["Токаев"]), later(10))])
        load_batch(
            conn,
            "run-3",
            [
                parsed(
                    make_record(title="Новый заголовок", tags=["Токаев"], url=moved_url),
                    later(20),
                    requested_url=URL,
                )
            ],
        )
        load_batch(conn, "run-4", [bare("gone", later(30), http_status=404)])
        # back with new content: restored, then changed (the order of LoadResult.events)
        load_batch(conn, "run-5", [parsed(make_record(lead="Новый лид", url=moved_url), later(40))])
        events = outbox_events(conn)

    assert [(name, payload) for name, _, payload, _ in events] == [
        (
            "kazinform.article.changed",
            {"fields": ["title", "tags"], "old_version": 1, "new_version": 2, "url": URL},
        ),
        (
            "kazinform.article.moved",
            {"old_url": URL, "new_url": moved_url, "old_version": 2, "new_version": 3, "fields": ["url"]},
        ),
        ("kazinform.article.deleted", {"version": 3, "url": moved_url}),
        ("kazinform.article.restored", {"version": 4, "url": moved_url}),
        (
            "kazinform.article.changed",
            {"fields": ["title", "lead", "tags"], "old_version": 3, "new_version": 4, "url": moved_url},
        ),
    ]
    assert all(resource == article_resource() for _, resource, _, _ in events)
    assert [related[0]["prefect.resource.id"] for *_, related in events] == [
        "prefect.flow-run.run-2",
        "prefect.flow-run.run-3",
        "prefect.flow-run.run-4",
        "prefect.flow-run.run-5",
        "prefect.flow-run.run-5",
    ]


def test_unchanged_and_failed_visits_write_no_event(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        delete_rows(conn, [row.id for row in pending_rows(conn, 10)])
        load_batch(
            conn,
            "run-2",
            [
                parsed(make_record(), later(5)),
                bare("not_modified", later(6), http_status=304),
                bare("failed", later(7), error="timed out"),
                bare("gone", later(8), article_id="never-seen", http_status=404),
            ],
        )
        assert pending_count(conn) == 0


def test_many_created_in_one_batch_become_one_summary_per_source_and_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "CREATED_EVENTS_PER_BATCH", 3)
    batch = [parsed(make_record(f"ru{i}"), later(i)) for i in range(4)]
    batch += [parsed(make_record(f"kz{i}", language="kk"), later(10 + i)) for i in range(2)]
    with writer(tmp_path) as conn:
        result = load_batch(conn, "run-1", batch)
        events = outbox_events(conn)
        # below the threshold a batch's new articles are one event each
        small = load_batch(
            conn, "run-2", [parsed(make_record("x1"), later(30)), parsed(make_record("x2"), later(31))]
        )

    ids = result.visit_ids
    assert [name for name, *_ in events] == ["kazinform.articles.created"] * 2
    by_language = {resource["kazinform.language"]: (resource, payload) for _, resource, payload, _ in events}
    assert by_language["ru"] == (
        {
            "prefect.resource.id": "kazinform.articles.kazinform.ru",
            "kazinform.source": "kazinform",
            "kazinform.language": "ru",
        },
        {
            "count": 4,
            "first_article_id": "ru0",
            "last_article_id": "ru3",
            "first_visit_id": ids[0],
            "last_visit_id": ids[3],
            "run_id": "run-1",
        },
    )
    assert by_language["kk"][1]["count"] == 2
    assert by_language["kk"][1]["first_article_id"] == "kz0"
    assert small.counts == {"created": 2}
    with writer(tmp_path) as conn:
        names = [row.event for row in pending_rows(conn, 100) if row.run_id == "run-2"]
    assert names == ["kazinform.article.created"] * 2


def test_a_rolled_back_batch_leaves_no_outbox_row(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(make_record())])
        delete_rows(conn, [row.id for row in pending_rows(conn, 10)])
        batch = [parsed(make_record(title="Правка"), later(5)), parsed(make_record("b2"), later(5))]
        # A package id must not be null: recording the package, the last statement before COMMIT
        # and after the outbox rows were written, fails inside the transaction.
        broken_package = PackageRecord(package_id=None, staged_at=T0)  # type: ignore[arg-type]
        with pytest.raises(Exception, match="(?i)not null|constraint"):
            load_batch(conn, "run-2", batch, package=broken_package)
        assert pending_count(conn) == 0
        assert rows(conn, "select count(*) from visits") == [(1,)]

        assert load_batch(conn, "run-3", batch).outcomes == ["changed", "created"]
        assert [row.event for row in pending_rows(conn, 10)] == [
            "kazinform.article.changed",
            "kazinform.article.created",
        ]


def test_a_warehouse_without_the_outbox_table_has_nothing_pending(tmp_path: Path) -> None:
    import duckdb

    from warehouse.migrate import apply_migrations

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:
        apply_migrations(conn, up_to=6)
        assert pending_rows(conn, 10) == [] and pending_count(conn) == 0
