"""Turn `VisitInput` objects into the Arrow tables a load reads from: `stage_batch` → `StagedBatch`.

Staging is pure CPU work with no database: the flow runs it in the parse task, beside the per-article
work, so the single writer's critical section (warehouse.load) holds set-based SQL only. A batch
carries three tables, all keyed by `pos` (the visit's index in the batch) or by sha256:

- visits:   light columns of every visit (identity, hashes, HTTP facts), in input order, with the
            merge round of each article visit (the n-th visit of an article in the batch is round n)
            and the per-field hashes of its record (warehouse.field_hashes);
- versions: heavy record columns of every parsed visit; the load inserts only the rows the SQL
            comparison decides need a new version;
- raw:      one row per distinct raw body of the batch, compressed here (warehouse.raw); the load
            skips sha256 values already stored.

Blocks are stored as a layout (see `blocks_layout`): the body already holds every text block.

Every staged table is cut into record batches of one row group (warehouse.db.ROW_GROUP_SIZE rows):
DuckDB scans an Arrow table one record batch per thread, so a table of one 100,000-row chunk is
read, and its row groups compressed, by one thread. Measured with benchmarks/load.py's floor (100,000
versions, 2 cores): one chunk 4.3–4.6 s, batches of 32,768 rows 2.7–3.2 s, batches of 8,192 no
faster than one chunk (each thread then fills its own partial row groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from parsers.record import ArticleRecord, Block
from warehouse.db import ROW_GROUP_SIZE
from warehouse.field_hashes import HASH_TYPE, stage_field_hashes
from warehouse.raw import encode_raw, raw_sha256
from warehouse.visit import VisitInput

_TS = pa.timestamp("us", tz="UTC")
_TEXTS = pa.list_(pa.string())
PARAGRAPH_SEPARATOR = "\n\n"

VISIT_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("source", pa.string()),
        ("article_id", pa.string()),
        ("url", pa.string()),
        ("path", pa.string()),
        ("requested_url", pa.string()),
        ("visited_at", _TS),
        ("status", pa.string()),
        ("error", pa.string()),
        ("raw_sha256", pa.string()),
        ("bytes", pa.int64()),
        ("http_status", pa.int32()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("content_type", pa.string()),
        ("content_hash", pa.string()),
        ("record_url", pa.string()),
        ("published_at", _TS),
        ("occurrence", pa.int32()),
    ]
)

# Statuses whose visit says something about the article itself, and so are merged in input order.
ARTICLE_STATUSES = frozenset({"parsed", "not_modified", "gone"})

VERSION_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("language", pa.string()),
        ("title", pa.string()),
        ("lead", pa.string()),
        ("body", pa.string()),
        ("blocks", pa.string()),
        ("published_text", pa.string()),
        ("updated_at", _TS),
        ("authors", _TEXTS),
        ("tags", _TEXTS),
        ("category", pa.string()),
        ("image_url", pa.string()),
        ("image_caption", pa.string()),
        ("image_credit", pa.string()),
        ("parser", pa.string()),
    ]
)

RAW_SCHEMA = pa.schema(
    [
        ("raw_sha256", pa.string()),
        ("encoding", pa.string()),
        ("data", pa.binary()),
        ("size", pa.int64()),
        ("first_seen_at", _TS),
    ]
)


@dataclass(frozen=True, slots=True)
class StagedBatch:
    """Everything one `load_batch` call needs, built without the database (see the module docstring)."""

    visits: pa.Table  # VISIT_SCHEMA + field_hashes, one row per visit, row i has pos i
    versions: pa.Table  # VERSION_SCHEMA, one row per parsed visit
    raw: pa.Table  # RAW_SCHEMA, one row per distinct raw body
    rounds: int  # the most visits of one article in the batch: the load merges that many rounds

    def __len__(self) -> int:
        """The number of visits: LoadResult.outcomes and visit_ids are aligned with them."""
        return self.visits.num_rows


def _is_url(locator: str) -> bool:
    return locator.startswith(("http://", "https://"))


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the warehouse takes timezone-aware UTC datetimes")
    return value


def _table(schema: pa.Schema, columns: dict[str, Sequence[object]]) -> pa.Table:
    arrays = [pa.array(list(columns[f.name]), type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def in_row_groups(table: pa.Table) -> pa.Table:
    """`table` as record batches of one row group each (zero-copy slices; see the module docstring)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=ROW_GROUP_SIZE), schema=table.schema)


def stage_batch(visits: Sequence[VisitInput]) -> StagedBatch:
    """All Arrow tables of one batch of visits; raises ValueError on input the warehouse cannot take."""
    shas = [raw_sha256(v.raw) if v.raw is not None else None for v in visits]
    staged_visits = stage_visits(visits, shas)
    versions = stage_versions(visits)
    hashes = stage_field_hashes(staged_visits, versions)
    staged_visits = staged_visits.append_column(pa.field("field_hashes", HASH_TYPE), hashes)
    rounds = pc.max(staged_visits.column("occurrence")).as_py()
    return StagedBatch(
        visits=in_row_groups(staged_visits),
        versions=in_row_groups(versions),
        raw=in_row_groups(stage_raw(visits, shas)),
        rounds=rounds or 0,
    )


def _occurrences(visits: Sequence[VisitInput], article_ids: Sequence[str | None]) -> list[int | None]:
    """Which visit of its article each article visit is, counted in input order (1, 2, …)."""
    seen: dict[tuple[str, str], int] = {}
    occurrences: list[int | None] = []
    for visit, article_id in zip(visits, article_ids, strict=True):
        if article_id is None or visit.status not in ARTICLE_STATUSES:
            occurrences.append(None)
            continue
        key = (visit.source, article_id)
        seen[key] = seen.get(key, 0) + 1
        occurrences.append(seen[key])
    return occurrences


def stage_visits(visits: Sequence[VisitInput], shas: Sequence[str | None]) -> pa.Table:
    """Light columns of every visit, in input order; `shas` holds each raw body's sha256 (or None)."""
    records = [v.record for v in visits]
    article_ids = [
        r.article_id if r is not None else v.article_id for v, r in zip(visits, records, strict=True)
    ]
    columns: dict[str, Sequence[object]] = {
        "pos": range(len(visits)),
        "source": [v.source for v in visits],
        "article_id": article_ids,
        "url": [v.locator if _is_url(v.locator) else None for v in visits],
        "path": [None if _is_url(v.locator) else v.locator for v in visits],
        "requested_url": [v.requested_url for v in visits],
        "visited_at": [_utc(v.visited_at) for v in visits],
        "status": [v.status for v in visits],
        "error": [v.error for v in visits],
        "raw_sha256": shas,
        "bytes": [len(v.raw) if v.raw is not None else None for v in visits],
        "http_status": [v.http_status for v in visits],
        "etag": [v.etag for v in visits],
        "last_modified": [v.last_modified for v in visits],
        "content_type": [v.content_type for v in visits],
        "content_hash": [r.content_hash if r is not None else None for r in records],
        "record_url": [r.url if r is not None else None for r in records],
        "published_at": [_utc(r.published_at) if r is not None else None for r in records],
        "occurrence": _occurrences(visits, article_ids),
    }
    return _table(VISIT_SCHEMA, columns)


def blocks_layout(record: ArticleRecord) -> str:
    """`record.blocks` as JSON without the texts the body already holds.

    A parser's body is its non-image, non-empty block texts joined by a blank line (parsers.text
    `body_text`), and block texts are single normalized lines. When that holds for this record, each
    such block is stored as its kind alone and the view `article_blocks` takes its text from the
    body's next paragraph. Image blocks always carry their text (the caption) and src/credit; blocks
    with an empty text carry it too. When a record's body does not split back into its block texts,
    every block carries its text, so the view still returns the blocks exactly.
    """
    texts = [b.text for b in record.blocks if b.kind != "image" and b.text]
    from_body = not texts or record.body.split(PARAGRAPH_SEPARATOR) == texts
    return orjson.dumps([_layout_entry(b, from_body) for b in record.blocks]).decode()


def _layout_entry(block: Block, from_body: bool) -> dict[str, str]:
    if block.kind != "image":
        return {"kind": block.kind} if from_body and block.text else {"kind": block.kind, "text": block.text}
    entry = {"kind": block.kind, "text": block.text}
    if block.src is not None:
        entry["src"] = block.src
    if block.credit is not None:
        entry["credit"] = block.credit
    return entry


def stage_versions(visits: Sequence[VisitInput]) -> pa.Table:
    """Heavy record columns of every parsed visit, keyed by its position in the batch."""
    positions = [i for i, v in enumerate(visits) if v.status == "parsed"]
    records: list[ArticleRecord] = []
    for p in positions:
        record = visits[p].record
        if record is None:
            raise ValueError(f"visit {p} ({visits[p].locator}) has status 'parsed' but carries no record")
        records.append(record)
    columns: dict[str, Sequence[object]] = {
        "pos": positions,
        "language": [r.language for r in records],
        "title": [r.title for r in records],
        "lead": [r.lead for r in records],
        "body": [r.body for r in records],
        "blocks": [blocks_layout(r) for r in records],
        "published_text": [r.published_text for r in records],
        "updated_at": [_utc(r.updated_at) for r in records],
        "authors": [r.authors for r in records],
        "tags": [r.tags for r in records],
        "category": [r.category for r in records],
        "image_url": [r.image_url for r in records],
        "image_caption": [r.image_caption for r in records],
        "image_credit": [r.image_credit for r in records],
        "parser": [r.parser for r in records],
    }
    return _table(VERSION_SCHEMA, columns)


def stage_raw(visits: Sequence[VisitInput], shas: Sequence[str | None]) -> pa.Table:
    """One row per distinct sha256, from its first visit in the batch, encoded for storage."""
    first: dict[str, VisitInput] = {}
    for visit, sha in zip(visits, shas, strict=True):
        if sha is not None and sha not in first:
            first[sha] = visit
    kept = list(first)
    raws = [first[s].raw or b"" for s in kept]
    encoded = [encode_raw(raw) for raw in raws]
    columns: dict[str, Sequence[object]] = {
        "raw_sha256": kept,
        "encoding": [encoding for encoding, _ in encoded],
        "data": [data for _, data in encoded],
        "size": [len(raw) for raw in raws],
        "first_seen_at": [_utc(first[s].visited_at) for s in kept],
    }
    return _table(RAW_SCHEMA, columns)
