"""The inbox: the scan's completeness rule and state, the `ingest-file` flow's moves, and the whole
event path (a scan's event → the served deployment's trigger → a run that ingests the file)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows.inbox import (
    DONE_FOLDER,
    FAILED_FOLDER,
    STATE_FILE_NAME,
    InboxSettings,
    file_resource_id,
    ingest_file,
    ingest_file_trigger,
    ingest_inbox,
    list_inbox,
    plan_scan,
    read_state,
    scan_and_announce,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
SEED_TITLE = "Госвизит Токаева в Москву: о чем договорились Президенты Казахстана и России"
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
JUNK = bytes(range(256)) * 64  # binary bytes under a page's name
# Bounds of the event path on a loaded 2-core machine: the runner polls every 2 s and starts each
# run as a process of its own (Prefect's import alone takes seconds).
EVENT_PATH_DEADLINE_S = 90.0
QUICK = InboxSettings(settle_s=1.0, reannounce_after_s=600.0)


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def wait_for(condition, deadline_s: float, what: str) -> float:
    """Seconds until `condition()` held; fails after `deadline_s`."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {deadline_s:.0f} s")


# --- the scan ----------------------------------------------------------------------------------


def test_scan_skips_other_names_and_waits_for_a_growing_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / DONE_FOLDER).mkdir(parents=True)
    (inbox / DONE_FOLDER / "old.txt").write_text("done before")
    for name in (".hidden.txt", "page.html.part", "notes.txt~", "image.png", "x.txt.tmp"):
        (inbox / name).write_bytes(b"not an input")
    (inbox / "a-folder.txt").mkdir()
    (inbox / "page.html.gz").write_bytes(b"\x1f\x8b complete")
    growing = inbox / "growing.txt"
    growing.write_bytes(b"first line\n")
    assert [item.path.name for item in list_inbox(inbox)] == ["growing.txt", "page.html.gz"]

    stop = threading.Event()

    def keep_writing() -> None:  # a slow copy: a line every 0.3 s for 4 s
        with growing.open("ab") as handle:
            while not stop.wait(0.3):
                handle.write(b"another line\n")
                handle.flush()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    state: dict = {}
    announced: list[str] = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 4.0:
            plan = plan_scan(list_inbox(inbox), state, time.time(), QUICK)
            announced += [item.path.name for item in plan.to_announce]
            for item in plan.to_announce:
                state[item.path.name]["announced_at"] = time.time()
            time.sleep(0.25)
    finally:
        stop.set()
        writer.join()
    assert announced == ["page.html.gz"]  # the growing file was never complete while written

    time.sleep(QUICK.settle_s + 0.2)  # the writer stopped: unchanged from here on
    first = plan_scan(list_inbox(inbox), state, time.time(), QUICK)
    assert first.to_announce == []  # its final size is seen for the first time now
    time.sleep(QUICK.settle_s + 0.2)
    second = plan_scan(list_inbox(inbox), state, time.time(), QUICK)
    assert [item.path.name for item in second.to_announce] == ["growing.txt"]
    assert second.to_announce[0].size == growing.stat().st_size
    assert second.already_announced == 1  # page.html.gz, announced earlier, is not announced again


def test_scan_cap_and_state_of_files_that_left(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(7):
        (inbox / f"file_{i}.txt").write_text(str(i))
    capped = InboxSettings(settle_s=0.0, max_files=5)
    state: dict = {}
    plan = plan_scan(list_inbox(inbox, capped.max_files), state, time.time(), capped)
    assert len(plan.settling) == 5 and len(state) == 5  # no more than the cap per scan
    for path in inbox.glob("*.txt"):
        path.unlink()
    plan_scan(list_inbox(inbox, capped.max_files), state, time.time(), capped)
    assert state == {}  # files that left the inbox are forgotten


def test_announcements_are_remembered_and_repeated_when_the_file_stays(
    prefect_api: str, tmp_path: Path
) -> None:
    """Real events to the real server; the state file says when each file was announced."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    shutil.copy(SEED, inbox / SEED.name)
    first = scan_and_announce(inbox, warehouse, QUICK)
    assert first.announced == [] and [item.path.name for item in first.settling] == [SEED.name]
    time.sleep(QUICK.settle_s + 0.2)
    second = scan_and_announce(inbox, warehouse, QUICK)
    assert [item.path.name for item in second.announced] == [SEED.name], second.send_error
    entry = read_state(inbox)[SEED.name]
    assert entry["size"] == SEED.stat().st_size and entry["announced_at"] >= entry["seen_at"]
    assert scan_and_announce(inbox, warehouse, QUICK).announced == []  # once, not every scan

    # A watcher restarted later finds the file still there past the timeout: announced again.
    soon = InboxSettings(settle_s=QUICK.settle_s, reannounce_after_s=1.0)
    time.sleep(1.2)
    again = scan_and_announce(inbox, warehouse, soon)
    assert [item.path.name for item in again.announced] == [SEED.name]
    assert read_state(inbox)[SEED.name]["announced_at"] > entry["announced_at"]

    # The state file is JSON replaced whole; a damaged one means the files are seen afresh.
    (inbox / STATE_FILE_NAME).write_text("{not json")
    fresh = scan_and_announce(inbox, warehouse, QUICK)
    assert fresh.announced == [] and len(fresh.settling) == 1
    assert json.loads((inbox / STATE_FILE_NAME).read_text())["files"][SEED.name]["size"] > 0


def test_trigger_matches_file_events_of_its_warehouse_only(tmp_path: Path) -> None:
    trigger = ingest_file_trigger(str(tmp_path / "w.duckdb"))
    assert trigger.expect == {"kazinform.file.arrived"}
    assert trigger.match.model_dump()["kazinform.warehouse"] == str((tmp_path / "w.duckdb").resolve())
    assert trigger.parameters == {
        "warehouse_path": str((tmp_path / "w.duckdb").resolve()),
        "path": "{{ event.payload.path }}",
    }
    assert file_resource_id(Path("/a/b.txt")) == "kazinform.file." + hashlib.sha1(b"/a/b.txt").hexdigest()


# --- the ingest-file flow ----------------------------------------------------------------------


def test_a_good_copy_goes_to_done_and_a_same_name_does_not_overwrite(
    prefect_api: str, tmp_path: Path
) -> None:
    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    dropped = inbox / SEED.name
    shutil.copy(SEED, dropped)
    moved = ingest_file(str(warehouse), str(dropped))
    assert moved == str(inbox / DONE_FOLDER / SEED.name)
    assert not dropped.exists() and Path(moved).read_bytes() == SEED.read_bytes()
    assert query(warehouse, "select title from articles") == [(SEED_TITLE,)]

    shutil.copy(SEED, dropped)  # the same name again: kept beside the first, not over it
    second = ingest_file(str(warehouse), str(dropped))
    assert second == str(inbox / DONE_FOLDER / f"{SEED.stem}.2.txt")
    assert sorted(p.name for p in (inbox / DONE_FOLDER).iterdir()) == [f"{SEED.stem}.2.txt", SEED.name]
    assert query(warehouse, "select outcome, path from visits order by visit_id") == [
        ("created", str(dropped)),
        ("unchanged", str(dropped)),
    ]

    # A file already taken by another run ends the run quietly, with no visit.
    assert ingest_file(str(warehouse), str(dropped)) == "gone"
    assert query(warehouse, "select count(*) from visits") == [(2,)]


def test_bad_files_go_to_failed_with_a_reason_and_their_bytes_are_kept(
    prefect_api: str, tmp_path: Path
) -> None:
    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    junk, empty = inbox / "junk.html", inbox / "empty.txt"
    junk.write_bytes(JUNK)
    empty.write_bytes(b"")
    for path in (junk, empty):
        ingest_file(str(warehouse), str(path))
        assert not path.exists()
        assert (inbox / FAILED_FOLDER / path.name).exists()
    visits = query(warehouse, "select path, outcome, error, raw_sha256 from visits order by visit_id")
    assert [(path, outcome) for path, outcome, _, _ in visits] == [
        (str(junk), "parse_error"),
        (str(empty), "parse_error"),
    ]
    for (path, _, error, _), name in zip(visits, ("junk.html", "empty.txt"), strict=True):
        reason = (inbox / FAILED_FOLDER / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert reason.startswith(f"parse_error: {error}") and error, (path, reason)
    junk_sha = hashlib.sha256(JUNK).hexdigest()
    assert visits[0][3] == junk_sha
    assert query(warehouse, "select size from raw_pages where raw_sha256 = ?", [junk_sha]) == [(len(JUNK),)]
    assert query(warehouse, "select count(*) from articles") == [(0,)]


# --- the event path: scan → event → trigger → served deployment → run --------------------------


class ServedIngestFile:
    """`tests/serve_inbox.py WAREHOUSE` in a process group of its own (the runner starts each flow
    run as a child process); the deployment and its automation exist once `start` returns."""

    def __init__(self, warehouse: Path, log: Path) -> None:
        self.warehouse = warehouse
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "serve_inbox.py"), str(self.warehouse)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.registered, 60.0, f"ingest-file served (log: {self.log})")

    def registered(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"serve exited: {self.log.read_text()[-3000:]}")
        return asyncio.run(_automation_for(str(self.warehouse.resolve())))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


async def _automation_for(warehouse: str) -> bool:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        automations = await client.read_automations()
    return any(
        automation.trigger.match.model_dump().get("kazinform.warehouse") == warehouse
        for automation in automations
        if hasattr(automation.trigger, "match")
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedIngestFile]:
    server = ServedIngestFile(tmp_path / "warehouse.duckdb", tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.stop()


def test_a_dropped_file_is_ingested_through_its_event(
    prefect_api: str, tmp_path: Path, served: ServedIngestFile
) -> None:
    served.start()
    inbox, warehouse = tmp_path / "inbox", served.warehouse
    inbox.mkdir()
    shutil.copy(SEED, inbox / SEED.name)
    (inbox / "junk.html").write_bytes(JUNK)
    dropped_at = time.monotonic()
    # `kazinform watch` as a person runs it, for a few scans (the settle time is 3 s)
    watch = subprocess.run(
        [KAZINFORM, "watch", str(inbox), "--warehouse", str(warehouse), "--interval", "1", "--scans", "6"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watch.returncode == 0, watch.stderr[-3000:]
    assert f"announced {SEED.name}" in watch.stdout and "announced junk.html" in watch.stdout

    done, failed = inbox / DONE_FOLDER / SEED.name, inbox / FAILED_FOLDER / "junk.html"
    seconds = wait_for(
        lambda: done.exists() and failed.exists() and failed.with_name("junk.html.reason.txt").exists(),
        EVENT_PATH_DEADLINE_S,
        f"files moved by the triggered runs (serve log: {served.log.read_text()[-3000:]})",
    )
    print(
        f"drop → done/ and failed/ through events: {time.monotonic() - dropped_at:.1f} s "
        f"({seconds:.1f} s after the watch ended)"
    )
    assert query(warehouse, "select title from articles") == [(SEED_TITLE,)]
    assert sorted(query(warehouse, "select outcome from visits")) == [("created",), ("parse_error",)]
    assert not list(inbox.glob("*.txt")) and not list(inbox.glob("*.html"))


def test_a_file_announced_while_nothing_served_it_is_announced_again_and_ingested(
    prefect_api: str, tmp_path: Path, served: ServedIngestFile
) -> None:
    """The event of a file announced while no server served `ingest-file` for this warehouse is
    lost; the file stays in the inbox, and a later scan past the timeout announces it again."""
    inbox, warehouse = tmp_path / "inbox", served.warehouse
    inbox.mkdir()
    shutil.copy(SEED, inbox / SEED.name)
    lost = ingest_inbox(str(warehouse), str(inbox), settle_s=1.0)
    assert lost["announced"] == 1
    time.sleep(3.0)
    assert (inbox / SEED.name).exists()  # nobody reacted: no trigger for this warehouse yet
    assert ingest_inbox(str(warehouse), str(inbox), settle_s=1.0)["already_announced"] == 1

    served.start()
    again = ingest_inbox(str(warehouse), str(inbox), settle_s=1.0, reannounce_after_s=2.0)
    assert again["announced"] == 1
    wait_for(
        lambda: (inbox / DONE_FOLDER / SEED.name).exists(),
        EVENT_PATH_DEADLINE_S,
        f"the re-announced file ingested (serve log: {served.log.read_text()[-3000:]})",
    )
    assert query(warehouse, "select title from articles") == [(SEED_TITLE,)]
    ingest_inbox(str(warehouse), str(inbox), settle_s=1.0)
    assert read_state(inbox) == {}  # the next scan forgets the file that left


def test_events_the_api_did_not_take_are_sent_by_a_later_scan(prefect_api: str, tmp_path: Path) -> None:
    """The Prefect API down while scanning: the complete file stays unannounced, not lost."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.prefect_api import free_port

    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    shutil.copy(SEED, inbox / SEED.name)
    scan_and_announce(inbox, warehouse, QUICK)
    time.sleep(QUICK.settle_s + 0.2)
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        started = time.monotonic()
        down = scan_and_announce(inbox, warehouse, QUICK)
        down_s = time.monotonic() - started
    assert down.announced == [] and [item.path.name for item in down.not_sent] == [SEED.name]
    assert down.send_error and "did not take the events" in down.send_error
    print(f"scan with the API down gave up in {down_s:.1f} s")
    assert down_s < 30.0, down_s  # a scan gives up on a dead API quickly: the watch keeps its pace
    assert "announced_at" not in read_state(inbox)[SEED.name]
    back = scan_and_announce(inbox, warehouse, QUICK)
    assert [item.path.name for item in back.announced] == [SEED.name]


def test_watch_stops_at_once_on_ctrl_c(prefect_api: str, tmp_path: Path) -> None:
    watch = subprocess.Popen(
        [KAZINFORM, "watch", str(tmp_path / "inbox"), "--warehouse", str(tmp_path / "w.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stderr is not None
        assert "watching" in watch.stderr.readline()  # the loop has started
        time.sleep(1.0)
        watch.send_signal(signal.SIGINT)
        started = time.monotonic()
        status = watch.wait(timeout=20)
        stopped_s = time.monotonic() - started
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert status == 130
    assert "kazinform: interrupted" in watch.stderr.read()
    print(f"watch stopped {stopped_s:.2f} s after Ctrl-C")
    assert stopped_s < 10.0, stopped_s
    assert (tmp_path / "inbox").is_dir()  # created when missing
