"""Date lines and ISO values → aware UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parsers.dates import month_number, parse_any_date, parse_iso_date, parse_page_date


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:09, 12 Ноябрь 2025 | GMT +5", utc(2025, 11, 12, 14, 9)),
        ("19:09, 12 Ноябрь 2025", utc(2025, 11, 12, 14, 9)),  # no offset: UTC+5 since 2024-03-01
        ("21:38, 18 Августа 2026", utc(2026, 8, 18, 16, 38)),
        ("13:51, 15 Август 2025", utc(2025, 8, 15, 8, 51)),
        ("10:00, 5 Мая 2023", utc(2023, 5, 5, 4, 0)),  # before 2024-03-01: UTC+6
        ("10:00, 5 Май 2023", utc(2023, 5, 5, 4, 0)),
        ("23:30, 29 Февраля 2024", utc(2024, 2, 29, 17, 30)),
        ("00:30, 1 Марта 2024", utc(2024, 2, 29, 19, 30)),
        ("09:05, 3 қараша 2025", utc(2025, 11, 3, 4, 5)),
        ("09:30, 21 Қазан 2025 | GMT +5", utc(2025, 10, 21, 4, 30)),
        ("12:00, 1 ҚАҢТАР 2026", utc(2026, 1, 1, 7, 0)),
        ("08:15, 9 желтоқсан 2022", utc(2022, 12, 9, 2, 15)),
        ("17:45, 2 December 2025 | GMT +5", utc(2025, 12, 2, 12, 45)),
        ("12 November 2025, 19:09", utc(2025, 11, 12, 14, 9)),
        ("Nov 12, 2025, 19:09", utc(2025, 11, 12, 14, 9)),
        ("19:09, 12 Sept 2025 GMT+6", utc(2025, 9, 12, 13, 9)),
        ("19:09, 12 Ноябрь 2025 | GMT −3", utc(2025, 11, 12, 22, 9)),
        ("2025年11月5日 11:20", utc(2025, 11, 5, 6, 20)),
        ("05.11.2025, 11:20", utc(2025, 11, 5, 6, 20)),
    ],
)
def test_page_dates(text: str, expected: datetime) -> None:
    assert parse_page_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-12T19:09:00+05:00", utc(2025, 11, 12, 14, 9)),
        ("2025-11-12T14:09:00Z", utc(2025, 11, 12, 14, 9)),
        ("2023-01-01T10:00:00", utc(2023, 1, 1, 4, 0)),
        ("2025-06-01", utc(2025, 5, 31, 19, 0)),
    ],
)
def test_iso_dates(text: str, expected: datetime) -> None:
    assert parse_iso_date(text) == expected
    assert parse_any_date(text) == expected


@pytest.mark.parametrize(
    "text", ["", "Касым-Жомарт Токаев", "19:09, 12 Брюмер 2025", "25:09, 31 Ноября 2025", None]
)
def test_not_dates(text: str | None) -> None:
    assert parse_any_date(text) is None


@pytest.mark.parametrize(
    ("word", "number"),
    [
        ("Ноябрь", 11),
        ("ноября", 11),
        ("Мая", 5),
        ("май", 5),
        ("Март", 3),
        ("сәуір", 4),
        ("Қыркүйек", 9),
        ("маусымда", 6),
        ("Jan", 1),
        ("september", 9),
        ("Дом", None),
    ],
)
def test_month_names(word: str, number: int | None) -> None:
    assert month_number(word) == number


def test_results_are_aware_utc() -> None:
    value = parse_page_date("19:09, 12 Ноябрь 2025")
    assert value is not None and value.utcoffset().total_seconds() == 0
