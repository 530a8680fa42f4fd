"""The event outbox: the Prefect events a load batch gives rise to, kept in the warehouse until emitted.

Why an outbox
  An event must follow its batch's commit, never precede it, never come from a rolled-back batch,
  and never be lost when the Prefect API is down or slow. So `load_batch` writes the batch's events
  into `event_outbox` inside the batch's own transaction (`write_outbox`, one INSERT … SELECT from
  the event rows the load already fetched as Arrow: no Python loop over the rows), and the flows
  emit them after the commit (flows.events.flush_outbox): read with a short read-only connection,
  sent without any lock held, then deleted in one short write transaction once the API has
  accepted them. Rows the API did not take stay for the next run or `kazinform events flush`.
  Each row carries its Prefect event id, so a row sent again after a crash between the send and
  the delete is the same event (the Prefect server keeps one event per id).

What a row holds
  The event name, its resource (labels kazinform.source, kazinform.language, kazinform.article_id;
  the warehouse's path is not known to the load, so the emitter adds `kazinform.warehouse`), the
  related flow run (`prefect.flow-run.<run id>`, role `flow-run`), the payload, when the visit
  found it (occurred_at) and the run id. Payloads: `changed` {fields, old_version, new_version,
  url}; `moved` {old_url, new_url, old_version, new_version, fields}; `created`, `deleted`,
  `restored` {version, url}.

Re-parses write no event (decision)
  A version made by `kazinform reparse` (outcome `reparsed`, change rows with cause `reparse`) is a
  parser fix, not news about the article: no `kazinform.article.changed` (which starts the change
  report) and no event of its own. A fix may touch every stored article at once, a
  flood no consumer needs; the run's `kazinform.run.completed` carries how many versions it made,
  and `visits` (outcome `reparsed`, that run id) says which (merge_sql.CHANGE_EVENTS leaves them out).

Large first loads (decision)
  Changes, moves, deletions and restorations are always one event per article: they are few per
  run and each may start downstream work (the change report). `created` events are one per
  article up to `CREATED_EVENTS_PER_BATCH` in a batch; above it the batch writes one
  `kazinform.articles.created` event per source and language instead, with the count and the first
  and last article ids and visit ids (the articles are `visits` of that run between those ids with
  outcome `created`). A first load of 100,000 articles, loaded in batches of ~2,500 (the flows'
  memory-capped loads), so gives ~40–150 events, not 100,000. Nothing is emitted under the write
  lock: the load only inserts rows; emission is a later step with no connection open, in batched
  HTTP requests (flows.events). Measured (benchmark figures in the closing notes of the change):
  writing the outbox rows of a 100,000-article first load in its transaction, and emitting N events
  against a local Prefect server.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from warehouse import merge_sql as sql

# Above this many `created` events in one batch, one summary event per source and language replaces
# them (see the module docstring). A scheduled crawl's new articles (tens per run) stay one event
# each; a first crawl or a folder of files (batches of ~160 real-size pages or ~2,500 text copies)
# becomes a few summary events. A local Prefect server takes 350–800 events/s: the 2,000
# per-article events of a first 2,000-article crawl held its end for 3–6 s, 17% of its wall time.
CREATED_EVENTS_PER_BATCH = 100

_EVENT_ROWS = "load_event_rows"
_EMITTED_IDS = "outbox_emitted_ids"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    event_id: str
    event: str
    resource: str  # JSON text
    related: str  # JSON text
    payload: str  # JSON text
    occurred_at: datetime
    run_id: str


def write_outbox(
    conn: duckdb.DuckDBPyConnection, run_id: str, base: int, event_rows: pa.Table | None
) -> None:
    """Insert the batch's events (`event_rows`, LoadResult.event_rows) into the outbox. Called inside
    the load's transaction, with the round classifications registered as `load_rounds`."""
    if event_rows is None or event_rows.num_rows == 0:
        return
    conn.register(_EVENT_ROWS, event_rows)
    try:
        params = {"base": base, "run_id": run_id, "created_each_max": CREATED_EVENTS_PER_BATCH}
        conn.execute(sql.INSERT_OUTBOX, params)
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.unregister(_EVENT_ROWS)


def _has_outbox(conn: duckdb.DuckDBPyConnection) -> bool:
    """A warehouse no writer has opened since migration 007 has no outbox, hence nothing pending."""
    found = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'event_outbox'").fetchone()
    return bool(found and found[0])


def pending_rows(conn: duckdb.DuckDBPyConnection, limit: int) -> list[OutboxRow]:
    """The oldest `limit` rows waiting to be emitted."""
    if not _has_outbox(conn):
        return []
    rows = conn.execute(sql.PENDING_OUTBOX, {"limit": limit}).fetchall()
    return [OutboxRow(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


def pending_count(conn: duckdb.DuckDBPyConnection) -> int:
    if not _has_outbox(conn):
        return 0
    (count,) = conn.execute(sql.COUNT_OUTBOX).fetchone() or (0,)
    return int(count)


def delete_rows(conn: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Remove emitted rows, in one transaction (one set-based DELETE)."""
    if not ids:
        return
    conn.register(_EMITTED_IDS, pa.table({"id": pa.array(ids, pa.int64())}))
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql.DELETE_OUTBOX)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.unregister(_EMITTED_IDS)
