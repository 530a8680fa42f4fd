"""stage_batch builds a batch's Arrow tables without a database; load_batch takes them as they are."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from test_warehouse_field_hashes import STORED_VERSION_HASHES
from test_warehouse_support import ARTICLE_ID, bare, later, make_record, parsed, rows, writer
from warehouse.load import load_batch
from warehouse.raw import ZSTD, decode_raw, encode_raw, raw_page_bytes, raw_sha256
from warehouse.stage import StagedBatch, stage_batch
from warehouse.visit import VisitInput

PAGE = ("<html><body>" + "Первый абзац о визите. " * 200 + "</body></html>").encode()


def test_staged_batch_has_every_visit_every_parsed_record_and_each_raw_body_once() -> None:
    record = make_record()
    visits = [
        parsed(record, raw=PAGE),
        bare("failed", later(1), error="timeout"),
        parsed(record, later(2), raw=PAGE),
        bare("parse_error", later(3), article_id=None, raw=b"\x00\x01", error="binary"),
    ]
    staged = stage_batch(visits)

    assert isinstance(staged, StagedBatch)
    assert len(staged) == 4
    assert staged.visits.column("pos").to_pylist() == [0, 1, 2, 3]
    assert staged.versions.column("pos").to_pylist() == [0, 2]
    assert staged.raw.column("raw_sha256").to_pylist() == [raw_sha256(PAGE), raw_sha256(b"\x00\x01")]
    assert staged.raw.column("encoding").to_pylist() == [ZSTD, "identity"]  # tiny input stays as is


def test_load_batch_gives_the_same_result_for_staged_and_plain_visits(tmp_path: Path) -> None:
    def batch() -> list[VisitInput]:
        return [parsed(make_record(), raw=PAGE), parsed(make_record(title="Новый"), later(5), raw=b"v2")]

    with writer(tmp_path / "plain") as conn:
        plain = load_batch(conn, "run-1", batch())
        plain_rows = rows(conn, "select version, title, blocks::varchar from article_versions order by 1")
    with writer(tmp_path / "staged") as conn:
        staged = load_batch(conn, "run-1", stage_batch(batch()))
        assert (
            rows(conn, "select version, title, blocks::varchar from article_versions order by 1")
            == plain_rows
        )

    assert staged.outcomes == plain.outcomes == ["created", "changed"]
    assert staged.visit_ids == plain.visit_ids
    assert staged.events == plain.events


def test_raw_bodies_already_stored_are_skipped_at_load_time(tmp_path: Path) -> None:
    first = stage_batch([parsed(make_record(), raw=PAGE)])
    again = stage_batch([parsed(make_record(), later(10), raw=PAGE), bare("failed", later(11), raw=b"new")])
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", first)
        load_batch(conn, "run-2", again)
        assert rows(conn, "select raw_sha256, size from raw_pages order by size") == [
            (raw_sha256(b"new"), 3),
            (raw_sha256(PAGE), len(PAGE)),
        ]
        assert raw_page_bytes(conn, raw_sha256(PAGE)) == PAGE


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        result = load_batch(conn, "run-1", stage_batch([]))
        assert (result.outcomes, result.visit_ids) == ([], [])
        assert rows(conn, "select count(*) from visits") == [(0,)]


def test_a_parsed_visit_without_record_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    broken = bare("parsed", article_id=ARTICLE_ID)
    with pytest.raises(ValueError, match="carries no record"):
        stage_batch([broken])
    with writer(tmp_path) as conn:
        with pytest.raises(ValueError, match="carries no record"):
            load_batch(conn, "run-1", [parsed(make_record()), broken])
        assert rows(conn, "select count(*) from visits") == [(0,)]


@pytest.mark.parametrize("encoding", ["identity", "zstd", "zlib"])
def test_raw_encodings_round_trip(encoding: str) -> None:
    used, stored = encode_raw(PAGE, encoding)
    assert used == encoding
    assert decode_raw(used, stored, len(PAGE)) == PAGE


def _revisit_batch(ids: list[str], changed: set[str], at: datetime) -> list[VisitInput]:
    return [
        parsed(
            make_record(article_id, title="Новый заголовок")
            if article_id in changed
            else make_record(article_id),
            at,
            raw=PAGE + article_id.encode() + (b"v2" if article_id in changed else b""),
            locator=f"seeds/{article_id}.txt",
        )
        for article_id in ids
    ]


@pytest.mark.parametrize("whole", [False, True], ids=["staged from visits", "whole tables, as a package"])
def test_a_revisit_builds_versions_and_hashes_only_for_what_changed(tmp_path: Path, whole: bool) -> None:
    ids = [f"r{i}" for i in range(6)]
    changed = {"r1", "r4"}
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", stage_batch(_revisit_batch(ids, set(), later(0))))
        again = stage_batch(_revisit_batch(ids, changed, later(30)))
        if whole:  # a package holds every table whole, field hashes included
            again = StagedBatch(again.visits, again.versions, again.raw, again.rounds)
        result = load_batch(conn, "run-2", again)
        checked = rows(conn, STORED_VERSION_HASHES)
        stored_raw = rows(conn, "select count(*) from raw_pages")
    assert result.outcomes == ["changed" if i in changed else "unchanged" for i in ids]
    assert [(e.article_id, e.changed_fields) for e in result.events] == [
        ("r1", ("title",)),
        ("r4", ("title",)),
    ]
    assert all(same for _, same, _ in checked), checked
    assert stored_raw == [(len(ids) + len(changed),)]


def test_a_revisit_compresses_and_builds_nothing_whole(tmp_path: Path) -> None:
    """Stored bodies are recognised by their sha256 and unchanged records by their content hash:
    the load never builds the batch's whole raw, version or field-hash tables."""
    ids = [f"c{i}" for i in range(4)]
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", stage_batch(_revisit_batch(ids, set(), later(0))))
        again = stage_batch(_revisit_batch(ids, {"c2"}, later(30)))
        load_batch(conn, "run-2", again)
        assert raw_page_bytes(conn, raw_sha256(PAGE + b"c2v2")) == PAGE + b"c2v2"
    assert again.built_whole == frozenset()
    assert again.raw.num_rows == len(ids)  # built on demand (a package would ask for it)
    assert again.built_whole == {"raw"}


def test_a_body_packed_where_it_was_read_is_stored_as_an_unpacked_one(tmp_path: Path) -> None:
    """A crawl packs its pages (hashed and compressed) before they wait for their load; the load
    stores the same rows as for a body handed over whole, and the bytes read back are the page."""

    def batch(packed: bool) -> list[VisitInput]:
        visits = [
            parsed(make_record(), raw=PAGE),
            bare("parse_error", later(3), article_id=None, raw=b"\x00\x01", error="binary"),
        ]
        if packed:
            for visit in visits:
                visit.pack()
        return visits

    packed, whole = batch(packed=True), batch(packed=False)
    assert packed[0].raw is None and packed[0].packed is not None
    assert len(packed[0].packed.data) < len(PAGE) / 3  # held compressed while it waits
    assert [v.body() for v in packed] == [PAGE, b"\x00\x01"]
    assert [v.raw_size for v in packed] == [len(PAGE), 2]

    staged_packed, staged_whole = stage_batch(packed), stage_batch(whole)
    assert staged_packed.light_visits.equals(staged_whole.light_visits)
    assert staged_packed.raw.equals(staged_whole.raw)
    with writer(tmp_path) as conn:
        assert load_batch(conn, "run-1", staged_packed).outcomes == ["created", "parse_error"]
        assert raw_page_bytes(conn, raw_sha256(PAGE)) == PAGE
        assert raw_page_bytes(conn, raw_sha256(b"\x00\x01")) == b"\x00\x01"


def test_a_large_batch_is_hashed_and_compressed_on_threads_in_its_own_order() -> None:
    """Past PARALLEL_FROM bodies the sha256 and zstd run on a few threads: same values, same order."""
    from warehouse.raw import PARALLEL_FROM, pack_each, pack_raw, sha256_each

    bodies = [PAGE + str(i).encode() for i in range(PARALLEL_FROM + 500)]
    assert sha256_each([*bodies, None]) == [*(raw_sha256(b) for b in bodies), None]
    assert pack_each([raw_sha256(b) for b in bodies], bodies) == [pack_raw(b) for b in bodies]
    staged = stage_batch(
        [bare("parse_error", later(i), article_id=None, raw=b, error="x") for i, b in enumerate(bodies)]
    )
    assert staged.light_visits.column("raw_sha256").to_pylist() == [raw_sha256(b) for b in bodies]
    assert staged.raw.column("data").to_pylist() == [pack_raw(b).data for b in bodies]
