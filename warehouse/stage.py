"""Turn `VisitInput` objects into Arrow tables the load statements read from.

Two stages keep a revisit cheap: every visit is staged with its light columns (identity, hashes,
HTTP facts); the heavy columns (body, blocks, lists…) are staged only for the rows the warehouse
decided need a new version, and raw bytes only for sha256 values it has never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
import pyarrow as pa

from parsers.record import Block
from warehouse.raw import RAW_ENCODING, encode_raw, raw_sha256
from warehouse.visit import VisitInput

_TS = pa.timestamp("us", tz="UTC")
_TEXTS = pa.list_(pa.string())

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
    ]
)

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


def _is_url(locator: str) -> bool:
    return locator.startswith(("http://", "https://"))


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the warehouse takes timezone-aware UTC datetimes")
    return value


def stage_visits(visits: Sequence[VisitInput]) -> tuple[pa.Table, list[str | None]]:
    """Light columns of every visit, in input order; also the sha256 of each raw body (or None)."""
    records = [v.record for v in visits]
    shas = [raw_sha256(v.raw) if v.raw is not None else None for v in visits]
    columns = {
        "pos": range(len(visits)),
        "source": [v.source for v in visits],
        "article_id": [
            r.article_id if r is not None else v.article_id for v, r in zip(visits, records, strict=True)
        ],
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
    }
    arrays = [pa.array(list(columns[f.name]), type=f.type) for f in VISIT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=VISIT_SCHEMA), shas


_BLOCK_KEYS = ("kind", "text", "src", "credit")


def blocks_json(blocks: list[Block]) -> str:
    # Same shape as ArticleRecord.to_json_dict(): keys with no value are left out.
    return orjson.dumps(
        [
            {"kind": b.kind, "text": b.text}
            if b.src is None and b.credit is None
            else {k: v for k, v in zip(_BLOCK_KEYS, (b.kind, b.text, b.src, b.credit), strict=True) if v}
            for b in blocks
        ]
    ).decode()


def stage_versions(visits: Sequence[VisitInput], positions: Sequence[int]) -> pa.Table:
    """Heavy record columns for the visits at `positions` (each has status 'parsed' and a record)."""
    records = [visits[p].record for p in positions]
    if any(r is None for r in records):
        raise ValueError("a visit chosen for a new version carries no record")
    columns = {
        "pos": positions,
        "language": [r.language for r in records],
        "title": [r.title for r in records],
        "lead": [r.lead for r in records],
        "body": [r.body for r in records],
        "blocks": [blocks_json(r.blocks) for r in records],
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
    arrays = [pa.array(list(columns[f.name]), type=f.type) for f in VERSION_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=VERSION_SCHEMA)


def stage_raw(visits: Sequence[VisitInput], shas: Sequence[str | None], unseen: set[str]) -> pa.Table:
    """One row per sha256 in `unseen`, from its first visit in the batch, encoded for storage."""
    rows: dict[str, VisitInput] = {}
    for visit, sha in zip(visits, shas, strict=True):
        if sha in unseen and sha not in rows:
            rows[sha] = visit
    shas_kept = list(rows)
    encoded = [encode_raw(rows[s].raw or b"") for s in shas_kept]
    columns = {
        "raw_sha256": shas_kept,
        "encoding": [RAW_ENCODING] * len(shas_kept),
        "data": encoded,
        "size": [len(rows[s].raw or b"") for s in shas_kept],
        "first_seen_at": [rows[s].visited_at for s in shas_kept],
    }
    arrays = [pa.array(columns[f.name], type=f.type) for f in RAW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=RAW_SCHEMA)
