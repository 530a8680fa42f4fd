"""Load benchmark: the warehouse's batch load against the floor of a bare Arrow insert.

Run: .venv/bin/python benchmarks/load.py [--rows 100000] [--rounds 3] [--keep DIR]

The headline is a load counted whole, staging + writer, against the floor; the writer alone is
beside it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.batching import MAX_RAW_BYTES_PER_LOAD, MAX_VISITS_PER_LOAD, LoadBuffer
from parsers.record import RECORD_FIELDS, ArticleRecord, Block
from warehouse.db import ROW_GROUP_SIZE, WRITER_SETTINGS, open_writer
from warehouse.load import load_batch
from warehouse.raw import RAW_ENCODING
from warehouse.stage import StagedBatch, in_row_groups, stage_batch, version_column
from warehouse.visit import VisitInput

METHOD = """\
method
  data     {rows:,} synthetic Kazinform-like records: Cyrillic body of 8 paragraphs (~4.5 KB UTF-8),
           each paragraph random words of the seed article drawn with Zipf weights (1/rank);
           blocks (one per paragraph), title, lead, 2 authors, 3 tags. Each visit is a text-file
           read; its raw bytes are the text copy (~4.7 KB, unique per article) unless marked
           'no raw'. Raw bytes are stored with encoding '{raw_encoding}', compressed by the load for
           the bodies not stored yet (a stored body is recognised by its sha256).
  storage  every database file below is attached and set as the warehouse's writers do it
           (warehouse.db): ROW_GROUP_SIZE {row_group_size:,}, disabled_compression_methods='dict_fsst',
           a checkpoint at every commit.
  (a)      floor: the version rows exactly as article_versions stores them (blocks as the layout
           JSON), prebuilt as one Arrow table in record batches of one row group each (as the load's
           staged tables are cut: DuckDB gives each thread one record batch, so a table of a single
           chunk is read by one thread; that floor is printed for reference but not used for
           the ratios), one INSERT … SELECT into a bare table (no keys),
           COMMIT + CHECKPOINT; timed, like the loads, from opening the file (its table already
           made) until it is closed. For the 'with raw bytes' run the floor also inserts the staged
           raw rows into a second bare table in the same transaction: the same data the load writes.
  staging  stage_batch: the light columns of every visit (identity, sha256 of each raw body, content
           hash, HTTP facts), no database; the flows run it before they open the writer
           connection. The heavy rows (version columns, field hashes, compressed raw bodies) are
           built by the load, inside the lock, for the rows its comparison finds new or changed.
  batches  formed by flows.batching.LoadBuffer with the file flow's caps on count and raw bytes: at
           most {max_visits:,} visits or {max_raw_mb} MB of raw bytes per load (its cap on held
           memory is lifted: the flows' memory-capped loads are measured by benchmarks/ingest.py).
  (b)      first load, the writer's work: load_batch on the staged batches into a fresh warehouse
           (its schema created beforehand, as the floor's table is), one writer connection opened
           and closed per batch (as the flows do; closing checkpoints).
  (c)      revisit: the same {rows:,} articles again, 1% with a new title and body, same batching.
  repeats  {repeat} rounds of (a), (b), (c), each on fresh files; every time is the median of its
           rounds (range in brackets) and the ratio beside it a ratio of medians; "per round" is
           the median (range) of each round's time over that same round's floor, which cancels
           the machine's slower and faster spells. Each variant's floor runs right before its loads,
           and before every timed step os.sync() and a 1 s pause let the previous step's
           write-back finish, so it does not land in the next one's time.
  headline staging + writer of (b) and (c), each the sum of its two timed parts, against (a); the
           writer alone is printed beside it. (a)'s raw rows are staged and compressed apart,
           untimed, so the load being measured still compresses its own.
  targets  staging + writer: (b) <= 1.5 x (a), (c) <= 0.25 x (a); writer alone: (b) <= 1.25 x (a),
           (c) <= 0.25 x (a)
"""

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


def version_rows(records: list[ArticleRecord], at: datetime) -> pa.Table:
    """The bare version rows of the floor: every field the record declares, then the version's own."""
    columns: dict[str, object] = {f.name: version_column(f, records) for f in RECORD_FIELDS}
    for record_field in RECORD_FIELDS:
        if record_field.kind == "time":  # typed even when every value is empty
            columns[record_field.name] = pa.array(columns[record_field.name], TIMESTAMP)
    return pa.table(
        {
            **columns,
            "version": pa.array([1] * len(records), pa.int32()),
            "valid_from": pa.array([at] * len(records), TIMESTAMP),
            "visit_id": pa.array(range(len(records)), pa.int64()),
        }
    )


TIMESTAMP = pa.timestamp("us", tz="UTC")


def attach(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection to `path` with the storage settings of the warehouse's writers."""
    conn = duckdb.connect()
    conn.execute(f"ATTACH '{path}' AS bench (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
    conn.execute("USE bench")
    for statement in WRITER_SETTINGS:
        conn.execute(statement)
    return conn


def floor(path: Path, tables: dict[str, pa.Table]) -> float:
    """One INSERT … SELECT per table into bare tables, one transaction, then a checkpoint.

    Timed like the loads: from opening the file (its tables already made) until it is closed.
    """
    conn = attach(path)
    for name, table in tables.items():
        conn.register(f"staged_{name}", table)
        conn.execute(f"CREATE TABLE {name} AS SELECT * FROM staged_{name} LIMIT 0")
    conn.close()
    settle()
    start = time.perf_counter()
    conn = attach(path)
    for name, table in tables.items():
        conn.register(f"staged_{name}", table)
    conn.execute("BEGIN TRANSACTION")
    for name in tables:
        conn.execute(f"INSERT INTO {name} SELECT * FROM staged_{name}")
    conn.execute("COMMIT")
    conn.execute("CHECKPOINT")
    conn.close()
    return time.perf_counter() - start


# Which floor each variant is compared with.
FLOORS = {"with raw bytes": "floor raw", "no raw": "floor"}


def settle() -> None:
    """Flush what earlier steps wrote and let the disk go quiet before a timed step starts."""
    os.sync()
    time.sleep(1.0)


def load_batches(visits: list[VisitInput]) -> list[list[VisitInput]]:
    """The visits cut into loads by the file flow's count and raw-byte caps. Its cap on held memory
    is lifted here: this benchmark measures the writer on loads of up to 100,000 visits, while the
    flows cut loads by memory (flows.batching), which benchmarks/ingest.py measures whole."""
    buffer = LoadBuffer(max_held_bytes=2**62)
    batches = [ready for visit in visits for ready in buffer.add([visit])]
    return batches + list(buffer.flush())


def stage_all(batches: list[list[VisitInput]]) -> tuple[list[StagedBatch], float]:
    start = time.perf_counter()
    staged = [stage_batch(batch) for batch in batches]
    return staged, time.perf_counter() - start


def load_all(path: Path, run_id: str, batches: list[StagedBatch]) -> float:
    """The writer's work: one connection per batch (open, load, close with its checkpoint)."""
    settle()
    start = time.perf_counter()
    for staged in batches:
        with open_writer(path) as conn:
            load_batch(conn, run_id, staged)
    return time.perf_counter() - start


WAREHOUSE_TABLES = ("visits", "article_versions", "article_state", "raw_pages")


def short_row_groups(path: Path) -> list[str]:
    """Tables with a short row group before their last one: the checkpoint of every later batch
    would rewrite the row groups behind it (see warehouse.merge_sql.NEW_RAW_SHAS)."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        found = []
        for table in WAREHOUSE_TABLES:
            sizes = [
                count
                for (count,) in conn.execute(
                    "SELECT max(count) FROM pragma_storage_info(?) WHERE column_id = 0 "
                    "GROUP BY row_group_id ORDER BY row_group_id",
                    [table],
                ).fetchall()
            ]
            if any(size < ROW_GROUP_SIZE for size in sizes[:-1]):
                found.append(table)
        return found
    finally:
        conn.close()


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def line(label: str, rows: int, seconds: float, floor_seconds: float | None = None, extra: str = "") -> str:
    ratio = f"  {seconds / floor_seconds:5.2f} x (a)" if floor_seconds else ""
    return f"  {label:<44} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s{ratio}{extra}"


class Medians:
    """Timings by label over the rounds; the median of each."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, label: str, seconds: float) -> None:
        self.samples.setdefault(label, []).append(seconds)

    def __getitem__(self, label: str) -> float:
        return statistics.median(self.samples[label])

    def spread(self, label: str) -> str:
        values = self.samples[label]
        return f"  [{min(values):.2f}–{max(values):.2f}]" if len(values) > 1 else ""

    def paired_ratio(self, label: str, floor_label: str) -> str:
        """Each round's time over the same round's floor: the median and range of those ratios."""
        ratios = [t / f for t, f in zip(self.samples[label], self.samples[floor_label], strict=True)]
        return (
            f"  per round: median {statistics.median(ratios):.2f} x (a) [{min(ratios):.2f}–{max(ratios):.2f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        "--repeat",
        dest="repeat",
        type=int,
        default=3,
        help="rounds of (a), (b), (c); medians are shown",
    )
    parser.add_argument("--keep", type=Path, help="write the databases here instead of a temp dir")
    args = parser.parse_args()
    rows = args.rows
    print(
        METHOD.format(
            rows=rows,
            raw_encoding=RAW_ENCODING,
            row_group_size=ROW_GROUP_SIZE,
            max_visits=MAX_VISITS_PER_LOAD,
            max_raw_mb=MAX_RAW_BYTES_PER_LOAD // 2**20,
            repeat=args.repeat,
        )
    )
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}\n")

    first_at = datetime(2025, 11, 12, 12, 0, tzinfo=UTC)
    revisit_at = first_at + timedelta(hours=6)
    start = time.perf_counter()
    records = make_records(rows)
    records_seconds = time.perf_counter() - start
    churn = set(range(0, rows, 100))
    revised = [edit(r) if i in churn else r for i, r in enumerate(records)]
    variants = {
        "with raw bytes": (make_visits(records, first_at, True), make_visits(revised, revisit_at, True)),
        "no raw": (make_visits(records, first_at, False), make_visits(revised, revisit_at, False)),
    }
    print("object construction (not in the load times below)")
    print(line("ArticleRecord objects (content hash included)", rows, records_seconds))

    versions_one_chunk = version_rows(records, first_at)
    versions_table = in_row_groups(versions_one_chunk)
    times = Medians()
    sizes: dict[str, float] = {}
    batch_counts: dict[str, tuple[int, int]] = {}
    layout_faults: set[str] = set()
    for round_number in range(args.repeat):
        with tempfile.TemporaryDirectory() as scratch:
            where = (args.keep or Path(scratch)) / f"round{round_number}"
            where.mkdir(parents=True, exist_ok=True)
            for label, (first, again) in variants.items():
                first_batches, again_batches = load_batches(first), load_batches(again)
                batch_counts[label] = (len(first_batches), len(again_batches))
                staged, staging = stage_all(first_batches)
                times.add(f"{label} first staging", staging)
                # the floor of the same data, timed right before the load it is compared with
                floor_tables = {"versions": versions_table}
                if label == "with raw bytes":
                    # the raw rows as stored, from a staging of their own: the batches being
                    # measured must compress their own bodies in the load
                    floor_tables["raw"] = in_row_groups(
                        pa.concat_tables([stage_batch(batch).raw for batch in first_batches])
                    )
                else:
                    one_chunk_path = where / "floor one chunk.duckdb"
                    times.add("floor one chunk", floor(one_chunk_path, {"versions": versions_one_chunk}))
                floor_path = where / f"floor {label}.duckdb"
                times.add(FLOORS[label], floor(floor_path, floor_tables))
                sizes[FLOORS[label]] = size_mb(floor_path)
                path = where / f"warehouse {label}.duckdb"
                with open_writer(
                    path
                ):  # the schema exists before the clock starts, as the floor's table does
                    pass
                times.add(f"{label} first", load_all(path, "first", staged))
                times.add(f"{label} first whole", staging + times.samples[f"{label} first"][-1])
                sizes[f"{label} first"] = size_mb(path)
                layout_faults.update(f"{label}: {table}" for table in short_row_groups(path))
                del staged
                staged, staging = stage_all(again_batches)
                times.add(f"{label} revisit staging", staging)
                times.add(f"{label} revisit", load_all(path, "revisit", staged))
                times.add(f"{label} revisit whole", staging + times.samples[f"{label} revisit"][-1])
                sizes[f"{label} revisit"] = size_mb(path)
                del staged
        print(f"  round {round_number + 1} of {args.repeat} done", flush=True)

    print(f"\n(a) floor, median of {args.repeat}")
    print(
        line("version rows", rows, times["floor"], extra=f"  {sizes['floor']:.0f} MB" + times.spread("floor"))
    )
    print(
        line("version rows, one Arrow chunk (reference)", rows, times["floor one chunk"])
        + times.spread("floor one chunk")
    )
    print(
        line("version rows + raw rows", rows, times["floor raw"], extra=f"  {sizes['floor raw']:.0f} MB")
        + times.spread("floor raw")
    )
    for label in variants:
        floor_label = FLOORS[label]
        floor_seconds = times[floor_label]
        first_loads, revisit_loads = batch_counts[label]
        print(f"\n{label}: {first_loads} load(s) per pass; ratios against (a) of the same data")
        for step, title in (("first", "(b) first load"), ("revisit", "(c) revisit, 1% changed")):
            key = f"{label} {step}"
            print(
                line(f"{title}: staging + writer", rows, times[f"{key} whole"], floor_seconds)
                + times.spread(f"{key} whole")
                + (f"  {sizes[key]:.0f} MB" if step == "first" else "")
            )
            print(" " * 46 + times.paired_ratio(f"{key} whole", floor_label))
            print(
                line("    staging (outside the lock)", rows, times[f"{key} staging"])
                + times.spread(f"{key} staging")
            )
            print(line("    writer (the lock held)", rows, times[key], floor_seconds) + times.spread(key))
            print(" " * 46 + times.paired_ratio(key, floor_label))
    print(
        "\nrow groups after each first load: a short one before the last in "
        + (", ".join(sorted(layout_faults)) if layout_faults else "no table")
    )
    print(
        "\ntargets: staging + writer (b) <= 1.5 x (a), (c) <= 0.25 x (a);"
        " writer alone (b) <= 1.25 x (a), (c) <= 0.25 x (a)"
    )


if __name__ == "__main__":
    main()
