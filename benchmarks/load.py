"""Load benchmark: the warehouse's batch load against the floor of a bare Arrow insert.

Run: .venv/bin/python benchmarks/load.py [--rows 100000] [--batch 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from flows.batching import MAX_VISITS_PER_LOAD
from parsers.record import ArticleRecord, Block
from warehouse.db import open_writer
from warehouse.load import load_batch
from warehouse.raw import RAW_ENCODING
from warehouse.stage import StagedBatch, blocks_layout, stage_batch
from warehouse.visit import VisitInput

METHOD = """\
method
  data     {rows:,} synthetic Kazinform-like records: Cyrillic body of 8 paragraphs (~4.5 KB UTF-8),
           each paragraph random words of the seed article drawn with Zipf weights (1/rank);
           blocks (one per paragraph), title, lead, 2 authors, 3 tags. Each visit is a text-file
           read; its raw bytes are the text copy (~4.7 KB, unique per article) unless marked
           'no raw'. Raw bytes are stored with encoding '{raw_encoding}' (compressed while staging).
  (a)      floor: the version rows exactly as article_versions stores them (blocks as the layout
           JSON), prebuilt as one Arrow table, one INSERT … SELECT into a bare table (no keys),
           COMMIT + CHECKPOINT; with disabled_compression_methods='dict_fsst' (the warehouse's
           setting) and with the default. For reference, the same rows with every block text in
           the blocks JSON (how versions were stored before the layout).
  staging  stage_batch: every Arrow table of a batch (visit columns, version columns, raw rows
           with sha256 and compression), no database; the flow runs it before it opens the
           writer connection, outside the write lock. Timed on its own.
  (b)      first load, the writer's work: load_batch on the staged batches into a fresh warehouse,
           batches of {batch:,} visits, a writer connection opened and closed per batch (as the flow
           does), then a final CHECKPOINT. "end to end" adds the staging time.
  (c)      revisit: the same {rows:,} articles again, 1% with a new title and body, same batches.
  targets  (b) writer <= 1.25 x (a);  (c) writer <= 0.25 x (a)
"""

_BLOCK_KEYS = ("kind", "text", "src", "credit")
SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_7da5a18f75e09145.txt"
_FALLBACK_TEXT = "Президент Казахстана встретился с делегацией и обсудил вопросы сотрудничества"


def seed_vocabulary() -> tuple[list[str], list[float]]:
    """Words of the seed article with Zipf-like weights, so text compresses roughly like real prose."""
    text = SEED.read_text(encoding="utf-8") if SEED.exists() else _FALLBACK_TEXT
    counts: dict[str, int] = {}
    for word in re.findall(r"[^\W\d_]+", text):
        counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=counts.__getitem__, reverse=True)
    weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))
    return words, weights


def _paragraph(rng: random.Random, words: list[str], cum_weights: list[float]) -> str:
    return " ".join(rng.choices(words, cum_weights=cum_weights, k=rng.randint(45, 65))).capitalize() + "."


def make_records(rows: int, seed: int = 7) -> list[ArticleRecord]:
    rng = random.Random(seed)
    words, weights = seed_vocabulary()
    published = datetime(2025, 11, 1, tzinfo=UTC)
    records = []
    for i in range(rows):
        paragraphs = [f"Материал {i}."] + [_paragraph(rng, words, weights) for _ in range(7)]
        records.append(
            ArticleRecord(
                source="kazinform",
                article_id=f"{i:08x}",
                url=f"https://www.inform.kz/ru/material-{i:08x}",
                language="ru",
                title=" ".join(rng.choices(words, cum_weights=weights, k=8)).capitalize(),
                lead=_paragraph(rng, words, weights),
                body="\n\n".join(paragraphs),
                blocks=[Block("paragraph", p) for p in paragraphs],
                published_at=published + timedelta(seconds=i),
                published_text="19:09, 12 Ноябрь 2025 | GMT +5",
                updated_at=None,
                authors=["Наталья Мосунова", "Асель Сатаева"],
                tags=rng.sample(words[:200], 3),
                category="Политика",
                image_url=f"https://static.inform.kz/{i}.jpg",
                image_caption="Фото",
                image_credit="Akorda",
                parser="kazinform-text@1",
            )
        )
    return records


def text_copy(record: ArticleRecord) -> bytes:
    return "\n\n".join(
        [record.title, record.published_text or "", record.body, " ".join(record.tags)]
    ).encode()


def make_visits(records: list[ArticleRecord], at: datetime, with_raw: bool) -> list[VisitInput]:
    return [
        VisitInput(
            source=r.source,
            locator=f"seeds/{r.article_id}.txt",
            visited_at=at,
            status="parsed",
            record=r,
            article_id=r.article_id,
            raw=text_copy(r) if with_raw else None,
        )
        for r in records
    ]


def edit(record: ArticleRecord) -> ArticleRecord:
    body = record.body + "\n\nДобавлен абзац."
    return replace(
        record,
        title=record.title + " (обновлено)",
        body=body,
        blocks=[*record.blocks, Block("paragraph", "Добавлен абзац.")],
        content_hash="",
    )


def full_blocks_json(record: ArticleRecord) -> str:
    """Blocks with every text, as article_versions stored them before the layout."""
    return orjson.dumps(
        [
            {k: v for k, v in zip(_BLOCK_KEYS, (b.kind, b.text, b.src, b.credit), strict=True) if v}
            for b in record.blocks
        ]
    ).decode()


def version_rows(records: list[ArticleRecord], at: datetime, full_blocks: bool = False) -> pa.Table:
    blocks = full_blocks_json if full_blocks else blocks_layout
    return pa.table(
        {
            "source": [r.source for r in records],
            "article_id": [r.article_id for r in records],
            "version": pa.array([1] * len(records), pa.int32()),
            "url": [r.url for r in records],
            "language": [r.language for r in records],
            "title": [r.title for r in records],
            "lead": [r.lead for r in records],
            "body": [r.body for r in records],
            "blocks": [blocks(r) for r in records],
            "published_at": pa.array([r.published_at for r in records], pa.timestamp("us", tz="UTC")),
            "published_text": [r.published_text for r in records],
            "authors": [r.authors for r in records],
            "tags": [r.tags for r in records],
            "category": [r.category for r in records],
            "image_url": [r.image_url for r in records],
            "image_caption": [r.image_caption for r in records],
            "image_credit": [r.image_credit for r in records],
            "content_hash": [r.content_hash for r in records],
            "parser": [r.parser for r in records],
            "valid_from": pa.array([at] * len(records), pa.timestamp("us", tz="UTC")),
            "visit_id": pa.array(range(len(records)), pa.int64()),
        }
    )


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def floor(path: Path, table: pa.Table, disable_dict_fsst: bool) -> float:
    conn = duckdb.connect(str(path))
    if disable_dict_fsst:
        conn.execute("SET disabled_compression_methods = 'dict_fsst'")
    conn.register("staged", table)
    conn.execute("CREATE TABLE bare AS SELECT * FROM staged LIMIT 0")
    start = time.perf_counter()
    conn.execute("BEGIN TRANSACTION")
    conn.execute("INSERT INTO bare SELECT * FROM staged")
    conn.execute("COMMIT")
    conn.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def stage_all(visits: list[VisitInput], batch: int) -> tuple[list[StagedBatch], float]:
    start = time.perf_counter()
    staged = [stage_batch(visits[first : first + batch]) for first in range(0, len(visits), batch)]
    return staged, time.perf_counter() - start


def load_all(path: Path, run_id: str, batches: list[StagedBatch]) -> float:
    """The writer's work: one connection per batch (open, load, close), then a final checkpoint."""
    start = time.perf_counter()
    for staged in batches:
        with open_writer(path) as conn:
            load_batch(conn, run_id, staged)
    with open_writer(path) as conn:
        conn.execute("CHECKPOINT")
    return time.perf_counter() - start


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def line(label: str, rows: int, seconds: float, floor_seconds: float | None = None, extra: str = "") -> str:
    ratio = f"  {seconds / floor_seconds:5.2f} x (a)" if floor_seconds else ""
    return f"  {label:<44} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s{ratio}{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    # The flows load files in batches of up to this many visits (flows/batching.py).
    parser.add_argument("--batch", type=int, default=MAX_VISITS_PER_LOAD)
    parser.add_argument("--keep", type=Path, help="write the databases here instead of a temp dir")
    args = parser.parse_args()
    rows, batch = args.rows, args.batch
    print(METHOD.format(rows=rows, batch=batch, raw_encoding=RAW_ENCODING))
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}\n")

    first_at = datetime(2025, 11, 12, 12, 0, tzinfo=UTC)
    revisit_at = first_at + timedelta(hours=6)
    timings: dict[str, float] = {}
    with timed("records", timings):
        records = make_records(rows)
    with timed("visits", timings):
        first_visits = make_visits(records, first_at, with_raw=True)
    churn = set(range(0, rows, 100))
    revised = [edit(r) if i in churn else r for i, r in enumerate(records)]
    revisit_visits = make_visits(revised, revisit_at, with_raw=True)
    plain_first = make_visits(records, first_at, with_raw=False)
    plain_revisit = make_visits(revised, revisit_at, with_raw=False)
    print("object construction (not in the load times below)")
    print(line("ArticleRecord objects (content hash included)", rows, timings["records"]))
    print(line("VisitInput objects with raw bytes", rows, timings["visits"]))

    with tempfile.TemporaryDirectory() as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        floor_table = version_rows(records, first_at)
        a_fast = floor(where / "floor_nodict.duckdb", floor_table, disable_dict_fsst=True)
        a_default = floor(where / "floor_default.duckdb", floor_table, disable_dict_fsst=False)
        a_full = floor(
            where / "floor_full.duckdb", version_rows(records, first_at, True), disable_dict_fsst=True
        )
        print("\n(a) floor")
        print(
            line("dict_fsst disabled (the warehouse setting)", rows, a_fast, extra=_mb(where, "floor_nodict"))
        )
        print(line("default compression", rows, a_default, extra=_mb(where, "floor_default")))
        print(
            line(
                "reference: blocks with texts, dict_fsst off",
                rows,
                a_full,
                extra=_mb(where, "floor_full"),
            )
        )

        for label, first, again, name in (
            ("with raw bytes", first_visits, revisit_visits, "warehouse_raw"),
            ("no raw", plain_first, plain_revisit, "warehouse_noraw"),
        ):
            path = where / f"{name}.duckdb"
            first_batches, first_staging = stage_all(first, batch)
            b = load_all(path, "first", first_batches)
            del first_batches
            again_batches, again_staging = stage_all(again, batch)
            c = load_all(path, "revisit", again_batches)
            del again_batches
            print(f"\n{label}")
            print(line("(b) first load: staging (outside the lock)", rows, first_staging))
            print(line("(b) first load: writer", rows, b, a_fast, extra=f"  {size_mb(path):.0f} MB"))
            print(line("(b) first load: end to end", rows, first_staging + b, a_fast))
            print(line("(c) revisit, 1% changed: staging", rows, again_staging))
            print(line("(c) revisit, 1% changed: writer", rows, c, a_fast))
            print(line("(c) revisit, 1% changed: end to end", rows, again_staging + c, a_fast))
        print("\ntargets: (b) writer <= 1.25 x (a), (c) writer <= 0.25 x (a)")


def _mb(where: Path, name: str) -> str:
    return f"  {size_mb(where / f'{name}.duckdb'):.0f} MB"


if __name__ == "__main__":
    main()
