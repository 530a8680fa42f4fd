"""Dates as news sites print them, turned into aware UTC instants.

Shapes understood (the page text itself is kept by callers as `published_text`):
- ``19:09, 12 Ноябрь 2025 | GMT +5`` / ``21:38, 18 Августа 2026`` / ``09:05, 3 қараша 2025 GMT+5``
- Date first, time after a space, comma or bar (Tengrinews' drifting forms): ``07 апреля 2024 23:14``,
  ``7 апреля 2024 | 23:14``, ``7 апреля 2024, 23:14``
- English variants: ``19:09, 12 November 2025``, ``12 November 2025, 19:09``, ``Nov 12, 2025, 19:09``
- Numeric: ``2025年11月5日 11:20`` (Chinese edition), ``05.11.2025, 11:20``
- ISO 8601 from meta tags and JSON-LD: ``2025-11-12T19:09:00+05:00``, ``…Z``, naive or date-only.
- Relative day words, with or without a time (`parse_relative_date`, `parse_shown_date`):
  ``Сегодня, 14:30``, ``Вчера 09:05``, ``Бүгін 10:00``, ``Кеше``, ``Today, 14:30``, ``Yesterday``.

Month names: Russian nominative and genitive, Kazakh (any letter case, inflected forms by stem),
English full and short. With no offset on the page, Astana local time applies: UTC+5 from
2024-03-01 (when all of Kazakhstan moved to one zone), UTC+6 before.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

ASTANA_SINGLE_ZONE_SINCE = datetime(2024, 3, 1)
OFFSET_SINCE_2024 = timezone(timedelta(hours=5))
OFFSET_BEFORE_2024 = timezone(timedelta(hours=6))

_EXACT_MONTHS: dict[str, int] = {}
for _number, _forms in enumerate(
    (
        "январь января jan january",
        "февраль февраля feb february",
        "март марта mar march",
        "апрель апреля apr april",
        "май мая may",
        "июнь июня jun june",
        "июль июля jul july",
        "август августа aug august",
        "сентябрь сентября sep sept september",
        "октябрь октября oct october",
        "ноябрь ноября nov november",
        "декабрь декабря dec december",
    ),
    start=1,
):
    for _form in _forms.split():
        _EXACT_MONTHS[_form] = _number

# Kazakh month names take case endings (қарашада, қыркүйектің…): match them by stem.
_KAZAKH_STEMS: tuple[tuple[str, int], ...] = (
    ("қаңтар", 1),
    ("ақпан", 2),
    ("наурыз", 3),
    ("сәуір", 4),
    ("мамыр", 5),
    ("маусым", 6),
    ("шілде", 7),
    ("тамыз", 8),
    ("қыркүйек", 9),
    ("қазан", 10),
    ("қараша", 11),
    ("желтоқсан", 12),
)

_MONTH = r"(?P<mon>[^\W\d_]{3,12})\.?"
_OFFSET = r"(?:\s*\|?\s*(?:GMT|UTC)\s*(?P<off>[+\-−]\s*\d{1,2}(?::?\d{2})?))?"
_TIME = r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})"
_DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 19:09, 12 Ноябрь 2025 | GMT +5
    re.compile(_TIME + r",?\s+(?P<d>\d{1,2})\s+" + _MONTH + r",?\s+(?P<y>\d{4})" + _OFFSET),
    # 12 November 2025, 19:09  /  12 қараша 2025 ж., 19:09  /  07 апреля 2024 23:14  /  7 апреля 2024 | 23:14
    re.compile(
        r"(?P<d>\d{1,2})\s+" + _MONTH + r",?\s+(?P<y>\d{4})(?:\s*ж\.?)?(?:\s*[,|]\s*|\s+)" + _TIME + _OFFSET
    ),
    # Nov 12, 2025, 19:09
    re.compile(_MONTH + r"\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4}),?\s+" + _TIME + _OFFSET),
    # 2025年11月5日 11:20 / 2025-11-05 11:20 (Chinese edition, numeric dates)
    re.compile(r"(?P<y>\d{4})[年\-/.](?P<mn>\d{1,2})[月\-/.](?P<d>\d{1,2})日?,?\s*" + _TIME + _OFFSET),
    # 05.11.2025, 11:20 / 11:20, 05.11.2025
    re.compile(r"(?P<d>\d{1,2})\.(?P<mn>\d{1,2})\.(?P<y>\d{4}),?\s+" + _TIME + _OFFSET),
    re.compile(_TIME + r",?\s+(?P<d>\d{1,2})\.(?P<mn>\d{1,2})\.(?P<y>\d{4})" + _OFFSET),
)


def month_number(word: str) -> int | None:
    """'Ноябрь', 'ноября', 'ҚАРАША', 'қарашада', 'Nov', 'November' → 11; unknown words → None."""
    lowered = word.lower().rstrip(".")
    if lowered in _EXACT_MONTHS:
        return _EXACT_MONTHS[lowered]
    for stem, number in _KAZAKH_STEMS:
        if lowered.startswith(stem):
            return number
    return None


def local_offset(local: datetime) -> timezone:
    """Astana's offset for a wall-clock time printed with no offset."""
    return OFFSET_SINCE_2024 if local >= ASTANA_SINGLE_ZONE_SINCE else OFFSET_BEFORE_2024


def _parse_offset(text: str) -> timezone:
    sign = -1 if text[0] in "-−" else 1
    digits = re.sub(r"\D", "", text[1:])
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


# A printed date line is a few dozen characters; a longer text is not one, and searching megabytes
# of one line with every date pattern costs a second.
MAX_DATE_LINE_CHARS = 200


def parse_page_date(text: str | None) -> datetime | None:
    """A date line as printed on the page → aware UTC datetime, or None when it is not a date."""
    if not text or len(text) > MAX_DATE_LINE_CHARS:
        return None
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groupdict()
        month = int(groups["mn"]) if groups.get("mn") else month_number(groups.get("mon") or "")
        if month is None:
            continue
        try:
            local = datetime(int(groups["y"]), month, int(groups["d"]), int(groups["h"]), int(groups["mi"]))
        except ValueError:
            continue
        offset = _parse_offset(groups["off"]) if groups["off"] else local_offset(local)
        return local.replace(tzinfo=offset).astimezone(UTC)
    return None


def parse_iso_date(text: str | None) -> datetime | None:
    """ISO 8601 from meta/JSON-LD → aware UTC; naive values are read as Astana local time."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_offset(value))
    return value.astimezone(UTC)


def parse_any_date(text: str | None) -> datetime | None:
    """Page-style first, then ISO: for fields whose format is not known in advance."""
    return parse_page_date(text) or parse_iso_date(text)


# Relative day words as listings and fresh articles print them; the value is days from today.
_RELATIVE_DAYS = {"сегодня": 0, "бүгін": 0, "today": 0, "вчера": -1, "кеше": -1, "yesterday": -1}
_RELATIVE = re.compile(
    r"(?<!\w)(?P<word>" + "|".join(_RELATIVE_DAYS) + r")(?!\w)"
    r"(?:\s*(?:[,|]|\bв\b|\bat\b)?\s*" + _TIME + r")?",
    re.IGNORECASE,
)
# A date with no time (older listing cards: "01 декабря 2025").
_DAY_ONLY = re.compile(r"(?<!\d)(?P<d>\d{1,2})\s+" + _MONTH + r",?\s+(?P<y>\d{4})(?!\d)")


def astana_wall_clock(now: datetime | None = None) -> datetime:
    """`now` (default: the current instant) as a naive Astana wall-clock time. A naive `now` is
    taken to be Astana wall-clock time already."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        return now
    as_before = now.astimezone(OFFSET_BEFORE_2024).replace(tzinfo=None)
    offset = OFFSET_SINCE_2024 if as_before >= ASTANA_SINGLE_ZONE_SINCE else OFFSET_BEFORE_2024
    return now.astimezone(offset).replace(tzinfo=None)


def _astana_instant(local: datetime) -> datetime:
    return local.replace(tzinfo=local_offset(local)).astimezone(UTC)


def parse_relative_date(text: str | None, now: datetime | None = None) -> datetime | None:
    """'Сегодня, 14:30', 'Вчера 09:05', 'Бүгін', 'Кеше 10:00', 'Today', 'Yesterday, 23:59' → aware UTC,
    counted from `now` in Astana's calendar (default: the current instant). With no time printed,
    the start of that day in Astana: the day is all the page says."""
    if not text:
        return None
    match = _RELATIVE.search(text)
    if not match:
        return None
    day = astana_wall_clock(now).date() + timedelta(days=_RELATIVE_DAYS[match["word"].lower()])
    hours, minutes = (int(match["h"]), int(match["mi"])) if match["h"] else (0, 0)
    try:
        local = datetime(day.year, day.month, day.day, hours, minutes)
    except ValueError:  # "Сегодня 25:70"
        return None
    return _astana_instant(local)


def parse_day_date(text: str | None) -> datetime | None:
    """'01 декабря 2025' (a date with no time) → the start of that day in Astana, aware UTC."""
    if not text:
        return None
    for match in _DAY_ONLY.finditer(text):
        month = month_number(match["mon"])
        if month is None:
            continue
        try:
            return _astana_instant(datetime(int(match["y"]), month, int(match["d"])))
        except ValueError:
            continue
    return None


def parse_shown_date(text: str | None, now: datetime | None = None) -> datetime | None:
    """A date as a page shows it, whatever the shape: a date with a time first, then a relative day
    word (counted from `now`), then a date alone (start of the day). None when it is not a date."""
    if not text or len(text) > MAX_DATE_LINE_CHARS:
        return None
    return parse_page_date(text) or parse_relative_date(text, now) or parse_day_date(text)
