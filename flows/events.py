"""Emit the warehouse's event outbox to Prefect, and the events and artifact that end a run.

The load writes each batch's events into `event_outbox` in the batch's own transaction
(warehouse.outbox, where the shapes and the handling of large first loads are described).
`flush_outbox` emits them after the commit, never under the write lock:
1. a short read-only connection reads the oldest pending rows (at most `ROWS_PER_READ`);
2. with no connection open, they are sent to the Prefect API in batches of `EVENTS_PER_REQUEST`
   (`POST /events`, Prefect's "record a batch of events"), each answered only once the server has
   published the events to its event stream (the one automations read);
3. the ids the API accepted are deleted in one short write transaction (`_open_outbox_writer`).
A batch the API refuses or does not answer within the deadline is not deleted and nothing is
raised: one warning line says how many wait, for the next run or `kazinform events flush`.

Why not `prefect.events.emit_event`: it hands each event to Prefect's background EventsWorker,
which sends one websocket message per event and confirms receipt only by a ping every 700 events
or 30 s; when the API is down it logs, retries its connection for a while and drops the event, and
the caller cannot know which events arrived, so it could not tell which rows to delete. The batch
request gives a definite answer per batch, one HTTP call per 500 events instead of one message
each, within a deadline. Each row keeps its event id, so a batch sent again (a crash between the
send and the delete) is the same events: the Prefect server stores one event per id.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import duckdb

from flows.writer import open_gated_writer
from warehouse.db import WarehouseError, open_reader, open_writer
from warehouse.outbox import OutboxRow, delete_rows, pending_count, pending_rows

T = TypeVar("T")
Logger = logging.Logger | logging.LoggerAdapter

# Events per `POST /events`: measured against a local server, 500 events are one ~0.3 MB request
# answered in ~0.1 s; bigger requests gain little and hold more in memory.
EVENTS_PER_REQUEST = 500
# Rows read from the outbox at a time: bounds the memory of a flush whatever has piled up.
ROWS_PER_READ = 10_000
# A whole flush at the end of a run: long enough for thousands of events to a local server, short
# enough that a run whose API is slow ends soon after its data is committed.
END_OF_RUN_DEADLINE_S = 30.0
# At the start of a run (what an earlier run left): short, the run's own work waits behind it.
START_OF_RUN_DEADLINE_S = 10.0
# `kazinform events flush`: a person asked for it, so it may take longer.
COMMAND_DEADLINE_S = 120.0
# Each request; Prefect's own default (60 s) would let one hung request eat a whole deadline.
REQUEST_TIMEOUT_S = 10.0
# The outbox's readers and its delete wait this long for another writer (a load) to let go.
OUTBOX_LOCK_WAIT_S = 30.0
# Rows of the run's table artifact: the Prefect UI shows a table, not a data set; the total and a
# query for the rest are said beside it.
MAX_ARTICLES_IN_TABLE = 200

_log = logging.getLogger("kazinform.events")


@dataclass(frozen=True, slots=True)
class FlushResult:
    emitted: int  # events the Prefect API accepted (and deleted from the outbox)
    remaining: int  # events still in the outbox
    error: str | None = None  # why the flush stopped short, in words

    @property
    def complete(self) -> bool:
        return self.error is None


def warehouse_label(warehouse_path: Path | str) -> str:
    """The `kazinform.warehouse` label: the warehouse file's absolute path."""
    return str(Path(warehouse_path).expanduser().resolve())


def _open_outbox_writer(
    warehouse_path: Path, timeout: float
) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The one write connection of this module (deleting emitted rows), under the same
    `duckdb-writer` slot as the loads (flows.writer)."""
    return open_gated_writer(warehouse_path, logger=_log, timeout=timeout)


def _writable_now(warehouse_path: Path) -> bool:
    """Whether a writer could open the file at once. Checked before sending: events sent while
    another process holds the file could not be deleted after, and would be sent again later."""
    try:
        with open_writer(warehouse_path, timeout=0):
            return True
    except WarehouseError:
        return False


def flush_outbox(
    warehouse_path: Path | str, *, deadline_s: float = END_OF_RUN_DEADLINE_S, logger: Logger | None = None
) -> FlushResult:
    """Emit what waits in the outbox (see the module docstring); never raises for an API or lock
    problem: the result says what was emitted, what remains and why it stopped."""
    log = logger or _log
    path = Path(warehouse_path)
    if not path.exists():
        return FlushResult(0, 0)
    label = warehouse_label(path)
    deadline = time.monotonic() + deadline_s
    emitted, error = 0, None
    while error is None:
        try:
            # a warehouse held by a load is waited for no longer than the flush may take
            wait = max(0.1, min(OUTBOX_LOCK_WAIT_S, deadline - time.monotonic()))
            with open_reader(path, timeout=wait) as connection:
                rows = pending_rows(connection, ROWS_PER_READ)
        except (WarehouseError, duckdb.Error) as reading:
            error = f"the outbox could not be read ({reading})"
            break
        if not rows:
            break
        if not _writable_now(path):
            error = "the warehouse is held by another process (a load or a long query)"
            break
        accepted, error = send_events([_event(row, label) for row in rows], deadline)
        if accepted:
            wait = max(1.0, min(OUTBOX_LOCK_WAIT_S, deadline - time.monotonic()))
            try:
                with _open_outbox_writer(path, wait) as connection:
                    delete_rows(connection, [row.id for row in rows[:accepted]])
            except (WarehouseError, duckdb.Error) as deleting:
                # sent but kept: sent again later as the same events (same ids), which Prefect keeps once
                error = f"{accepted} emitted events could not be removed from the outbox ({deleting})"
                break
            emitted += accepted
        if len(rows) < ROWS_PER_READ:
            break
    remaining = _remaining(path)
    if error is not None:
        log.warning(
            "events: %d emitted, %d left in the outbox of %s for the next run or `kazinform events "
            "flush`: %s",
            emitted,
            remaining,
            path,
            error,
        )
    elif emitted:
        log.info("events: %d emitted from the outbox of %s", emitted, path)
    return FlushResult(emitted, remaining, error)


def _remaining(path: Path) -> int:
    try:
        with open_reader(path, timeout=OUTBOX_LOCK_WAIT_S) as connection:
            return pending_count(connection)
    except (WarehouseError, duckdb.Error):
        return -1  # unknown: the warehouse is held; the warning says why the flush stopped


def _event(row: OutboxRow, warehouse: str) -> dict[str, Any]:
    resource = json.loads(row.resource)
    resource["kazinform.warehouse"] = warehouse
    payload = json.loads(row.payload)
    payload["visited_at"] = row.occurred_at.isoformat()
    # `occurred` is the emission, which always follows the batch's commit: a trigger that folds a
    # burst of events into one run (flows.change_report) relies on it. The visit's time is in the
    # payload.
    return event_dict(row.event, resource, payload, json.loads(row.related), datetime.now(UTC), row.event_id)


def event_dict(
    name: str,
    resource: dict[str, str],
    payload: dict[str, Any],
    related: list[dict[str, str]],
    occurred: Any,
    event_id: str | UUID,
) -> dict[str, Any]:
    """An event as the API takes it, checked by Prefect's own model (labels are strings, sizes)."""
    from prefect.events import Event

    event = Event(
        id=UUID(str(event_id)),
        event=name,
        resource=resource,
        related=related,
        payload=payload,
        occurred=occurred,
    )
    return event.model_dump(mode="json")


def send_events(events: Sequence[dict[str, Any]], deadline: float) -> tuple[int, str | None]:
    """POST `events` in order, `EVENTS_PER_REQUEST` at a time, until `deadline` (time.monotonic);
    returns how many leading events the API accepted and why it stopped short (None: all sent)."""
    if not events:
        return 0, None
    accepted = [0]  # counted as requests succeed: a deadline cutting the run short keeps the count

    async def post_all() -> None:
        from prefect.client.orchestration import get_client

        async with get_client(httpx_settings={"timeout": REQUEST_TIMEOUT_S}) as client:
            for chunk in _chunks(events, EVENTS_PER_REQUEST):
                await client.request("POST", "/events", json=list(chunk))
                accepted[0] += len(chunk)

    try:
        _run_within(post_all, deadline)
    except TimeoutError:
        return accepted[0], f"the Prefect API did not take them within the deadline ({_api_url()})"
    except Exception as error:  # refused, unreachable, a server error: the rows stay
        return accepted[0], f"the Prefect API at {_api_url()} did not take them: {_first_line(error)}"
    return accepted[0], None


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run_within(make: Callable[[], Any], deadline: float) -> None:
    """Run the coroutine `make()` on an event loop of its own, in a thread of its own (callers may be
    inside a running loop: the crawl flow), cancelled at `deadline`; its exception is raised here."""
    outcome: dict[str, BaseException] = {}
    context = contextvars.copy_context()  # Prefect's settings (the API URL) as the caller sees them

    async def bounded() -> None:
        await asyncio.wait_for(make(), timeout=max(0.0, deadline - time.monotonic()))

    def work() -> None:
        try:
            context.run(asyncio.run, bounded())
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="outbox-flush", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]


def _api_url() -> str:
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url or "(no PREFECT_API_URL)")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --- the end of a run -----------------------------------------------------------------------------


def emit_run_completed(
    warehouse_path: Path | str,
    run_id: str,
    flow_name: str,
    counts: dict[str, int],
    *,
    flush: FlushResult | None = None,
    deadline_s: float = START_OF_RUN_DEADLINE_S,
    logger: Logger | None = None,
) -> bool:
    """Emit `kazinform.run.completed` (sent directly, not through the outbox: it is about the run,
    not the data, and a run whose API is gone has nothing to tell it). True when the API took it."""
    import uuid
    from datetime import UTC, datetime

    label = warehouse_label(warehouse_path)
    event = event_dict(
        "kazinform.run.completed",
        {
            "prefect.resource.id": f"kazinform.run.{run_id}",
            "kazinform.warehouse": label,
            "kazinform.flow": flow_name,
        },
        {
            "counts": dict(sorted(counts.items())),
            "visits": sum(counts.values()),
            "warehouse": label,
            "events_emitted": flush.emitted if flush else 0,
            "events_pending": flush.remaining if flush else 0,
        },
        [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}],
        datetime.now(UTC),
        uuid.uuid4(),
    )
    sent, error = send_events([event], time.monotonic() + deadline_s)
    if error is not None:
        (logger or _log).warning(
            "events: kazinform.run.completed of run %s was not emitted: %s", run_id, error
        )
    return sent == 1


@dataclass(frozen=True, slots=True)
class RunArticles:
    rows: list[dict[str, Any]]  # at most MAX_ARTICLES_IN_TABLE, in visit order
    total: int

    def description(self, run_id: str) -> str:
        what = f"Articles created or changed by run {run_id}"
        if self.total <= len(self.rows):
            return f"{what}: {self.total}."
        return (
            f"{what}: the first {len(self.rows)} of {self.total}; all of them: kazinform query "
            f'"select v.source, v.article_id, a.version, v.outcome, a.url from visits v join '
            f"article_versions a using (visit_id) where v.run_id = '{run_id}'\""
        )


RUN_ARTICLES_SQL = """
SELECT v.source, v.article_id, a.version, v.outcome, a.url
FROM visits AS v JOIN article_versions AS a ON a.visit_id = v.visit_id
WHERE v.run_id = ? ORDER BY v.visit_id LIMIT ?
"""
RUN_ARTICLES_COUNT_SQL = """
SELECT count(*) FROM visits WHERE run_id = ? AND outcome IN ('created', 'changed', 'redirected')
"""


def run_articles(warehouse_path: Path | str, run_id: str, limit: int = MAX_ARTICLES_IN_TABLE) -> RunArticles:
    """The articles run `run_id` gave a new version (created, changed, moved), for its table artifact."""
    path = Path(warehouse_path)
    if not path.exists():
        return RunArticles([], 0)
    with open_reader(path, timeout=OUTBOX_LOCK_WAIT_S) as connection:
        found = connection.execute(RUN_ARTICLES_SQL, [run_id, limit]).fetchall()
        (total,) = connection.execute(RUN_ARTICLES_COUNT_SQL, [run_id]).fetchone() or (0,)
    columns = ("source", "article_id", "version", "outcome", "url")
    return RunArticles([dict(zip(columns, row, strict=True)) for row in found], int(total))


@dataclass(frozen=True, slots=True)
class RunEnd:
    flush: FlushResult
    articles: RunArticles | None  # None when the warehouse could not be read


def finish_run(
    warehouse_path: Path | str, run_id: str, flow_name: str, counts: dict[str, int], logger: Logger
) -> RunEnd:
    """What a flow does once its last batch committed and its summary is published: emit the
    outbox, then `kazinform.run.completed`, and gather the rows of its table artifact. Never raises
    for the API or the warehouse being unavailable: the data is committed, this only reports it."""
    flush = flush_outbox(warehouse_path, deadline_s=END_OF_RUN_DEADLINE_S, logger=logger)
    emit_run_completed(warehouse_path, run_id, flow_name, counts, flush=flush, logger=logger)
    try:
        articles: RunArticles | None = run_articles(warehouse_path, run_id)
    except (WarehouseError, duckdb.Error) as error:
        logger.warning("the run's table of articles was not made: %s", error)
        articles = None
    return RunEnd(flush, articles)


def report_run_end(
    warehouse_path: Path | str, summary: Any, flow_name: str, artifact_key: str, logger: Logger
) -> RunEnd | None:
    """`finish_run` and the run's table artifact, for a sync flow, after `publish_summary`. Skipped
    when the run's watch found the Prefect API gone (flows.run_guard): the outbox keeps the events."""
    from prefect.artifacts import create_table_artifact

    from flows.run_guard import api_reachable, report_artifact

    if not api_reachable():
        return None
    end = finish_run(warehouse_path, summary.run_id, flow_name, dict(summary.counts), logger)
    articles = end.articles
    if articles is not None:
        description = articles.description(summary.run_id)
        report_artifact(
            lambda: create_table_artifact(articles.rows, key=artifact_key, description=description)
        )
    return end


async def areport_run_end(
    warehouse_path: Path | str, summary: Any, flow_name: str, artifact_key: str, logger: Logger
) -> RunEnd | None:
    """`report_run_end` for async flows (the blocking part runs in a worker thread)."""
    from prefect.artifacts import acreate_table_artifact

    from flows.run_guard import api_reachable, areport_artifact

    if not api_reachable():
        return None
    counts = dict(summary.counts)
    end = await asyncio.to_thread(finish_run, warehouse_path, summary.run_id, flow_name, counts, logger)
    articles = end.articles
    if articles is not None:
        description = articles.description(summary.run_id)
        await areport_artifact(
            lambda: acreate_table_artifact(articles.rows, key=artifact_key, description=description)
        )
    return end
