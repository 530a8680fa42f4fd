"""Relative day words, Tengrinews' drifting date shapes and dates without a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from parsers.dates import (
    astana_wall_clock,
    parse_day_date,
    parse_page_date,
    parse_relative_date,
    parse_shown_date,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# 2026-03-10 10:00 in Astana (UTC+5).
NOW = utc(2026, 3, 10, 5, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07 апреля 2024 23:14", utc(2024, 4, 7, 18, 14)),  # no comma
        ("7 апреля 2024 | 23:14", utc(2024, 4, 7, 18, 14)),
        ("7 апреля 2024, 23:14", utc(2024, 4, 7, 18, 14)),
        ("7 апреля 2024|23:14", utc(2024, 4, 7, 18, 14)),
        ("15 января 2024 08:00", utc(2024, 1, 15, 2, 0)),  # before 2024-03-01: UTC+6
        ("3 наурыз 2026 | 12:30", utc(2026, 3, 3, 7, 30)),
        ("3 March 2026 | 12:30", utc(2026, 3, 3, 7, 30)),
    ],
)
def test_tengrinews_visible_shapes(text: str, expected: datetime) -> None:
    assert parse_page_date(text) == expected
    assert parse_shown_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Сегодня, 14:30", utc(2026, 3, 10, 9, 30)),
        ("Сегодня 14:30", utc(2026, 3, 10, 9, 30)),
        ("сегодня в 14:30", utc(2026, 3, 10, 9, 30)),
        ("Сегодня | 14:30", utc(2026, 3, 10, 9, 30)),
        ("Вчера 23:59", utc(2026, 3, 9, 18, 59)),
        ("Бүгін, 09:05", utc(2026, 3, 10, 4, 5)),
        ("Кеше 10:00", utc(2026, 3, 9, 5, 0)),
        ("Today, 14:30", utc(2026, 3, 10, 9, 30)),
        ("Yesterday at 07:15", utc(2026, 3, 9, 2, 15)),
        # No time printed: the start of that day in Astana.
        ("Сегодня", utc(2026, 3, 9, 19, 0)),
        ("Вчера", utc(2026, 3, 8, 19, 0)),
        ("БҮГІН", utc(2026, 3, 9, 19, 0)),
        ("Кеше", utc(2026, 3, 8, 19, 0)),
        ("Yesterday", utc(2026, 3, 8, 19, 0)),
    ],
)
def test_relative_words_count_from_now(text: str, expected: datetime) -> None:
    assert parse_relative_date(text, now=NOW) == expected
    assert parse_shown_date(text, now=NOW) == expected


def test_today_follows_the_astana_calendar_not_utc() -> None:
    # 21:00 UTC on the 9th is already 02:00 on the 10th in Astana.
    late = utc(2026, 3, 9, 21, 0)
    assert parse_relative_date("Сегодня, 01:00", now=late) == utc(2026, 3, 9, 20, 0)
    assert parse_relative_date("Вчера, 01:00", now=late) == utc(2026, 3, 8, 20, 0)


def test_relative_words_before_the_single_zone_use_utc_plus_6() -> None:
    now = utc(2023, 6, 1, 6, 0)  # 12:00 in Astana (UTC+6)
    assert parse_relative_date("Сегодня, 14:30", now=now) == utc(2023, 6, 1, 8, 30)


def test_naive_now_is_astana_wall_clock() -> None:
    assert parse_relative_date("Вчера, 12:00", now=datetime(2026, 3, 10, 0, 30)) == utc(2026, 3, 9, 7, 0)
    assert astana_wall_clock(datetime(2026, 3, 10, 0, 30)) == datetime(2026, 3, 10, 0, 30)
    other_zone = datetime(2026, 3, 10, 0, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert astana_wall_clock(other_zone) == datetime(2026, 3, 10, 10, 30)


def test_default_now_is_the_current_day() -> None:
    today = parse_relative_date("Сегодня")
    assert today is not None
    assert abs(datetime.now(UTC) - today) < timedelta(days=1, hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01 декабря 2025", utc(2025, 11, 30, 19, 0)),
        ("1 желтоқсан 2025", utc(2025, 11, 30, 19, 0)),
        ("1 December 2025", utc(2025, 11, 30, 19, 0)),
        ("15 января 2024", utc(2024, 1, 14, 18, 0)),
    ],
)
def test_a_date_alone_is_the_start_of_its_day(text: str, expected: datetime) -> None:
    assert parse_day_date(text) == expected
    assert parse_shown_date(text) == expected
    assert parse_page_date(text) is None  # a time is what parse_page_date promises


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Сегодняшний день",  # a word that starts like one
        "Вчерашние новости",
        "Сегодня 25:70",
        "31 февраля 2025",
        "Касым-Жомарт Токаев",
        "12 Брюмер 2025",
    ],
)
def test_not_dates(text: str | None) -> None:
    assert parse_shown_date(text, now=NOW) is None


def test_a_time_and_date_win_over_a_relative_word() -> None:
    assert parse_shown_date("Сегодня (10 марта 2026, 14:30)", now=utc(2030, 1, 1)) == utc(2026, 3, 10, 9, 30)
