"""Field hashes computed while staging equal what the warehouse's own macros give for the stored version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from parsers.record import TRACKED_FIELDS
from test_warehouse_support import later, make_record, parsed, rows, writer
from warehouse.field_hashes import field_text_sql
from warehouse.load import load_batch

# The hashes migration 004's macros give for the current version, computed inside the warehouse.
STORED_VERSION_HASHES = (
    "SELECT s.article_id, s.field_hashes = ["
    + ", ".join(
        f"field_value_hash({field_text_sql(f, 's.url' if f == 'url' else 'v.' + f)})" for f in TRACKED_FIELDS
    )
    + "] AS same, s.field_hashes FROM article_state AS s JOIN article_versions AS v"
    " ON v.source = s.source AND v.article_id = s.article_id AND v.version = s.current_version"
    " ORDER BY s.article_id"
)


def test_kept_hashes_match_the_warehouse_macros_on_awkward_values(tmp_path: Path) -> None:
    awkward = [
        make_record("a1"),
        make_record("a2", url=None, lead=None, category=None, image_url=None, authors=[], tags=[]),
        make_record(
            "a3",
            title='Кавычки "двойные" и \\ обратная черта',
            tags=['тег с "кавычками"', "Қазақстан", "ümlaut"],
            authors=["Асель Сатаева", "Наталья Мосунова"],
            updated_at=datetime(2025, 11, 13, 1, 2, 3, 456789, tzinfo=UTC),
            published_at=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        make_record("a4", published_at=None, published_text=None, body="Один абзац."),
    ]
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(r) for r in awkward])
        checked = rows(conn, STORED_VERSION_HASHES)
    assert [article_id for article_id, _, _ in checked] == ["a1", "a2", "a3", "a4"]
    assert all(same for _, same, _ in checked), checked
    # a missing value is a value of its own: null → text is a change like any other
    by_id = {article_id: hashes for article_id, _, hashes in checked}
    for field in ("url", "lead", "category"):
        assert by_id["a2"][TRACKED_FIELDS.index(field)] != by_id["a1"][TRACKED_FIELDS.index(field)]


def test_a_record_without_an_address_keeps_the_known_url_and_its_hash(tmp_path: Path) -> None:
    first = make_record("b1")
    edited_without_url = make_record("b1", url=None, title="Новый заголовок")
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(first)])
        result = load_batch(conn, "run-2", [parsed(edited_without_url, later(30), locator="seeds/b1.txt")])
        checked = rows(conn, STORED_VERSION_HASHES)
        url = rows(conn, "select url from articles")
    assert result.outcomes == ["changed"]
    assert [event.changed_fields for event in result.events] == [("title",)]
    assert url == [(first.url,)]
    assert all(same for _, same, _ in checked), checked
