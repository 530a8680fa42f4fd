"""Blocks are stored as a layout; the view `article_blocks` rebuilds them exactly from the body."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import orjson
import pytest

from parsers.api import parse_file
from parsers.record import ArticleRecord, Block
from test_warehouse_support import later, make_record, parsed, rows, writer
from warehouse.load import load_batch
from warehouse.stage import blocks_layout

ROOT = Path(__file__).resolve().parent.parent
INPUTS = sorted((ROOT / "tests" / "fixtures" / "kazinform").glob("*.html")) + [
    ROOT / "seeds" / "000_7da5a18f75e09145.txt"
]
VIEW_BLOCKS = """
select kind, text, src, credit from article_blocks
where article_id = ? and version = ? order by position
"""


def as_rows(blocks: list[Block]) -> list[tuple[str, str, str | None, str | None]]:
    return [(b.kind, b.text, b.src, b.credit) for b in blocks]


def stored_blocks(
    conn: duckdb.DuckDBPyConnection, record: ArticleRecord, version: int = 1
) -> list[tuple[str, str, str | None, str | None]]:
    return rows(conn, VIEW_BLOCKS, [record.article_id, version])


def test_parsed_pages_and_the_seed_read_back_exactly(tmp_path: Path) -> None:
    # Some fixtures are the same article in another markup: give each its own id.
    records = [replace(parse_file(path), article_id=f"fixture-{i}") for i, path in enumerate(INPUTS)]
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(r) for r in records])
        for record in records:
            assert stored_blocks(conn, record) == as_rows(record.blocks), record.article_id
        positions = rows(conn, "select count(*), min(position), max(position) from article_blocks")
        assert positions == [(sum(len(r.blocks) for r in records), 1, max(len(r.blocks) for r in records))]


def test_texts_the_body_holds_are_stored_once() -> None:
    record = parse_file(INPUTS[-1])
    layout = orjson.loads(blocks_layout(record))
    assert [entry["kind"] for entry in layout] == [b.kind for b in record.blocks]
    assert all("text" not in entry for entry in layout if entry["kind"] != "image")
    assert all(
        entry["text"] == b.text for entry, b in zip(layout, record.blocks, strict=True) if b.kind == "image"
    )


def test_a_body_that_does_not_split_into_the_blocks_keeps_every_text(tmp_path: Path) -> None:
    odd = make_record(
        body="Первый абзац о визите.\n\nВторой абзац о договорённостях.",
        blocks=[Block("heading", "Заголовок"), Block("paragraph", "Первый абзац о визите.")],
    )
    assert all("text" in entry for entry in orjson.loads(blocks_layout(odd)))
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(odd)])
        assert stored_blocks(conn, odd) == as_rows(odd.blocks)


def test_images_without_caption_src_or_credit_and_empty_blocks(tmp_path: Path) -> None:
    blocks = [
        Block("image", ""),
        Block("paragraph", "Первый абзац о визите."),
        Block("quote", ""),
        Block("image", "Подпись", src="https://static.inform.kz/a.jpg"),
        Block("list_item", "Второй абзац о договорённостях."),
        Block("image", "", credit="Akorda"),
    ]
    record = replace(make_record(), blocks=blocks)
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(record)])
        assert stored_blocks(conn, record) == as_rows(blocks)


def test_each_version_pairs_with_its_own_body(tmp_path: Path) -> None:
    first = make_record()
    second = make_record(body="Новый первый абзац.\n\nВторой абзац о договорённостях.\n\nТретий абзац.")
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(first)])
        load_batch(conn, "run-2", [parsed(second, later(30))])
        assert stored_blocks(conn, first, 1) == as_rows(first.blocks)
        assert stored_blocks(conn, second, 2) == as_rows(second.blocks)


@pytest.mark.parametrize("with_image", [False, True])
def test_rows_written_with_full_blocks_read_back_unchanged(tmp_path: Path, with_image: bool) -> None:
    """Versions stored before the layout (every text in the JSON, empty keys left out) still read back."""
    record = make_record()
    if with_image:
        record = replace(
            record, blocks=[Block("image", "", src="https://static.inform.kz/a.jpg"), *record.blocks]
        )
    full = orjson.dumps(
        [
            {k: v for k, v in (("kind", b.kind), ("text", b.text), ("src", b.src), ("credit", b.credit)) if v}
            for b in record.blocks
        ]
    ).decode()
    with writer(tmp_path) as conn:
        load_batch(conn, "run-1", [parsed(record)])
        conn.execute("update article_versions set blocks = ?", [full])
        assert stored_blocks(conn, record) == as_rows(record.blocks)
