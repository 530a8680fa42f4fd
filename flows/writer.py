"""One writer at a time: every batch is written under the Prefect global concurrency limit
`duckdb-writer` (1 slot) and then the warehouse file's own lock (warehouse.db.open_writer).

DuckDB lets one process write a file; the file lock alone makes writers poll the file with backoff
and, past the writer's wait, keep their batch as a load package. The slot puts them in one queue
the Prefect server keeps, visible in its UI (Concurrency → `duckdb-writer`), so scheduled crawls,
triggered ingests and a person's `kazinform ingest` started together write one after another.

How the gate behaves:
- normal: the slot is taken (a refused writer asks again after the server's Retry-After and says
  every few seconds that it waits), the file opened,
  the batch written, the file closed, the slot released. One line per batch says how long the slot
  was waited for and held (wall-clock times, so runs can be compared).
- the Prefect API does not answer, has no such limit, or refuses: one warning line, and the batch
  is written under the file lock alone, which waits and keeps the batch as a load package past the
  writer's wait. Data never depends on the API.
- the slot is not free within the writer's wait (KAZINFORM_LOCK_WAIT): the same fallback, with what
  is left of that wait for the file (so a writer never waits longer than it would without the gate).
- a holder that crashed: its lease (LEASE_SECONDS, renewed by the holder while it writes) runs
  out and the server's repossessor (every 15 s by default) frees the slot: the queue moves again
  within about 75 s.

The limit is created with 1 slot when missing (once per process and API); an existing one is left
as an administrator set it (a warning says so when it is not 1 slot, active).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from warehouse.db import WAIT_REPORT_EVERY_SECONDS, WaitReporter, open_writer, writer_wait_seconds

WRITER_LIMIT = "duckdb-writer"
WRITER_SLOTS = 1  # DuckDB: one writing process per file
# Seconds a slot's lease lasts without renewal. 60 is the least the server accepts; Prefect renews it
# every 45 s while the holder lives, so only a dead holder loses it, and the shortest lease frees its
# slot soonest (lease + the repossessor's 15 s loop).
LEASE_SECONDS = 60.0
# The health check before each slot request: a local server answers in milliseconds, and an API
# that does not answer must not hold a batch for Prefect's own connection retries (about a minute).
API_CHECK_TIMEOUT_S = 2.0
# Each slot request, renewal and release: a local server answers in milliseconds; 10 s allows for a
# busy remote one, and keeps a hung one from holding a batch for Prefect's default 60 s.
API_REQUEST_TIMEOUT_S = 10.0
# A refused writer asks again after the server's Retry-After (the limit's mean hold, capped at 30 s
# by the server), kept within these bounds: at least 0.1 s apart, and at most 2 s so a writer does
# not sleep long past the holder's release when the mean hold is long.
MIN_POLL_S = 0.1
MAX_POLL_S = 2.0
# A 5xx answer is asked again, after pauses that double from 20 ms to at most 0.2 s, this many
# times in all (~2.5 s, about as long as the one retry Prefect's client would make), before the
# batch falls back. A local server on SQLite answers 503 when its database is locked for a moment by
# its own services: in a crawl, most slot requests meet one (the task run recorder writes the states
# of the task that just ended), and the lock is gone within milliseconds (see `_post_once`).
SERVER_ERROR_ATTEMPTS = 15
SERVER_ERROR_FIRST_PAUSE_S = 0.02
SERVER_ERROR_MAX_PAUSE_S = 0.2


def server_error_pause(errors_so_far: int) -> float:
    """The pause before asking again after the `errors_so_far`-th 5xx answer (1, 2, …)."""
    return min(SERVER_ERROR_FIRST_PAUSE_S * 2 ** (errors_so_far - 1), SERVER_ERROR_MAX_PAUSE_S)


# Renew the lease at 3/4 of its length, as Prefect's own helper does.
RENEW_AFTER_S = LEASE_SECONDS * 0.75

Logger = logging.Logger | logging.LoggerAdapter
_T = TypeVar("_T")

_limits_checked: set[str] = set()  # API URLs where the limit is known to exist
_limits_checked_lock = threading.Lock()
_clients: dict[str, Any] = {}  # API URL → its open Prefect client (see _client_for)
_clients_lock = threading.Lock()


class SlotUnavailable(Exception):
    """The slot cannot be had; the message says why, in words."""


def _api_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def ensure_writer_limit(logger: Logger) -> None:
    """Create the `duckdb-writer` limit (1 slot) when the API has none; say so when one exists with
    another setting. Raises SlotUnavailable when the API cannot tell."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    def read_or_create() -> Any:
        """The limit as it is, or None when this call created it."""
        with get_client(sync_client=True) as client:
            try:
                return client.read_global_concurrency_limit_by_name(WRITER_LIMIT)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):  # another writer created it first
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=WRITER_LIMIT, limit=WRITER_SLOTS)
                    )
                logger.info("created the Prefect concurrency limit %s (1 slot)", WRITER_LIMIT)
                return None

    try:
        limit = _asked_again_on_server_errors(read_or_create)
    except Exception as error:  # the API's answer, whatever it is, must not stop a write
        reason = f"the limit {WRITER_LIMIT} cannot be read or created ({_first_line(error)})"
        raise SlotUnavailable(reason) from error
    if limit is None:
        return
    if limit.limit != WRITER_SLOTS or not limit.active:
        state = "active" if limit.active else "inactive"
        logger.warning(
            "the Prefect concurrency limit %s has %d slots and is %s; writers rely on the file lock "
            "beyond it (set it to %d slot, active, to queue them)",
            WRITER_LIMIT,
            limit.limit,
            state,
            WRITER_SLOTS,
        )


def _check_api(logger: Logger) -> str:
    """The API URL, once it answers and has the limit; else SlotUnavailable."""
    from flows.prefect_api import api_answers

    api_url = _api_url()
    if api_url is None:
        raise SlotUnavailable("no Prefect API is configured (PREFECT_API_URL)")
    if not api_answers(api_url, timeout=API_CHECK_TIMEOUT_S):
        raise SlotUnavailable(f"the Prefect API at {api_url} does not answer")
    with _limits_checked_lock:
        if api_url not in _limits_checked:
            ensure_writer_limit(logger)
            _limits_checked.add(api_url)
    return api_url


def _lease_holder() -> object | None:
    """The flow run writing, so the server (and its UI) can tell who holds the slot."""
    from uuid import UUID

    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None


def _client_for(api_url: str) -> Any:
    """One Prefect client per API for the process's life: opening one costs ~40 ms (it checks the
    server's version), as much as taking and releasing the slot. Closed when the process exits."""
    from prefect.client.orchestration import get_client

    with _clients_lock:
        client = _clients.get(api_url)
        if client is None:
            # A short timeout: a server that hangs must not hold a batch for Prefect's default 60 s.
            client = get_client(sync_client=True, httpx_settings={"timeout": API_REQUEST_TIMEOUT_S})
            client.__enter__()
            _clients[api_url] = client
            if len(_clients) == 1:
                atexit.register(_close_clients)
        return client


def _close_clients() -> None:
    for client in _clients.values():
        with contextlib.suppress(Exception):
            client.__exit__(None, None, None)
    _clients.clear()


def _post_once(client: Any, path: str, body: dict[str, Any]) -> Any:
    """POST `body` to the API through `client`'s connection, without Prefect's client retries.

    Prefect's client answers a 503 by waiting 2 s (2**1 with jitter; even with its retries set to
    0 it waits once before it gives up), and a local server on SQLite answers 503 whenever its
    database is locked for a moment by its own services. Measured, those waits were most of a
    crawl's write time: a 2,000-page crawl waited ~14 s for 9 of its 12 slots. The gate asks again
    itself, after `server_error_pause`. Raises httpx.HTTPStatusError on an error answer."""
    import httpx

    http = getattr(client, "_client", None)
    if not isinstance(http, httpx.Client):  # another client layout: its own retries, as before
        return client.request("POST", path, json=body)
    request = http.build_request("POST", path, json=body)
    if getattr(http, "enable_csrf_support", False) and hasattr(http, "_add_csrf_headers"):
        http._add_csrf_headers(request)  # what Prefect's send() adds to a change request
    response = httpx.Client.send(http, request)
    response.raise_for_status()
    return response


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _is_server_error(error: BaseException) -> bool:
    """A 5xx answer: a local server on SQLite answers 500 now and then when its database is busy
    (seen with three writers starting flow runs at once on 2 loaded cores); asked again, it answers."""
    import httpx

    return isinstance(error, httpx.HTTPStatusError) and error.response.status_code >= 500


def _asked_again_on_server_errors(call: Callable[[], _T]) -> _T:
    """`call()`, asked again after `server_error_pause` while it fails with a 5xx answer, at most
    SERVER_ERROR_ATTEMPTS times in all; any other error, or the last 5xx, is raised."""
    for attempt in range(1, SERVER_ERROR_ATTEMPTS):
        try:
            return call()
        except Exception as error:
            if not _is_server_error(error):
                raise
            time.sleep(server_error_pause(attempt))
    return call()


def _retry_after(error: Exception) -> float | None:
    """Seconds the server asks a refused writer to wait (423 Locked: the slot is taken), else None."""
    import httpx

    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 423:
        try:
            return max(float(error.response.headers.get("Retry-After", 1.0)), MIN_POLL_S)
        except ValueError:
            return 1.0
    return None


@contextlib.contextmanager
def writer_slot(wait: float, logger: Logger) -> Iterator[None]:
    """Hold the `duckdb-writer` slot for the body: SlotUnavailable (before the body runs) when it
    cannot be had within `wait` seconds or the API cannot grant it.

    Prefect's client is used directly rather than `prefect.concurrency.sync.concurrency`: measured
    against a local server, that helper cost ~200 ms per batch (a renewal thread with its own client
    renewing at once, a new client to release, two events) against ~15 ms for the three calls."""
    api_url = _check_api(logger)
    started = time.monotonic()
    next_report = started + WAIT_REPORT_EVERY_SECONDS
    holder = _lease_holder()
    client = _client_for(api_url)
    body: dict[str, Any] = {
        "names": [WRITER_LIMIT],
        "slots": 1,
        "mode": "concurrency",
        "lease_duration": LEASE_SECONDS,
    }
    if holder is not None:
        body["holder"] = holder.model_dump(mode="json")  # type: ignore[attr-defined]
    while True:
        try:
            response = _asked_again_on_server_errors(
                lambda: _post_once(client, "/v2/concurrency_limits/increment-with-lease", body)
            )
            break
        except Exception as error:
            retry_after = _retry_after(error)  # 423: the slot is taken
            if retry_after is None:
                _limits_checked.discard(api_url)  # check the limit again next time
                cause = f"{type(error).__name__}: {_first_line(error)}"
                raise SlotUnavailable(f"the Prefect API did not grant it ({cause})") from error
        now = time.monotonic()
        if now - started >= wait:
            raise SlotUnavailable(f"another writer held it for all of {wait:.0f} s")
        if now >= next_report:
            logger.info("waiting for another writer to finish: %.0f s of %.0f s", now - started, wait)
            next_report = now + WAIT_REPORT_EVERY_SECONDS
        time.sleep(min(retry_after, MAX_POLL_S, wait - (now - started)))
    granted = response.json()
    if not granted.get("limits"):  # the limit was deleted since it was checked
        _limits_checked.discard(api_url)
        raise SlotUnavailable(f"the Prefect API has no limit {WRITER_LIMIT}")
    lease_id = granted["lease_id"]
    stop_renewing = threading.Event()
    renewer = threading.Thread(
        target=_renew_until_stopped,
        args=(client, lease_id, stop_renewing, logger),
        name="writer-slot-lease",
        daemon=True,
    )
    renewer.start()
    try:
        yield
    finally:
        stop_renewing.set()
        renewer.join()
        try:
            _release(client, lease_id)
        except Exception as error:  # the lease runs out by itself; the batch is written
            logger.warning(
                "the %s slot could not be released (%s); it frees itself within %.0f s",
                WRITER_LIMIT,
                _first_line(error),
                LEASE_SECONDS,
            )


def _release(client: Any, lease_id: str) -> None:
    _asked_again_on_server_errors(
        lambda: _post_once(client, "/v2/concurrency_limits/decrement-with-lease", {"lease_id": str(lease_id)})
    )


def _renew_until_stopped(client: object, lease_id: str, stop: threading.Event, logger: Logger) -> None:
    """Renew the lease while a long batch is written (a batch shorter than RENEW_AFTER_S never
    renews). A failure stops the renewals with one warning: the file lock still guards the write."""
    while not stop.wait(RENEW_AFTER_S):
        try:
            client.renew_concurrency_lease(lease_id=lease_id, lease_duration=LEASE_SECONDS)  # type: ignore[attr-defined]
        except Exception as error:
            logger.warning(
                "the %s slot's lease could not be renewed (%s); the write goes on under the file lock",
                WRITER_LIMIT,
                _first_line(error),
            )
            return


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextlib.contextmanager
def open_gated_writer(
    warehouse_path: Path | str,
    *,
    logger: Logger,
    on_wait: WaitReporter | None = None,
    timeout: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writer connection held under the `duckdb-writer` slot (see the module docstring).

    Waits at most `timeout` seconds in all (default: the writer's wait, KAZINFORM_LOCK_WAIT) for
    the slot and then the file; past that, open_writer raises WarehouseLockedError as it always has
    (the caller keeps the batch as a load package). Use one per batch."""
    wait = writer_wait_seconds() if timeout is None else timeout
    started = time.monotonic()
    with contextlib.ExitStack() as slot:
        try:
            slot.enter_context(writer_slot(wait, logger))
        except SlotUnavailable as reason:
            logger.warning(
                "the %s slot could not be had: %s; this batch waits for the warehouse file alone",
                WRITER_LIMIT,
                reason,
            )
            gated = False
        else:
            gated = True
            taken_at, slot_wait = _now(), time.monotonic() - started
        remaining = max(0.0, wait - (time.monotonic() - started))
        with open_writer(warehouse_path, timeout=remaining, on_wait=on_wait) as connection:
            yield connection
        if gated:
            released_at = _now()
            logger.info(
                "wrote under the %s slot: waited %.2f s for it, held it %s → %s",
                WRITER_LIMIT,
                slot_wait,
                taken_at,
                released_at,
            )
