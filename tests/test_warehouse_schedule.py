"""Revisit schedule (next_visit_at) and the crawler's queries in warehouse.state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_warehouse_support import ARTICLE_ID, T0, URL, bare, make_record, parsed, rows, writer
from warehouse.load import load_batch
from warehouse.state import http_validators, known_article_ids, known_tags, revisit_targets

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def schedule(conn) -> tuple[timedelta | None, object]:  # type: ignore[no-untyped-def]
    return rows(conn, "select revisit_interval, next_visit_at from article_state")[0]


def test_interval_doubles_without_change_up_to_the_band_and_resets_on_change(tmp_path: Path) -> None:
    record = make_record(published_at=T0 - 2 * DAY)  # age band < 7 days: every 3 h at most
    with writer(tmp_path) as conn:
        at = T0
        load_batch(conn, "r0", [parsed(record, at)])
        assert schedule(conn) == (15 * MIN, at + 15 * MIN)

        seen = []
        for status in ["parsed", "not_modified", "parsed", "parsed", "parsed"]:
            at = schedule(conn)[1]
            visit = parsed(record, at) if status == "parsed" else bare("not_modified", at)
            load_batch(conn, "r", [visit])
            seen.append(schedule(conn)[0])
        assert seen == [30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 3 * HOUR]

        at = schedule(conn)[1]
        load_batch(conn, "r", [parsed(make_record(published_at=T0 - 2 * DAY, title="Правка"), at)])
        assert schedule(conn) == (15 * MIN, at + 15 * MIN)


def test_bands_by_age_of_the_article(tmp_path: Path) -> None:
    ages = {"a1": 1 * HOUR, "a2": 5 * HOUR, "a3": 3 * DAY, "a4": 10 * DAY, "a5": 100 * DAY, "a6": 400 * DAY}
    with writer(tmp_path) as conn:
        load_batch(conn, "r0", [parsed(make_record(aid, published_at=T0 - age)) for aid, age in ages.items()])
        # every new article starts at 15 min, except past the last band: never
        assert rows(conn, "select article_id, revisit_interval from article_state order by 1") == [
            ("a1", 15 * MIN),
            ("a2", 15 * MIN),
            ("a3", 15 * MIN),
            ("a4", 15 * MIN),
            ("a5", 15 * MIN),
            ("a6", None),
        ]
        # twelve unchanged visits: each interval climbs to its band and stays there
        for step in range(1, 13):
            load_batch(
                conn,
                "r",
                [
                    parsed(make_record(aid, published_at=T0 - age), T0 + step * MIN)
                    for aid, age in ages.items()
                ],
            )
        assert rows(conn, "select article_id, revisit_interval from article_state order by 1") == [
            ("a1", 15 * MIN),
            ("a2", HOUR),
            ("a3", 3 * HOUR),
            ("a4", 3 * DAY),
            ("a5", 30 * DAY),
            ("a6", None),
        ]


def test_age_counts_from_first_seen_when_there_is_no_published_at(tmp_path: Path) -> None:
    record = make_record(published_at=None)
    with writer(tmp_path) as conn:
        load_batch(conn, "r0", [parsed(record, T0)])
        for step in range(1, 11):
            load_batch(conn, "r", [parsed(record, T0 + 8 * DAY + step * MIN)])
        assert schedule(conn)[0] == 3 * DAY  # 8 days after first seen: the < 30 days band


def test_revisit_targets_due_and_all_leave_out_deleted(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(
            conn, "r0", [parsed(make_record(published_at=T0)), parsed(make_record("b1", published_at=T0))]
        )
        load_batch(conn, "r1", [parsed(make_record("c1", published_at=T0), T0 + HOUR)])
        load_batch(conn, "r2", [bare("gone", T0 + HOUR, article_id="b1")])

        assert revisit_targets(conn, "kazinform", "due", T0 + 20 * MIN) == [(ARTICLE_ID, URL)]
        due_later = revisit_targets(conn, "kazinform", "due", T0 + 2 * HOUR)
        assert [article_id for article_id, _ in due_later] == [ARTICLE_ID, "c1"]
        assert {a for a, _ in revisit_targets(conn, "kazinform", "all", T0)} == {ARTICLE_ID, "c1"}
        assert known_article_ids(conn, "kazinform") == {ARTICLE_ID, "b1", "c1"}
        assert known_article_ids(conn, "other") == set()
        assert rows(conn, "select article_id, next_visit_at from articles where deleted") == [("b1", None)]


def test_http_validators_come_from_the_latest_200(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(
            conn,
            "r0",
            [parsed(make_record(), T0, http_status=200, etag='"v1"', last_modified="Wed, 12 Nov 2025")],
        )
        load_batch(conn, "r1", [parsed(make_record(), T0 + HOUR, http_status=200, etag='"v2"')])
        load_batch(conn, "r2", [bare("not_modified", T0 + 2 * HOUR, http_status=304, etag='"v3"')])

        assert http_validators(conn, [URL, "https://www.inform.kz/ru/unknown-00000000"]) == {
            URL: ('"v2"', None)
        }
        assert http_validators(conn, []) == {}


def test_known_tags_are_those_of_current_versions(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        load_batch(conn, "r0", [parsed(make_record(tags=["Старый тег"]))])
        load_batch(conn, "r1", [parsed(make_record(tags=["Токаев", "Внешняя политика"]), T0 + HOUR)])
        assert known_tags(conn) == {"Токаев", "Внешняя политика"}
