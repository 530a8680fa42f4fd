"""Ingesting a folder again: a file with the bytes of its path's last read is not parsed again but
logged `not_modified` (as an HTTP 304 is), with the sha256 and size of what was read; an edited file,
a file that failed to parse and a file read for another source are parsed as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

import flows.visits
import warehouse.stage as warehouse_stage
from flows.pipeline import ingest_without_prefect, write_package
from flows.read import read_visits
from warehouse.db import open_writer
from warehouse.load import load_batch
from warehouse.packages import PackageStore
from warehouse.raw import raw_sha256
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
SEED_TITLE = "Госвизит Токаева в Москву"


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The locators the parser is called on from here on."""
    called: list[str] = []
    parse_bytes = flows.visits.parse_bytes

    def counted(raw: bytes, **context: object) -> object:
        called.append(str(context["locator"]))
        return parse_bytes(raw, **context)  # type: ignore[arg-type]

    monkeypatch.setattr(flows.visits, "parse_bytes", counted)
    yield called


def copies(folder: Path, count: int) -> list[Path]:
    """`count` text copies of the seed, each its own article (numbered title and file name)."""
    folder.mkdir(exist_ok=True)
    seed = SEED.read_text(encoding="utf-8")
    paths = []
    for n in range(count):
        path = folder / f"{n:07d}_{n:016x}.txt"
        path.write_text(seed.replace(SEED_TITLE, f"{SEED_TITLE} ({n})", 1), encoding="utf-8")
        paths.append(path)
    return paths


def ingest(folder: Path, warehouse: Path, run_id: str, source: str | None = None) -> dict[str, int]:
    summary, _ = ingest_without_prefect([str(folder)], str(warehouse), run_id, source_name=source)
    return dict(summary.counts)


def test_an_unchanged_folder_is_read_but_not_parsed_again(tmp_path: Path, parses: list[str]) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    paths = copies(folder, 5)
    assert ingest(folder, warehouse, "first") == {"created": 5}
    assert len(parses) == 5
    before = rows(warehouse, "select article_id, last_seen_at from article_state order by 1")

    parses.clear()
    assert ingest(folder, warehouse, "again") == {"not_modified": 5}
    assert parses == []
    # each visit says what was read: the same body, stored once
    visits = rows(
        warehouse,
        "select run_id, path, outcome, raw_sha256, bytes from visits order by run_id, path",
    )
    expected = [(str(p), raw_sha256(p.read_bytes()), p.stat().st_size) for p in paths]
    assert [(v[1], v[3], v[4]) for v in visits if v[0] == "again"] == expected
    assert [(v[1], v[3], v[4]) for v in visits if v[0] == "first"] == expected
    assert {v[2] for v in visits if v[0] == "again"} == {"not_modified"}
    assert rows(warehouse, "select count(*) from raw_pages") == [(5,)]
    assert rows(warehouse, "select count(*) from article_versions") == [(5,)]
    # the articles were seen again
    after = rows(warehouse, "select article_id, last_seen_at from article_state order by 1")
    assert [a for a, _ in after] == [a for a, _ in before]
    assert all(
        seen_after > seen_before for (_, seen_before), (_, seen_after) in zip(before, after, strict=True)
    )
    # the look-up is a stage of its own in the run's closing line
    _, times = ingest_without_prefect([str(folder)], str(warehouse), "third")
    assert times.paths_read_before == 5 and times.lookup_s is not None
    assert times.describe().startswith("stages: look-up of earlier reads ")
    assert "(5 paths read before); read and parse " in times.describe()


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sha256 taken to compare a file with its last read is the one staging records: the bodies
    of `not_modified` visits are not hashed a second time (flows.read, warehouse.stage)."""
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    edited = copies(folder, 3)[1]
    ingest(folder, warehouse, "first")
    edited.write_text(edited.read_text(encoding="utf-8").replace(SEED_TITLE, "Edited"), encoding="utf-8")
    hashed_by_staging: list[int] = []
    sha256_each = warehouse_stage.sha256_each

    def counted(bodies: list[bytes]) -> list[str]:
        hashed_by_staging.append(len(bodies))
        return sha256_each(bodies)

    monkeypatch.setattr(warehouse_stage, "sha256_each", counted)
    assert ingest(folder, warehouse, "again") == {"not_modified": 2, "changed": 1}
    assert sum(hashed_by_staging) == 1  # the edited file only
    by_path = rows(warehouse, "select path, raw_sha256 from visits where run_id = 'again' order by path")
    assert by_path == [(str(p), raw_sha256(p.read_bytes())) for p in sorted(folder.iterdir())]


def test_an_edited_file_is_parsed_and_versioned_and_put_back_is_a_change_again(
    tmp_path: Path, parses: list[str]
) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    paths = copies(folder, 3)
    original = paths[1].read_bytes()
    ingest(folder, warehouse, "first")

    paths[1].write_text(original.decode().replace("Госвизит", "Государственный визит", 1), encoding="utf-8")
    parses.clear()
    assert ingest(folder, warehouse, "edited") == {"changed": 1, "not_modified": 2}
    assert parses == [str(paths[1])]

    # the bytes of the first read again: compared with the path's *last* read, so parsed, a change
    paths[1].write_bytes(original)
    parses.clear()
    assert ingest(folder, warehouse, "put back") == {"changed": 1, "not_modified": 2}
    assert parses == [str(paths[1])]
    article = paths[1].stem
    edited = "select version, starts_with(title, 'Государственный') from article_versions"
    assert rows(warehouse, f"{edited} where article_id = '{article}' order by version") == [
        (1, False),
        (2, True),
        (3, False),
    ]


def test_a_file_that_failed_to_parse_is_parsed_again(tmp_path: Path, parses: list[str]) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    folder.mkdir()
    (folder / "no-date.txt").write_text("Заголовок без даты\n\nТекст статьи без строки с датой.", "utf-8")
    assert ingest(folder, warehouse, "first") == {"parse_error": 1}
    parses.clear()
    assert ingest(folder, warehouse, "again") == {"parse_error": 1}
    assert parses == [str(folder / "no-date.txt")]


def test_a_file_read_for_another_source_is_parsed(tmp_path: Path, parses: list[str]) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    [path] = copies(folder, 1)
    ingest(folder, warehouse, "first", source="kazinform")
    parses.clear()
    assert ingest(folder, warehouse, "same source", source="kazinform") == {"not_modified": 1}
    assert parses == []
    counts = ingest(folder, warehouse, "other source", source="tengrinews")
    assert "not_modified" not in counts and parses == [str(path)]


def test_with_load_packages_waiting_every_file_is_parsed(tmp_path: Path, parses: list[str]) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    paths = copies(folder, 2)
    ingest(folder, warehouse, "first")
    # a later read of the first file, kept as a load package (a stopped run): not in the warehouse yet
    kept = read_visits([paths[0]], known_tags=frozenset())
    write_package(PackageStore.for_warehouse(warehouse), "stopped", kept)

    parses.clear()
    assert ingest(folder, warehouse, "after the stop") == {"unchanged": 2}
    assert sorted(parses) == sorted(map(str, paths))
    assert PackageStore.for_warehouse(warehouse).ready() == []
    assert rows(warehouse, "select run_id, outcome from visits order by visit_id")[-3:] == [
        ("stopped", "unchanged"),
        ("after the stop", "unchanged"),
        ("after the stop", "unchanged"),
    ]
    # with nothing waiting, the next run reads without parsing
    parses.clear()
    assert ingest(folder, warehouse, "next") == {"not_modified": 2}
    assert parses == []


def test_an_unchanged_copy_does_not_restore_an_article_found_deleted(
    tmp_path: Path, parses: list[str]
) -> None:
    folder, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    [path] = copies(folder, 1)
    ingest(folder, warehouse, "first")
    gone = VisitInput("kazinform", f"https://www.inform.kz/ru/x-{path.stem}", datetime.now(UTC), "gone")
    gone.article_id, gone.http_status = path.stem, 404
    with open_writer(warehouse) as connection:
        assert load_batch(connection, "crawl", stage_batch([gone])).outcomes == ["gone"]
    assert rows(warehouse, "select deleted from article_state") == [(True,)]

    assert ingest(folder, warehouse, "same copy") == {"not_modified": 1}
    assert rows(warehouse, "select deleted from article_state") == [(True,)]
    # a copy that says something new is parsed, and a page that parses restores the article
    path.write_text(path.read_text(encoding="utf-8").replace("Госвизит", "Визит", 1), encoding="utf-8")
    assert ingest(folder, warehouse, "edited copy") == {"changed": 1}
    assert rows(warehouse, "select deleted from article_state") == [(False,)]
