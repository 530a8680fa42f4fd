"""One writer at a time: writers queue for the Prefect `duckdb-writer` slot (flows.writer), fall back
to the file lock alone when the API cannot give it, and a crashed holder does not block the queue."""

from __future__ import annotations

import contextvars
import http.server
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest

from flows import writer
from flows.prefect_api import free_port
from flows.writer import WRITER_LIMIT, open_gated_writer, writer_slot
from warehouse.db import open_reader
from warehouse.load import load_batch
from warehouse.stage import stage_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
COPIES_PER_WRITER = 800  # each write ~1 s on 2 cores: long enough for three writers to meet
HELD = re.compile(r"wrote under the duckdb-writer slot: waited ([\d.]+) s for it, held it (\S+) → (\S+)")


def text_copies(folder: Path, writer: int, count: int) -> Path:
    """`count` text copies of the seed, each its own article (its id in the file name, its number in
    the body), none shared with another writer's."""
    folder.mkdir(parents=True)
    seed = SEED.read_text(encoding="utf-8")
    for i in range(count):
        name = f"{writer}{i:06d}_{writer:02x}{i:014x}.txt"
        (folder / name).write_text(f"{seed.rstrip()}\n\nКопия {writer}-{i}.\n", encoding="utf-8")
    return folder


def writer_limit(api_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{api_url}/v2/concurrency_limits/{WRITER_LIMIT}", timeout=10) as response:
        return json.loads(response.read())


def seed_visits() -> list[object]:
    from flows.read import read_visits

    return list(read_visits([SEED], known_tags=frozenset()))


def test_three_ingests_started_together_write_one_after_another(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    folders = [text_copies(tmp_path / f"in{w}", w, COPIES_PER_WRITER) for w in range(3)]
    ingests = [
        subprocess.Popen(
            [KAZINFORM, "ingest", str(folder), "--warehouse", str(warehouse)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for folder in folders
    ]  # fmt: skip
    outputs = [ingest.communicate(timeout=400) for ingest in ingests]

    holds: list[tuple[datetime, datetime]] = []
    for ingest, (_, stderr) in zip(ingests, outputs, strict=True):
        assert ingest.returncode == 0, stderr[-3000:]
        assert not [line for line in stderr.splitlines() if "lock" in line.lower()], stderr[-3000:]
        held = HELD.findall(stderr)
        assert held, f"no write under the slot:\n{stderr[-3000:]}"
        holds += [(datetime.fromisoformat(start), datetime.fromisoformat(end)) for _, start, end in held]
    holds.sort()
    for (_, first_end), (second_start, _) in zip(holds, holds[1:], strict=False):
        assert first_end <= second_start, f"two writers held the slot at once: {holds}"

    with open_reader(warehouse) as connection:
        assert connection.execute("select count(*) from articles").fetchone() == (3 * COPIES_PER_WRITER,)
        per_run = connection.execute("select count(*) from visits group by run_id").fetchall()
    assert sorted(per_run) == [(COPIES_PER_WRITER,)] * 3
    limit = writer_limit(prefect_api)
    assert (limit["limit"], limit["active"], limit["active_slots"]) == (1, True, 0)


def test_with_the_api_unreachable_the_batch_is_written_under_the_file_lock_alone(
    prefect_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pipeline import stage_and_load

    warehouse = tmp_path / "warehouse.duckdb"
    logger = logging.getLogger("test.one_writer")
    dead_api = f"http://127.0.0.1:{free_port()}/api"
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger.name), temporary_settings({PREFECT_API_URL: dead_api}):
        report = stage_and_load(warehouse, "run-api-down", seed_visits(), logger)
    assert time.monotonic() - started < 30  # the API's absence is found at once, not after retries
    assert report.outcomes == ["created"]
    fallbacks = [r.getMessage() for r in caplog.records if "could not be had" in r.getMessage()]
    assert fallbacks == [
        f"the duckdb-writer slot could not be had: the Prefect API at {dead_api} does not answer; "
        "this batch waits for the warehouse file alone"
    ]
    with open_reader(warehouse) as connection:
        assert connection.execute("select count(*) from articles").fetchone() == (1,)


def hold_slot_in_a_thread(seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A thread that holds the slot for `seconds`; the event is set when it is about to let go."""
    taken, letting_go = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_slot(30, logging.getLogger("test.holder")):
            taken.set()
            time.sleep(seconds)
            letting_go.set()

    # the thread runs in this one's context: the Prefect settings of the fixture live there
    holder = threading.Thread(target=contextvars.copy_context().run, args=(hold,))
    holder.start()
    assert taken.wait(30), "the holder did not get the slot"
    return holder, letting_go


def test_a_writer_waits_for_the_slot_another_holds(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    holder, letting_go = hold_slot_in_a_thread(3.0)
    started = time.monotonic()
    try:
        with open_gated_writer(warehouse, logger=logging.getLogger("test.writer"), timeout=60) as connection:
            waited = time.monotonic() - started
            assert letting_go.is_set()  # the slot was had only once the holder let go
            load_batch(connection, "run-second", stage_batch(seed_visits()))
    finally:
        holder.join()
    assert waited > 1.5


def test_a_slot_held_past_the_writers_wait_falls_back_to_the_file_lock(
    prefect_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    logger = logging.getLogger("test.writer")
    holder, letting_go = hold_slot_in_a_thread(8.0)
    try:
        started = time.monotonic()
        with (
            caplog.at_level(logging.INFO, logger.name),
            open_gated_writer(warehouse, logger=logger, timeout=2.0) as connection,
        ):
            waited = time.monotonic() - started
            assert not letting_go.is_set()  # written while the slot is still held: the file was free
            load_batch(connection, "run-fallback", stage_batch(seed_visits()))
    finally:
        holder.join()
    assert 1.5 < waited < 6.0  # the writer's wait covers the slot and the file together
    assert any("another writer held it for all of 2 s" in r.getMessage() for r in caplog.records)
    with open_reader(warehouse) as connection:
        assert connection.execute("select count(*) from visits").fetchone() == (1,)


HOLD_AND_HANG = """
import logging, sys, time
sys.path.insert(0, {root!r})
from flows.writer import writer_slot
with writer_slot(30, logging.getLogger("holder")):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_crashed_holder_frees_the_slot_when_its_lease_runs_out(prefect_api: str) -> None:
    """Slow (~60–75 s): the lease is 60 s, the least the server takes, and the server frees expired
    leases every 15 s."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_HANG.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        killed = time.monotonic()
        with writer_slot(180, logging.getLogger("test.next")):
            freed_after = time.monotonic() - killed
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert 30 < freed_after < 150, freed_after  # not at once (the slot was held), not forever
    assert writer_limit(prefect_api)["active_slots"] == 0


def test_the_gate_leaves_no_connection_behind_when_the_batch_fails(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    logger = logging.getLogger("test.writer")
    with pytest.raises(duckdb.Error), open_gated_writer(warehouse, logger=logger) as connection:
        connection.execute("select * from no_such_table")
    assert writer_limit(prefect_api)["active_slots"] == 0
    with open_gated_writer(warehouse, logger=logger, timeout=5) as connection:  # file and slot are free
        assert connection.execute("select 1").fetchone() == (1,)


class _OneLockedAnswer(http.server.BaseHTTPRequestHandler):
    """A proxy to the real API that answers the first slot request 503, as a local server on SQLite
    does when its database is locked for a moment."""

    upstream = ""
    slot_requests: list[int] = []

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        if self.path.endswith("/increment-with-lease"):
            self.slot_requests.append(1)
            if len(self.slot_requests) == 1:
                self._answer(503, b'{"exception_message": "Service Unavailable"}')
                return
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self._answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            self._answer(error.code, error.read())

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def test_a_locked_server_answer_is_asked_again_at_once_not_after_prefects_2_s_backoff(
    prefect_api: str,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server_root = prefect_api.removesuffix("/api")
    _OneLockedAnswer.upstream, _OneLockedAnswer.slot_requests = server_root, []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _OneLockedAnswer)
    serving = threading.Thread(target=proxy.serve_forever, daemon=True)
    serving.start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{proxy.server_port}/api"}):
            started = time.monotonic()
            with writer_slot(30, logging.getLogger("test.locked")):
                granted_after = time.monotonic() - started
                assert writer_limit(prefect_api)["active_slots"] == 1
    finally:
        proxy.shutdown()
        serving.join()
    assert len(_OneLockedAnswer.slot_requests) == 2  # refused once, granted when asked again
    assert granted_after < 1.5, granted_after  # Prefect's client would have waited ~1.6–2.4 s
    assert writer_limit(prefect_api)["active_slots"] == 0  # released through the same path


def _answer_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment-with-lease")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"{status} answer", request=request, response=response)


def test_every_gate_call_asks_again_on_a_server_error_and_on_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limit check, the slot request and the release share one rule: a 5xx is asked again after
    a short pause, at most SERVER_ERROR_ATTEMPTS times in all; any other answer is final at once."""
    monkeypatch.setattr(writer, "server_error_pause", lambda errors_so_far: 0.0)
    answers = [_answer_error(503), _answer_error(500), "granted"]
    calls: list[object] = []

    def call() -> str:
        answer = answers[len(calls)]
        calls.append(answer)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert writer._asked_again_on_server_errors(call) == "granted"
    assert len(calls) == 3

    refused = _answer_error(423)
    calls.clear()

    def refuse() -> str:
        calls.append(refused)
        raise refused

    with pytest.raises(httpx.HTTPStatusError, match="423"):
        writer._asked_again_on_server_errors(refuse)
    assert len(calls) == 1

    calls.clear()

    def always_busy() -> str:
        calls.append("503")
        raise _answer_error(503)

    with pytest.raises(httpx.HTTPStatusError, match="503"):
        writer._asked_again_on_server_errors(always_busy)
    assert len(calls) == writer.SERVER_ERROR_ATTEMPTS
