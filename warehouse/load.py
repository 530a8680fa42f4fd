"""Load a batch of visits into the warehouse: one transaction, set-based statements, no per-article SQL.

How a batch is merged
- A batch's light columns are staged beforehand (`warehouse.stage.stage_batch`, no database, so it
  runs outside the write lock). Every visit is compared in SQL with `article_state` (the current
  version's content_hash and url); heavy columns (body, blocks, …) and field hashes are built and
  inserted only for rows that need a new version, raw bodies compressed and inserted only for
  sha256 values not yet in `raw_pages` (an anti join): a revisit's work follows what changed.
- SQL decides, Arrow carries: each round's classification is fetched as an Arrow table, and the
  wide rows (new versions, new raw bodies, visits) are put together in Arrow from the staged
  tables and inserted with a plain scan, in row-group-sized batches that every thread reads. A
  join or anti join feeding an insert ran on one thread or left a short row group mid-table.
- Which fields changed is found by comparing per-field hashes of the new version (computed for the
  new versions alone, warehouse.field_hashes) with those kept in `article_state.field_hashes`: no stored text
  is read. Change rows are narrow
  (`article_field_changes`); the view `article_changes` reads the values from the two versions.
- Outcomes of a `parsed` visit: `created` (article_id never seen), `redirected` (its url differs from
  the article's current url: new version with a `url` change row, plus content rows if the content
  changed too), `changed` (content_hash differs: new version), `unchanged` (same hash and url; a
  whitespace-only edit keeps the hash). A record without a url keeps the article's known address.
  Only title, lead, body, tags and authors feed the hash: a change to another field alone is not a
  new version, but when a version is made every tracked field that differs gets a change row.
- `not_modified` (HTTP 304): no version; last_seen_at/last_visited_at and the schedule move on.
  `gone` (404/410): the article is marked deleted (a `deleted` change row false→true), versions stay;
  parsing it again later restores it (true→false) with the outcome its content calls for.
  `failed`, `parse_error`, `listed`: only the visit (and raw bytes when present) is written.
- The same article twice in one batch: visits are merged in input order. The n-th visit of an article
  goes into round n (numbered while staging), and each round is one set of statements seeing the
  previous rounds' writes, so a file given twice yields `created` then `unchanged`, exactly as two
  batches would.
- A failure anywhere rolls the whole batch back; nothing of it is visible afterwards.

Re-parses (status `reparsed`, flows.reparse)
  A stored raw page read again by today's parser. It is merged by the same statements as a visit,
  with three differences: it is applied only when the article's current version was made from that
  very page (else `superseded`: a visit has made another since it was read), it makes a version when
  any tracked field differs (a parser fix of a date alone counts; `unchanged` otherwise), and it is
  not a visit of the site: the schedule, last_seen_at, last_visited_at, last_changed_at and the
  deleted flag stay as they were, and no event is written. Its change rows have cause `reparse`
  (never flip-flops, never counted in `articles.edits`). Only a re-parse that made a version is
  written to `visits` (outcome `reparsed`, the raw page's sha256, the run id); the others leave
  nothing, so re-parsing unchanged output writes nothing at all.

Flip-flop rule
  A change of field F of an article from X to Y is flagged `flipflop` when an earlier change of the
  same field of the same article had the same unordered pair of values {X, Y}. So for A→B→A→B the first
  change is real and the next two are flagged. Values are compared by a 64-bit hash of each side
  (`field_value_hash`, `change_pair_hash`), so the check is an equality join. `articles.edits`
  counts versions with at least one unflagged field change; `articles.versions` counts all versions.

Revisit schedule (for `--revisit due`)
  The age band comes from the article's age at the visit (published_at, else first_seen_at):
  < 3 h → 15 min, < 1 day → 1 h, < 7 days → 3 h, < 30 days → 3 days, < 365 days → 30 days, older →
  never (null). A new or changed version (or a restoration) resets the interval to 15 min; a visit
  finding no change doubles it, capped at the band. next_visit_at = visit time + interval. Gone
  articles are not scheduled; failed and parse_error visits leave the schedule as it was (still due).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from parsers.record import TRACKED_FIELDS
from warehouse import merge_sql as sql
from warehouse.db import grow_writer_memory, vacuum_for_load
from warehouse.field_hashes import HASH_TYPE
from warehouse.outbox import write_outbox
from warehouse.stage import StagedBatch, in_row_groups, stage_batch
from warehouse.visit import Outcome, VisitInput

EventKind = Literal["created", "changed", "moved", "deleted", "restored"]

_STAGED_VISITS = "load_staged_visits"
_NEW_RAW = "load_new_raw"
_ROUND = "load_round"
_ROUNDS = "load_rounds"
_NEW_VERSIONS = "load_new_versions"
_STAGED_RAW = "load_staged_raw"
_VISIT_ROWS = "load_visit_rows"
_REPARSES = "load_reparse"
_REGISTERED = (_STAGED_VISITS, _STAGED_RAW, _NEW_RAW, _ROUND, _ROUNDS, _NEW_VERSIONS, _VISIT_ROWS, _REPARSES)
_FIELD_ORDER = {name: i for i, name in enumerate(TRACKED_FIELDS)}
_VERSION_EVENTS: dict[str, EventKind] = {"created": "created", "changed": "changed", "redirected": "moved"}

# Where the columns of a new version row come from in a round's classification.
_VERSION_KEYS = {
    "source": "source",
    "article_id": "article_id",
    "version": "version",
    "url": "new_url",
    "published_at": "published_at",
    "content_hash": "content_hash",
    "valid_from": "visited_at",
    "visit_id": "visit_id",
}

# The columns of an event row (sql.CHANGE_EVENTS) as the classification names them, but `fields`.
_EVENT_COLUMNS = ["pos", "outcome", "deleted_now", "restored", "source", "article_id", "version", "new_url"]


@dataclass(frozen=True, slots=True)
class ArticleEvent:
    """Something that happened to an article in a batch; later slices emit one Prefect event each."""

    kind: EventKind
    source: str
    article_id: str
    version: int
    url: str | None
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PackageRecord:
    """The load package a batch was read from (warehouse.packages): recorded with the batch."""

    package_id: str
    staged_at: datetime


@dataclass(slots=True)
class LoadResult:
    run_id: str
    outcomes: list[Outcome]  # aligned with the input visits
    visit_ids: list[int]  # aligned with the input visits
    counts: dict[str, int] = field(default_factory=dict)
    # One row per article event, fetched as Arrow inside the transaction; turned into objects only
    # when asked for, so a large first load does not build 100,000 of them while holding the lock.
    event_rows: pa.Table | None = None

    @property
    def events(self) -> list[ArticleEvent]:
        if self.event_rows is None:
            return []
        events: list[ArticleEvent] = []
        for row in self.event_rows.to_pylist():
            fields = row["fields"] or []
            changed = tuple(sorted(fields, key=lambda f: _FIELD_ORDER.get(f, len(_FIELD_ORDER))))
            kinds: list[tuple[EventKind, tuple[str, ...]]] = []
            if row["deleted_now"]:
                kinds.append(("deleted", ("deleted",)))
            if row["restored"]:
                kinds.append(("restored", ("deleted",)))
            if row["outcome"] in _VERSION_EVENTS:
                kinds.append((_VERSION_EVENTS[row["outcome"]], changed))
            events.extend(
                ArticleEvent(kind, row["source"], row["article_id"], row["version"], row["url"], names)
                for kind, names in kinds
            )
        return events


def load_batch(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    batch: StagedBatch | Sequence[VisitInput],
    *,
    package: PackageRecord | None = None,
) -> LoadResult:
    """Write one batch of visits in one transaction and say what came of each.

    `batch` is best staged beforehand with `warehouse.stage.stage_batch`, outside the write lock;
    plain visits are staged here. The result's lists are aligned with the batch's visits. A batch
    read from a load package names it in `package`: its `load_packages` row commits with the visits.
    """
    staged = batch if isinstance(batch, StagedBatch) else stage_batch(batch)
    if len(staged) == 0:
        return LoadResult(run_id=run_id, outcomes=[], visit_ids=[])
    with _cyclic_gc_paused():
        return _load_staged(conn, run_id, staged, package)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while a batch is written. The load allocates few
    cyclic objects, but a full collection walks every object the process holds (a caller's batch of
    100,000 records): measured ~0.15 s of a 0.8 s revisit of 100,000 articles, under the write lock."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_staged(
    conn: duckdb.DuckDBPyConnection, run_id: str, staged: StagedBatch, package: PackageRecord | None
) -> LoadResult:
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.register(_STAGED_VISITS, staged.light_visits)
        conn.register(_STAGED_RAW, staged.raw_keys)
        (base,) = conn.execute(sql.NEXT_VISIT_BASE).fetchall()[0]
        _insert_raw_pages(conn, staged)
        classify = sql.classify(with_reparses=_register_reparses(conn, staged))
        rounds = [
            _merge_round(conn, classify, base, round_number, staged)
            for round_number in range(1, staged.rounds + 1)
        ]
        outcomes = _outcomes(staged, rounds)
        _insert_visits(conn, run_id, base, staged.light_visits.append_column("outcome", outcomes))
        result = _collect_result(conn, run_id, base, staged, rounds, outcomes)
        # the batch's events commit with it (warehouse.outbox): emitted later, with no lock held
        write_outbox(conn, run_id, base, result.event_rows)
        if package is not None:
            conn.execute(sql.RECORD_PACKAGE, [package.package_id, run_id, len(staged), package.staged_at])
        vacuum_for_load(conn, len(staged))  # the commit checkpoints (warehouse.db)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended the transaction itself
            conn.execute("ROLLBACK")
        raise
    finally:
        for name in _REGISTERED:
            _unregister(conn, name)
    return result


def _unregister(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    with contextlib.suppress(duckdb.Error):  # a failure may come before every table is registered
        conn.unregister(name)


def _insert_raw_pages(conn: duckdb.DuckDBPyConnection, staged: StagedBatch) -> None:
    """Store the raw bodies not stored yet, in their staged order (see sql.NEW_RAW_SHAS). A body is
    recognised by its sha256 alone: only the new ones are compressed (StagedBatch.raw_rows)."""
    if staged.raw_keys.num_rows == 0:
        return
    new_shas = conn.sql(sql.NEW_RAW_SHAS).to_arrow_table().column("raw_sha256")
    if len(new_shas) == 0:
        return
    raw_rows = staged.raw_rows(new_shas)
    grow_writer_memory(conn, raw_rows.nbytes)
    conn.register(_NEW_RAW, raw_rows)
    conn.execute(sql.INSERT_RAW_PAGES)


def _register_reparses(conn: duckdb.DuckDBPyConnection, staged: StagedBatch) -> bool:
    """Register the batch's re-parses with their records' field hashes (sql.classify compares every
    field for them); False when the batch has none."""
    visits = staged.light_visits
    is_reparse = pc.equal(visits.column("status"), "reparsed")
    if not pc.any(is_reparse).as_py():
        return False
    reparses = visits.select(["pos", "source", "article_id"]).filter(is_reparse)
    hashes = staged.field_hashes(reparses.column("pos"))
    conn.register(_REPARSES, reparses.append_column("reparse_hashes", hashes.cast(HASH_TYPE)))
    return True


def _merge_round(
    conn: duckdb.DuckDBPyConnection, classify: str, base: int, round_number: int, staged: StagedBatch
) -> pa.Table:
    """Merge one round; return its classification (`classify`'s columns and the staged field
    hashes, ordered by pos)."""
    classified = conn.sql(classify, params={"base": base, "round": round_number}).to_arrow_table()
    classified = classified.sort_by("pos")
    new_versions = _rows_where(classified.select(["pos", *_VERSION_KEYS.values()]), classified["new_version"])
    # The record columns and field hashes of the new versions alone: an unchanged record is
    # recognised by its content hash and url, before any per-field work (StagedBatch.version_rows).
    version_rows = staged.version_rows(new_versions.column("pos"))
    hashes = staged.field_hashes(new_versions.column("pos"), version_rows)
    this_round = _with_staged_hashes(classified, new_versions.column("pos"), hashes)
    conn.register(_ROUND, this_round)
    conn.execute(sql.CLOSE_CURRENT_VERSIONS)
    if new_versions.num_rows:
        rows = _new_version_rows(version_rows, new_versions)
        grow_writer_memory(conn, rows.nbytes)  # a large insert at 128 MB spills before compressing
        conn.register(_NEW_VERSIONS, rows)
        conn.execute(sql.INSERT_VERSIONS)
    known_eventful = pc.and_(this_round.column("eventful"), this_round.column("known"))
    if pc.any(known_eventful).as_py():
        conn.execute(sql.INSERT_CHANGES)
    conn.execute(sql.INSERT_NEW_STATE)
    conn.execute(sql.UPDATE_VISITED_STATE)
    conn.execute(sql.UPDATE_CHANGED_STATE)
    return this_round


def _rows_where(table: pa.Table, mask: pa.ChunkedArray) -> pa.Table:
    """`table`'s rows where `mask` is true; the table itself when that is every row (a first load)."""
    if mask.null_count == 0 and pc.all(mask).as_py():
        return table
    return table.filter(mask)


def _with_staged_hashes(
    classified: pa.Table, positions: pa.ChunkedArray, hashes: pa.ChunkedArray
) -> pa.Table:
    """A round's classification (ordered by pos) with the field hashes of its new versions beside
    it (null for the other rows, which never read them), in row-group-sized batches. The hashes are
    not carried through the comparison's join, where their lists cost a fifth of its time."""
    if len(positions) == classified.num_rows:  # every row a new version (a first load)
        column = hashes
    elif len(positions) == 0:
        column = pa.chunked_array([pa.nulls(classified.num_rows, HASH_TYPE)])
    else:
        rows = pc.index_in(classified.column("pos"), value_set=positions)
        column = pa.concat_arrays(hashes.cast(HASH_TYPE).chunks).take(rows)
    return in_row_groups(classified.append_column("staged_hashes", column))


def _new_version_rows(version_rows: pa.Table, new_versions: pa.Table) -> pa.Table:
    """The rows to insert into article_versions, in row-group-sized batches: the staged record
    columns of the positions in `new_versions` (a round's classified rows that make a version)
    beside their visit-side columns. Both tables are ordered by pos, so the rows line up."""
    rows = version_rows.drop_columns(["pos"])
    for name, column in _VERSION_KEYS.items():
        rows = rows.append_column(name, new_versions.column(column))
    return in_row_groups(rows)


def _outcomes(staged: StagedBatch, rounds: list[pa.Table]) -> pa.ChunkedArray:
    """Outcomes in input order: an article visit's from its round, any other visit's status as is.
    (Arrow lookups, not a Python loop: ~5 ms instead of ~50 ms for 100,000 visits.)"""
    statuses = staged.light_visits.column("status")
    if not rounds:
        return statuses
    if len(rounds) == 1 and rounds[0].num_rows == len(staged):
        return rounds[0].column("outcome")  # every visit is an article visit, in pos order
    classified = pa.concat_tables([r.select(["pos", "outcome"]) for r in rounds])
    # each visit's row in `classified` (a visit is in at most one round), null for the others
    rows = pc.index_in(staged.light_visits.column("pos"), value_set=classified.column("pos"))
    return pc.coalesce(classified.column("outcome").take(rows), statuses)


def _insert_visits(conn: duckdb.DuckDBPyConnection, run_id: str, base: int, visit_rows: pa.Table) -> None:
    """`visit_rows`: the staged visits with their outcome column (a plain scan, no join)."""
    conn.register(_VISIT_ROWS, visit_rows)
    conn.execute(sql.INSERT_VISITS, {"base": base, "run_id": run_id})


def _event_rows(conn: duckdb.DuckDBPyConnection, base: int, classified: pa.Table) -> pa.Table:
    """One row per article event of the batch, in input order (see LoadResult.events)."""
    conn.register(_ROUNDS, classified)
    changes = conn.sql(sql.CHANGE_EVENTS, params={"base": base}).to_arrow_table()
    # a created article's event needs no change rows: it is taken from the classification as it is
    is_created = pc.equal(classified["outcome"], "created")
    created = _rows_where(classified.select(_EVENT_COLUMNS), is_created)
    fields_type = changes.schema.field("fields").type
    created = created.append_column("fields", pa.nulls(created.num_rows, fields_type))
    created = created.rename_columns(changes.column_names).cast(changes.schema)
    return pa.concat_tables([created, changes]).sort_by("pos")


def _collect_result(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    base: int,
    staged: StagedBatch,
    rounds: list[pa.Table],
    outcomes: pa.ChunkedArray,
) -> LoadResult:
    event_rows = _event_rows(conn, base, pa.concat_tables(rounds)) if rounds else None
    return LoadResult(
        run_id=run_id,
        outcomes=outcomes.to_pylist(),
        visit_ids=list(range(base + 1, base + 1 + len(staged))),
        counts={entry["values"]: entry["counts"] for entry in pc.value_counts(outcomes).to_pylist()},
        event_rows=event_rows,
    )
