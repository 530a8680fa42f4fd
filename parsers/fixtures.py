"""Golden fixtures of each source: stored pages, their addresses and the records a person approved.

    tests/fixtures/<source>/<name>.html      (or <name>.html.gz) — the page as fetched
    tests/fixtures/<source>/<name>.meta.json — {"url": …, "added": …, "fetched": …, "note": …}
    tests/fixtures/<source>/<name>.json      — the expected record (ArticleRecord.to_json_dict())

The tests (tests/test_source_<name>.py), `kazinform fixture add|regenerate` and
tests/fixtures/regenerate.py all go through this module, so a fixture means one thing everywhere.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from parsers.record import ArticleRecord

PAGE_SUFFIXES = (".html.gz", ".html")
GZIP_MAGIC = b"\x1f\x8b"
# Field order of the record, declared once by the record itself; comparisons report in this order.
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ArticleRecord))
_FIXTURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# A value longer than this is cut in a printed difference: a body diff would fill the screen.
SHOWN_VALUE_CHARS = 160


def project_root() -> Path:
    """The checkout this package runs from (the folder holding parsers/ and tests/)."""
    return Path(__file__).resolve().parent.parent


def fixtures_root(root: Path | None = None) -> Path:
    return (root or project_root()) / "tests" / "fixtures"


def fixture_dir(source: str, root: Path | None = None) -> Path:
    return fixtures_root(root) / source


@dataclass(frozen=True, slots=True)
class Fixture:
    """One stored page of a source, with the paths of its metadata and expected record."""

    source: str
    name: str
    page: Path

    @property
    def meta_path(self) -> Path:
        return self.page.parent / f"{self.name}.meta.json"

    @property
    def expected_path(self) -> Path:
        return self.page.parent / f"{self.name}.json"

    @property
    def meta(self) -> dict[str, Any]:
        if not self.meta_path.exists():
            return {}
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    @property
    def url(self) -> str | None:
        return self.meta.get("url")

    def raw(self) -> bytes:
        """The page's bytes as stored (gzip'd or not: the parser detects gzip itself)."""
        return self.page.read_bytes()

    def html_bytes(self) -> bytes:
        """The page's bytes, unpacked when stored gzip'd."""
        raw = self.raw()
        return gzip.decompress(raw) if raw.startswith(GZIP_MAGIC) else raw

    def expected(self) -> dict[str, Any] | None:
        if not self.expected_path.exists():
            return None
        return json.loads(self.expected_path.read_text(encoding="utf-8"))

    def __str__(self) -> str:
        return f"{self.source}/{self.name}"


def _name_of(page: Path) -> str | None:
    for suffix in PAGE_SUFFIXES:
        if page.name.endswith(suffix):
            return page.name[: -len(suffix)]
    return None


def fixtures_of(source: str, root: Path | None = None) -> list[Fixture]:
    """Every fixture page of `source`, by name; none when its folder does not exist."""
    folder = fixture_dir(source, root)
    if not folder.is_dir():
        return []
    found: dict[str, Fixture] = {}
    for page in sorted(folder.iterdir()):
        name = _name_of(page)
        if name is not None and page.is_file():
            found.setdefault(name, Fixture(source, name, page))
    return [found[name] for name in sorted(found)]


def fixture_sources(root: Path | None = None) -> list[str]:
    """Every folder of tests/fixtures/ that holds at least one page."""
    base = fixtures_root(root)
    if not base.is_dir():
        return []
    return sorted(d.name for d in base.iterdir() if d.is_dir() and fixtures_of(d.name, root))


def count_fixtures(source: str, root: Path | None = None) -> int:
    return len(fixtures_of(source, root))


# --- parsing and comparing ------------------------------------------------------------------------


def _declared_source(url: str | None) -> Any:
    """The registered source whose own hosts hold `url`, as declared: a fixture keeps the outlet's
    real address, so it parses the same when $KAZINFORM_BASE_URL points the crawl at a mirror.
    None: let the parsers choose (by the page's own address, else the generic parser)."""
    from parsers.registry import sorted_sources

    if not url:
        return None
    claims = [(source.claim(url), source) for source in sorted_sources()]
    best = max(claims, key=lambda claim: claim[0], default=(0, None))
    return best[1] if best[0] else None


def _parse(page: Path, url: str | None) -> dict[str, Any]:
    from parsers.api import parse_bytes  # the registry loads every source: only when a page is read

    record = parse_bytes(page.read_bytes(), locator=str(page), url=url, source=_declared_source(url))
    return record.to_json_dict()


def parse_fixture(fixture: Fixture) -> dict[str, Any]:
    """The record today's parsers make of the page (raises ParseError like any input)."""
    return _parse(fixture.page, fixture.url)


@cache
def _parsed_once(page: Path, url: str | None) -> str:
    return json.dumps(_parse(page, url), ensure_ascii=False)


def parsed(fixture: Fixture) -> dict[str, Any]:
    """parse_fixture(), computed once per page in a process (a test per field reads it many times);
    a fresh copy each call, so a test that changes it changes nothing for the next."""
    return json.loads(_parsed_once(fixture.page, fixture.url))


def record_json(record: dict[str, Any]) -> str:
    """An expected record's file text: stable, readable, reviewable in a diff."""
    return json.dumps(record, ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class FieldDifference:
    field: str
    expected: Any
    actual: Any

    def describe(self) -> str:
        return f"{self.field}: {_shown(self.expected)} → {_shown(self.actual)}"


_MISSING = "<missing>"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if value != _MISSING else value
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def field_differences(expected: dict[str, Any] | None, actual: dict[str, Any]) -> list[FieldDifference]:
    """Each field whose value differs, in the record's field order (fields a record does not know come
    last, so a stale expected file with a removed field shows too)."""
    expected = expected or {}
    names = [*RECORD_FIELDS, *sorted((set(expected) | set(actual)) - set(RECORD_FIELDS))]
    return [
        FieldDifference(name, expected.get(name, _MISSING), actual.get(name, _MISSING))
        for name in names
        if expected.get(name, _MISSING) != actual.get(name, _MISSING)
    ]


# --- writing --------------------------------------------------------------------------------------


class FixtureError(ValueError):
    """A fixture that cannot be stored as asked; the message says what to do instead."""


def check_fixture_name(name: str) -> str:
    if not _FIXTURE_NAME.match(name):
        raise FixtureError(
            f"fixture name {name!r} must be letters, digits, '.', '_' or '-' (at most 100), "
            "starting with a letter or digit"
        )
    return name


def name_from_address(address: str) -> str:
    """A fixture name from a page's address or file name: its last path segment, tidied."""
    last = address.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (*PAGE_SUFFIXES, ".htm"):
        last = last.removesuffix(suffix)
    tidy = re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("._-")[:80]
    return tidy or "page"


def store_page(
    source: str,
    name: str,
    raw: bytes,
    *,
    url: str | None,
    note: str = "",
    fetched_at: datetime | None = None,
    root: Path | None = None,
) -> Fixture:
    """Store a page gzip'd with its metadata; refuses a name the source's fixtures already use."""
    check_fixture_name(name)
    folder = fixture_dir(source, root)
    if any(f.name == name for f in fixtures_of(source, root)):
        raise FixtureError(f"{source} already has a fixture named {name!r} — choose another with --name")
    folder.mkdir(parents=True, exist_ok=True)
    # mtime 0: the same page stored twice is the same bytes
    packed = raw if raw.startswith(GZIP_MAGIC) else gzip.compress(raw, mtime=0)
    page = folder / f"{name}.html.gz"
    page.write_bytes(packed)
    meta: dict[str, Any] = {"url": url, "added": datetime.now(UTC).date().isoformat()}
    if fetched_at is not None:
        meta["fetched"] = fetched_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    meta["note"] = note
    fixture = Fixture(source, name, page)
    fixture.meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return fixture


def write_expected(fixture: Fixture, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the record the current parser makes of the page as the fixture's expected record."""
    record = parse_fixture(fixture) if record is None else record
    fixture.expected_path.write_text(record_json(record), encoding="utf-8")
    return record


@dataclass(frozen=True, slots=True)
class Regenerated:
    fixture: Fixture
    differences: list[FieldDifference]
    new: bool  # there was no expected record before
    error: str | None = None  # the page no longer parses: nothing is written for it


def regenerate(
    sources: list[str] | None = None, *, write: bool = True, root: Path | None = None
) -> Iterator[Regenerated]:
    """Each fixture of `sources` (default: every source with fixtures) parsed again; with `write`,
    its expected record is rewritten when it differs."""
    from parsers.record import ParseError

    for source in sources if sources is not None else fixture_sources(root):
        for fixture in fixtures_of(source, root):
            expected = fixture.expected()
            try:
                actual = parse_fixture(fixture)
            except ParseError as error:
                yield Regenerated(fixture, [], expected is None, error=error.reason)
                continue
            differences = field_differences(expected, actual)
            text = record_json(actual)
            stale = expected is None or fixture.expected_path.read_text(encoding="utf-8") != text
            if write and stale:  # also rewrites a file that differs only in its formatting
                write_expected(fixture, actual)
            yield Regenerated(fixture, differences, expected is None)


# --- the tests' helper ----------------------------------------------------------------------------


def field_cases(source: str, root: Path | None = None) -> list[tuple[Fixture, str]]:
    """(fixture, field) pairs for `pytest.mark.parametrize`: one test per page and field."""
    return [(fixture, name) for fixture in fixtures_of(source, root) for name in RECORD_FIELDS]


def case_id(value: Any) -> str:
    return value.name if isinstance(value, Fixture) else str(value)


def assert_field_matches(fixture: Fixture, field: str) -> None:
    """One field of the page's record against its expected record, with what to run when it differs."""
    expected = fixture.expected()
    assert expected is not None, (
        f"{fixture} has no expected record — run `kazinform fixture regenerate {fixture.source}` "
        "and review it"
    )
    actual = parsed(fixture)
    assert actual.get(field, _MISSING) == expected.get(field, _MISSING), (
        f"{fixture} {field} differs from the expected record; if the parser change is intended, run "
        f"`kazinform fixture regenerate {fixture.source}` and review the diff"
    )
