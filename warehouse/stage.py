"""Turn `VisitInput` objects into the Arrow tables a load reads from: `stage_batch` → `StagedBatch`.

Staging builds, with no database, what every visit needs before the load can compare it with the
warehouse; the heavy rows are built later, by the load, only for what the comparison finds new. A
batch's tables are keyed by `pos` (the visit's index in the batch) or by sha256:

- visits:   light columns of every visit (identity, sha256 of its raw body, the record's content
            hash and url, HTTP facts), in input order, with the merge round of each article visit
            (the n-th visit of an article in the batch is round n). Built by `stage_batch`.
- versions: heavy record columns of a parsed visit, and the per-field hashes of its record
            (warehouse.field_hashes): built for the rows the SQL comparison gives a new version
            (`StagedBatch.version_rows`, `field_hashes`). An unchanged record is recognised by its
            content hash and url before any per-field work.
- raw:      one row per distinct raw body, compressed (warehouse.raw): built for the sha256 values
            the load does not find stored (`StagedBatch.raw_rows`). A stored body is recognised by
            its hash before anything is compressed.

Why the heavy rows wait for the load. Profiled on 100,000 synthetic text copies (benchmarks/load.py's
data, 2 cores, cProfile), building everything while staging took 9–13 s: zstd of every raw body
5.2–6.1 s (pyarrow's codec, ~50 µs a 4.7 KB page), version columns 4.1–4.7 s (Arrow conversion of the
Python strings ~3 s, the blocks layout 1.2–1.5 s), field hashes 0.5–1.0 s, sha256 0.5–0.7 s, visit
columns 0.4 s. A revisit with 1% changed redid all of it although 99% of the bodies were stored and
99% of the records unchanged. Now a revisit stages the sha256 and the light columns (1.2–1.6 s) and
the load builds 1% of the rest; a first load builds the same rows as before, inside the lock instead
of before it (the lock is held longer on a first load; the whole command is no slower).

A batch read back from a load package (warehouse.packages) holds every table whole, field hashes
included (the package layout is unchanged), and answers the same questions by filtering them.

Blocks are stored as a layout (see `blocks_layout`): the body already holds every text block.

Every staged table is cut into record batches of one row group (warehouse.db.ROW_GROUP_SIZE rows):
DuckDB scans an Arrow table one record batch per thread, so a table of one 100,000-row chunk is
read, and its row groups compressed, by one thread. Measured with benchmarks/load.py's floor (100,000
versions, 2 cores): one chunk 4.3–4.6 s, batches of 32,768 rows 2.7–3.2 s, batches of 8,192 no
faster than one chunk (each thread then fills its own partial row groups).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from parsers.record import RECORD_FIELDS, ArticleRecord, Block, RecordField
from warehouse.db import ROW_GROUP_SIZE
from warehouse.field_hashes import HASH_TYPE, stage_field_hashes
from warehouse.raw import pack_each, sha256_each
from warehouse.visit import RECORD_STATUSES, VisitInput

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
ARTICLE_STATUSES = frozenset({"parsed", "not_modified", "gone", "reparsed"})

# The record's fields the light visit table carries (keys, address, publication time, hash); every
# other field the record declares (parsers.record.RECORD_FIELDS) is a column of the version table,
# typed by its kind, so a field added to the record is staged without an edit here.
_IN_VISIT_TABLE = frozenset({"source", "article_id", "url", "published_at", "content_hash"})
_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "texts": _TEXTS,
    "time": _TS,
    "blocks": pa.string(),  # the layout (blocks_layout)
}
VERSION_FIELDS: tuple[RecordField, ...] = tuple(f for f in RECORD_FIELDS if f.name not in _IN_VISIT_TABLE)
VERSION_SCHEMA = pa.schema([("pos", pa.int64()), *((f.name, _ARROW_TYPES[f.kind]) for f in VERSION_FIELDS)])

RAW_SCHEMA = pa.schema(
    [
        ("raw_sha256", pa.string()),
        ("encoding", pa.string()),
        ("data", pa.binary()),
        ("size", pa.int64()),
        ("first_seen_at", _TS),
    ]
)


class StagedBatch:
    """Everything one `load_batch` call needs, built without the database (see the module docstring).

    Two kinds: a batch staged from visits (`stage_batch`) builds its light columns at once and its
    heavy ones (version rows, field hashes, compressed raw bodies) only for the rows a load asks for;
    a batch read back from a load package (warehouse.packages) holds every table whole. Both answer
    the same questions; the full tables (`visits` with its field hashes, `versions`, `raw`) are built
    on first use for whoever wants them whole, as a package does.
    """

    __slots__ = ("light_visits", "rounds", "_visits", "_versions", "_raw", "_inputs", "_raw_keys")

    def __init__(
        self,
        visits: pa.Table,
        versions: pa.Table | None = None,
        raw: pa.Table | None = None,
        rounds: int = 0,
        *,
        inputs: Sequence[VisitInput] | None = None,
    ) -> None:
        if inputs is None and (versions is None or raw is None):
            raise ValueError("a StagedBatch needs either its versions and raw tables or its input visits")
        # VISIT_SCHEMA (a package's also carries field_hashes), one row per visit, row i has pos i
        self.light_visits = visits
        self.rounds = rounds  # the most visits of one article in the batch: the load merges that many
        self._visits = visits if "field_hashes" in visits.column_names else None
        self._versions = versions
        self._raw = raw
        self._inputs = inputs
        # the distinct raw bodies' sha256, in the order first seen (a package's: its raw table's)
        self._raw_keys = raw.select(["raw_sha256"]) if raw is not None else None

    def __len__(self) -> int:
        """The number of visits: LoadResult.outcomes and visit_ids are aligned with them."""
        return self.light_visits.num_rows

    @property
    def built_whole(self) -> frozenset[str]:
        """Which whole tables of a batch staged from visits have been built (none, for a load)."""
        if self._inputs is None:
            return frozenset({"visits", "versions", "raw"})
        built = {"visits": self._visits, "versions": self._versions, "raw": self._raw}
        return frozenset(name for name, table in built.items() if table is not None)

    @property
    def visits(self) -> pa.Table:
        """VISIT_SCHEMA + field_hashes, one row per visit (the layout of a load package)."""
        if self._visits is None:
            hashes = stage_field_hashes(self.light_visits, self.versions)
            full = self.light_visits.append_column(pa.field("field_hashes", HASH_TYPE), hashes)
            self._visits = in_row_groups(full)
        return self._visits

    @property
    def versions(self) -> pa.Table:
        """VERSION_SCHEMA, one row per visit with a record (parsed or re-parsed)."""
        if self._versions is None:
            parsed = pc.is_in(self.light_visits.column("status"), value_set=pa.array(sorted(RECORD_STATUSES)))
            self._versions = self.version_rows(self.light_visits.column("pos").filter(parsed))
        return self._versions

    @property
    def raw(self) -> pa.Table:
        """RAW_SCHEMA, one row per distinct raw body, compressed."""
        if self._raw is None:
            self._raw = self.raw_rows(self.raw_keys.column("raw_sha256"))
        return self._raw

    @property
    def raw_keys(self) -> pa.Table:
        """One `raw_sha256` column: the batch's distinct raw bodies, in the order first seen."""
        if self._raw_keys is None:
            self._raw_keys = in_row_groups(_raw_keys(self.light_visits))
        return self._raw_keys

    def version_rows(self, positions: pa.Array | pa.ChunkedArray) -> pa.Table:
        """VERSION_SCHEMA rows of the parsed visits at `positions` (ascending), in row groups."""
        if self._versions is not None or self._inputs is None:
            return in_row_groups(_rows_at(self.versions, "pos", positions))
        return in_row_groups(stage_versions(self._inputs, positions.to_pylist()))

    def field_hashes(
        self, positions: pa.Array | pa.ChunkedArray, versions: pa.Table | None = None
    ) -> pa.ChunkedArray:
        """The field hashes of the parsed visits at `positions` (ascending), aligned with them;
        `versions`: their `version_rows` when the caller has them already."""
        if self._visits is not None:
            return _rows_at(self._visits.select(["pos", "field_hashes"]), "pos", positions)["field_hashes"]
        visits = _rows_at(self.light_visits, "pos", positions)
        return stage_field_hashes(visits, versions if versions is not None else self.version_rows(positions))

    def raw_rows(self, shas: pa.Array | pa.ChunkedArray) -> pa.Table:
        """RAW_SCHEMA rows of the raw bodies `shas` (distinct, staged ones), in staged order: only
        these are compressed (a revisit finds most bodies stored already)."""
        if self._raw is not None or self._inputs is None:
            return in_row_groups(_rows_at(self.raw, "raw_sha256", shas))
        wanted = set(shas.to_pylist())
        first: dict[str, VisitInput] = {}
        for visit, sha in zip(self._inputs, self.light_visits.column("raw_sha256").to_pylist(), strict=True):
            if sha in wanted and sha not in first:
                first[sha] = visit
        return in_row_groups(stage_raw(first))


def _is_url(locator: str) -> bool:
    return locator.startswith(("http://", "https://"))


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the warehouse takes timezone-aware UTC datetimes")
    return value


def _rows_at(table: pa.Table, key: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`table`'s rows whose `key` is among `values`, in the table's order. `values` are distinct
    keys of the table, so as many values as rows means every row: the table itself (a first load).
    A filter works chunk by chunk, where `take` on a chunked table first concatenates every chunk
    (~1 s for 100,000 bodies)."""
    if len(values) == table.num_rows:
        return table
    return table.filter(pc.is_in(table.column(key), value_set=values))


def _raw_keys(visits: pa.Table) -> pa.Table:
    """The distinct non-null raw_sha256 values of `visits`, in the order first seen."""
    seen: dict[str, None] = {}
    for sha in visits.column("raw_sha256").to_pylist():
        if sha is not None:
            seen.setdefault(sha)
    return pa.table({"raw_sha256": pa.array(list(seen), pa.string())})


def _table(schema: pa.Schema, columns: dict[str, Sequence[object]]) -> pa.Table:
    arrays = [pa.array(list(columns[f.name]), type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def in_row_groups(table: pa.Table) -> pa.Table:
    """`table` as record batches of one row group each (zero-copy slices; see the module docstring)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=ROW_GROUP_SIZE), schema=table.schema)


def stage_batch(visits: Sequence[VisitInput]) -> StagedBatch:
    """A batch's light Arrow table (sha256 of each raw body, identity, hashes, HTTP facts); its
    heavy rows are built when a load asks for them. Raises ValueError on input the warehouse cannot
    take, before anything is written."""
    inputs = list(visits)
    _check_records(inputs)
    # a packed body's sha256, or one a reader took, was taken where it was read; the others are
    # hashed here, many at once
    shas: list[str | None] = [v.packed.sha256 if v.packed is not None else v.raw_sha256 for v in inputs]
    unpacked = [i for i, v in enumerate(inputs) if shas[i] is None and v.raw is not None]
    for i, sha in zip(unpacked, sha256_each([inputs[i].raw for i in unpacked]), strict=True):
        shas[i] = sha
    staged_visits = stage_visits(inputs, shas)
    rounds = pc.max(staged_visits.column("occurrence")).as_py()
    return StagedBatch(in_row_groups(staged_visits), rounds=rounds or 0, inputs=inputs)


def _check_records(visits: Sequence[VisitInput]) -> None:
    """What staging the heavy columns later would refuse, refused now (nothing is written yet)."""
    for p, visit in enumerate(visits):
        if visit.status not in RECORD_STATUSES:
            continue
        if visit.record is None:
            raise ValueError(f"visit {p} ({visit.locator}) has status {visit.status!r} but carries no record")
        _utc(visit.record.updated_at)


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
        "bytes": [v.raw_size for v in visits],
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
    if from_body and len(texts) == len(record.blocks):  # every block a text of the body: kinds alone
        return _kinds_layout(tuple(b.kind for b in record.blocks))
    return orjson.dumps([_layout_entry(b, from_body) for b in record.blocks]).decode()


@functools.lru_cache(maxsize=4096)
def _kinds_layout(kinds: tuple[str, ...]) -> str:
    """The layout of blocks that are all texts of the body: the same few kind sequences recur across
    a batch, so their JSON is made once (a third of the layout's time per record)."""
    return orjson.dumps([{"kind": kind} for kind in kinds]).decode()


def _layout_entry(block: Block, from_body: bool) -> dict[str, str]:
    if block.kind != "image":
        return {"kind": block.kind} if from_body and block.text else {"kind": block.kind, "text": block.text}
    entry = {"kind": block.kind, "text": block.text}
    if block.src is not None:
        entry["src"] = block.src
    if block.credit is not None:
        entry["credit"] = block.credit
    return entry


def stage_versions(visits: Sequence[VisitInput], positions: Sequence[int] | None = None) -> pa.Table:
    """Heavy record columns of the visits at `positions` (default: every visit with a record),
    keyed by their position in the batch."""
    if positions is None:
        positions = [i for i, v in enumerate(visits) if v.status in RECORD_STATUSES]
    records: list[ArticleRecord] = []
    for p in positions:
        record = visits[p].record
        if record is None:
            status = visits[p].status
            raise ValueError(f"visit {p} ({visits[p].locator}) has status {status!r} but carries no record")
        records.append(record)
    columns: dict[str, Sequence[object]] = {"pos": positions}
    for record_field in VERSION_FIELDS:
        columns[record_field.name] = version_column(record_field, records)
    return _table(VERSION_SCHEMA, columns)


def version_column(record_field: RecordField, records: Sequence[ArticleRecord]) -> list[object]:
    """One field of the records as its version-table column (blocks as their layout, times in UTC)."""
    if record_field.kind == "blocks":
        return [blocks_layout(r) for r in records]
    values = map(attrgetter(record_field.name), records)
    return [_utc(v) for v in values] if record_field.kind == "time" else list(values)


def stage_raw(first: dict[str, VisitInput]) -> pa.Table:
    """One row per sha256 of `first` (each body's first visit in the batch), encoded for storage."""
    kept = list(first)
    to_pack = [s for s in kept if first[s].packed is None]
    packed_now = dict(zip(to_pack, pack_each(to_pack, [first[s].raw or b"" for s in to_pack]), strict=True))
    packed = [first[s].packed or packed_now[s] for s in kept]
    columns: dict[str, Sequence[object]] = {
        "raw_sha256": kept,
        "encoding": [p.encoding for p in packed],
        "data": [p.data for p in packed],
        "size": [p.size for p in packed],
        "first_seen_at": [_utc(first[s].visited_at) for s in kept],
    }
    return _table(RAW_SCHEMA, columns)
