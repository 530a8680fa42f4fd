"""The inbox: files dropped in a folder become `kazinform.file.arrived` events, and the `ingest-file`
automation ingests each one and moves it to `done/` or `failed/`.

**The scan** (plain Python, no Prefect): files directly in the inbox whose names end like an input
(`.txt`, `.html`, `.htm`, `.html.gz`), not hidden (a leading dot: editors' and copy tools' temporary
names, the scan's own state) and not in `done/` or `failed/`. Names a writer uses while writing
(`x.html.part`, `x.txt~`, `x.txt.tmp`) do not end like an input and are never looked at.

**Complete** means: the file's size and mtime are the same as when the scan first saw them, at
least `settle_s` seconds earlier. A file still being written changes one or the other, so it is not
announced until the writer has paused for the settle time. (A writer that pauses longer than that
mid-file should write to a temporary name and rename it when done: a rename is atomic.)

**The state file** `<inbox>/.announced.json` (replaced atomically, under a lock file so a watch and
a scheduled scan of one inbox do not interleave) remembers, per file name, the size and mtime seen,
when they were first seen, and when the file was last announced. A file is announced once; if it is
still in the inbox `reannounce_after_s` later it was not processed (the event was lost: no server
serving the deployment, or the API was down) and it is announced again. Entries of files that left
the inbox are dropped. The state holds no data: deleting it only means every file is seen afresh.
Nothing is lost when the watcher or the server restarts: what is in the inbox is picked up again.

**The flow** `ingest_file` reads and parses the file with the ingest's own step (flows.ingest, on
flows.pipeline.read_and_parse), loads its one visit with the shared load task (flows.tasks), and
then moves the file: to `done/` when it was read and parsed, to `failed/` with `<name>.reason.txt`
beside it when it could not be read or parsed (a `parse_error` visit keeps its raw bytes in
raw_pages either way). A file that is no longer there (a concurrent run took it) ends the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import DeploymentEventTrigger, Event
from prefect.runtime import flow_run

from flows.ingest import read_and_parse_files
from flows.pipeline import tags_known_to
from flows.read import has_input_name
from flows.run_guard import publish_summary, report_artifact
from flows.summary import RunSummary
from flows.tasks import current_run_id, load_visits, untouched

FILE_ARRIVED = "kazinform.file.arrived"
DONE_FOLDER = "done"
FAILED_FOLDER = "failed"
STATE_FILE_NAME = ".announced.json"
LOCK_FILE_NAME = ".announced.lock"
REASON_SUFFIX = ".reason.txt"

# A file counts as complete when its size and mtime stayed the same this long. Long enough for a
# copy or a browser's save to show progress between two looks (they write continuously), short
# enough that a dropped file is announced within seconds.
SETTLE_S = 3.0
# A file announced this long ago and still in the inbox was not processed (its event was lost, or
# no server served `ingest-file`): announce it again. An ingest of one file takes seconds; 10
# minutes leaves room for runs queued behind a long crawl holding the writer, so a file is rarely
# ingested twice (a second ingest is harmless: the run finds the file gone, or loads `unchanged`).
REANNOUNCE_AFTER_S = 600.0
# Files looked at per scan: bounds one scan's stat calls, state and events (one event each) when
# thousands of files land at once; the rest are picked up by the next scans as these move out.
MAX_FILES_PER_SCAN = 500
# `kazinform watch` scans this often by default: with the settle time, a dropped file is announced
# 3–8 s after its last write.
DEFAULT_WATCH_INTERVAL_S = 5.0
# The `ingest-inbox` deployment's schedule: the safety net behind `watch` (or instead of it).
DEFAULT_INBOX_SCHEDULE_S = 60.0
# `ingest-file` runs at a time on one server: each is a process of its own, and their writes queue
# on the one writer anyway; more would only hold memory while waiting.
INGEST_FILE_CONCURRENCY = 2
# How long a scan tries to send its events before it gives up (the API is down): the files stay
# unannounced and the next scan tries again, so a watch is not held while the server is away.
SEND_WITHIN_S = 10.0

logger = logging.getLogger("kazinform.inbox")


@dataclass(frozen=True, slots=True)
class InboxSettings:
    settle_s: float = SETTLE_S
    reannounce_after_s: float = REANNOUNCE_AFTER_S
    max_files: int = MAX_FILES_PER_SCAN


@dataclass(frozen=True, slots=True)
class InboxFile:
    path: Path  # absolute
    size: int
    mtime_ns: int


@dataclass(slots=True)
class ScanPlan:
    """What one look at the inbox found: complete files to announce, and files still settling."""

    to_announce: list[InboxFile] = field(default_factory=list)
    settling: list[InboxFile] = field(default_factory=list)
    already_announced: int = 0


@dataclass(slots=True)
class ScanReport:
    announced: list[InboxFile] = field(default_factory=list)
    not_sent: list[InboxFile] = field(default_factory=list)  # complete, but the API did not take them
    settling: list[InboxFile] = field(default_factory=list)
    already_announced: int = 0
    send_error: str | None = None


def absolute(path: str | os.PathLike[str]) -> Path:
    """The one spelling of a path in events and triggers, so a trigger's match is exact."""
    return Path(path).expanduser().resolve()


# --- the scan (plain Python) -------------------------------------------------------------------


def is_inbox_name(name: str) -> bool:
    return not name.startswith(".") and has_input_name(Path(name))


def list_inbox(inbox: Path, max_files: int = MAX_FILES_PER_SCAN) -> list[InboxFile]:
    """Input files directly in `inbox` (regular files, links to them followed), at most
    `max_files`, by name. Folders (done/, failed/) and other names are skipped."""
    found: list[InboxFile] = []
    with os.scandir(inbox) as listing:
        for entry in listing:
            if not is_inbox_name(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                status = entry.stat()
            except OSError:  # gone since the listing, or a dangling link: nothing to announce
                continue
            found.append(InboxFile(Path(entry.path), status.st_size, status.st_mtime_ns))
            if len(found) >= max_files:
                break
    return sorted(found, key=lambda item: item.path.name)


def read_state(inbox: Path) -> dict[str, dict[str, Any]]:
    """Per file name: size, mtime_ns, seen_at, announced_at (wall clock, s). Unreadable state is
    empty state: files are seen afresh and nothing is lost."""
    try:
        loaded = json.loads((inbox / STATE_FILE_NAME).read_text(encoding="utf-8"))
        files = loaded["files"]
        return {name: dict(entry) for name, entry in files.items() if isinstance(entry, dict)}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning(
            "inbox state %s unreadable (%s): files are seen afresh", inbox / STATE_FILE_NAME, error
        )
        return {}


def write_state(inbox: Path, files: dict[str, dict[str, Any]]) -> None:
    """Written beside and renamed over the old state: a crash leaves the old or the new, never half."""
    target = inbox / STATE_FILE_NAME
    temporary = inbox / f"{STATE_FILE_NAME}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps({"files": files}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)


@contextlib.contextmanager
def inbox_lock(inbox: Path) -> Iterator[None]:
    """One scan of an inbox at a time (a watch and a scheduled scan of the same folder)."""
    with open(inbox / LOCK_FILE_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plan_scan(
    files: Sequence[InboxFile], state: dict[str, dict[str, Any]], now: float, settings: InboxSettings
) -> ScanPlan:
    """Decide per file, updating `state` in place: a new or changed file is noted (seen now); one
    unchanged for the settle time and not announced (or announced too long ago) is to announce.
    Entries of files no longer in the inbox are dropped (only when the listing was not cut short:
    a file past the cap is still there)."""
    plan = ScanPlan()
    if len(files) < settings.max_files:
        present = {item.path.name for item in files}
        for name in [name for name in state if name not in present]:
            del state[name]
    for item in files:
        entry = state.get(item.path.name)
        if entry is None or entry.get("size") != item.size or entry.get("mtime_ns") != item.mtime_ns:
            state[item.path.name] = {"size": item.size, "mtime_ns": item.mtime_ns, "seen_at": now}
            plan.settling.append(item)
            continue
        if now - float(entry.get("seen_at", now)) < settings.settle_s:
            plan.settling.append(item)
            continue
        announced_at = entry.get("announced_at")
        if announced_at is not None and now - float(announced_at) < settings.reannounce_after_s:
            plan.already_announced += 1
            continue
        plan.to_announce.append(item)
    return plan


def file_resource_id(path: Path) -> str:
    return "kazinform.file." + hashlib.sha1(str(path).encode("utf-8")).hexdigest()


def file_arrived_event(item: InboxFile, inbox: Path, warehouse: Path) -> Event:
    related = []
    if flow_run.id:  # announced by the `ingest-inbox` flow: lead from the event to its run
        related.append(
            {"prefect.resource.id": f"prefect.flow-run.{flow_run.id}", "prefect.resource.role": "flow-run"}
        )
    return Event(
        event=FILE_ARRIVED,
        resource={
            "prefect.resource.id": file_resource_id(item.path),
            "kazinform.path": str(item.path),
            "kazinform.inbox": str(inbox),
            "kazinform.warehouse": str(warehouse),
        },
        related=related,
        payload={"path": str(item.path), "size": item.size},
    )


SendEvents = Callable[[list[Event]], int]


def send_events(events: list[Event]) -> int:
    """Send `events` to the Prefect API (flows.events.send_events: batched POSTs with a definite
    answer and a deadline, as the outbox sends its events); returns how many were taken, raises
    EventsNotSentError when the API did not take them all."""
    from flows.events import send_events as post_events

    sent, reason = post_events(
        [event.model_dump(mode="json") for event in events], time.monotonic() + SEND_WITHIN_S
    )
    if reason is not None:
        raise EventsNotSentError(sent, reason)
    return sent


class EventsNotSentError(RuntimeError):
    def __init__(self, sent: int, reason: str) -> None:
        super().__init__(f"the Prefect API did not take the events: {reason}")
        self.sent = sent


def scan_and_announce(
    inbox: str | os.PathLike[str],
    warehouse_path: str | os.PathLike[str],
    settings: InboxSettings = InboxSettings(),
    send: SendEvents = send_events,
    now: Callable[[], float] = time.time,
) -> ScanReport:
    """One scan: note new files, announce complete ones (an event each), remember the announcements.
    A file whose event could not be sent stays unannounced for the next scan."""
    folder, warehouse = absolute(inbox), absolute(warehouse_path)
    with inbox_lock(folder):
        state = read_state(folder)
        plan = plan_scan(list_inbox(folder, settings.max_files), state, now(), settings)
        report = ScanReport(settling=plan.settling, already_announced=plan.already_announced)
        events = [file_arrived_event(item, folder, warehouse) for item in plan.to_announce]
        try:
            sent = send(events)
        except EventsNotSentError as error:
            sent, report.send_error = error.sent, str(error)
        announced_at = now()
        for item in plan.to_announce[:sent]:
            state[item.path.name]["announced_at"] = announced_at
        report.announced = plan.to_announce[:sent]
        report.not_sent = plan.to_announce[sent:]
        write_state(folder, state)
    return report


# --- moving processed files --------------------------------------------------------------------


def _split_input_name(name: str) -> tuple[str, str]:
    """('page', '.html.gz') for 'page.html.gz': a suffix is added before the input ending."""
    lowered = name.lower()
    for ending in (".html.gz", ".html", ".htm", ".txt"):
        if lowered.endswith(ending):
            return name[: -len(ending)], name[-len(ending) :]
    stem, dot, rest = name.rpartition(".")
    return (stem, dot + rest) if dot else (name, "")


def move_without_overwriting(source: Path, folder: Path) -> Path:
    """Move `source` into `folder` under its own name, or `<stem>.<n><ending>` when that is taken.
    A hard link claims the new name atomically (it fails when the name exists, where a rename
    would replace it), then the inbox name is removed. FileNotFoundError when `source` is gone."""
    folder.mkdir(exist_ok=True)
    stem, ending = _split_input_name(source.name)
    for attempt in range(1, 10_000):
        target = folder / (source.name if attempt == 1 else f"{stem}.{attempt}{ending}")
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as error:
            if isinstance(error, FileNotFoundError) or not _links_unsupported(error):
                raise
            if target.exists():  # no hard links here (some mounted file systems): check, then rename
                continue
            os.rename(source, target)
            return target
        os.unlink(source)
        return target
    raise FileExistsError(f"no free name for {source.name} in {folder}")


def _links_unsupported(error: OSError) -> bool:
    import errno

    return error.errno in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


def write_reason(moved: Path, outcome: str, reason: str, run_id: str) -> Path:
    """`<name>.reason.txt` beside the failed file: what happened, in words."""
    reason_path = moved.with_name(moved.name + REASON_SUFFIX)
    text = f"{outcome}: {reason}\n\nfile: {moved.name}\nrun: {run_id}\n"
    temporary = reason_path.with_name(f".{reason_path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, reason_path)
    return reason_path


# --- the flows ---------------------------------------------------------------------------------

# Outcomes of a file that was read and parsed (its data is in the warehouse, or kept in a load
# package for the next writer when the warehouse stayed held).
FAILED_STATUSES = frozenset({"failed", "parse_error"})


@flow(name="ingest-file", log_prints=False)
def ingest_file(warehouse_path: str, path: str) -> str:
    """Ingest one file of an inbox and move it to done/ or failed/; returns where it went."""
    log = get_run_logger()
    file = Path(path)
    if not file.is_absolute() or not is_inbox_name(file.name):
        log.warning("%s is not an input file of an inbox; left alone", path)
        return "refused"
    if not file.is_file():
        log.info("%s is no longer in the inbox (already processed); nothing to do", path)
        return "gone"
    warehouse = Path(warehouse_path)
    run_id = current_run_id()
    parsed = read_and_parse_files(untouched([file]), untouched(tags_known_to(warehouse)))
    [visit] = parsed.visits
    if visit.status == "failed" and not file.exists():
        log.info("%s was taken by another run while this one read it; nothing to do", path)
        return "gone"
    report = load_visits(warehouse, run_id, untouched(parsed.visits))
    summary = RunSummary(run_id=run_id, title=f"Ingest of {file.name}")
    summary.add(parsed.visits, report.outcomes)
    [outcome] = report.outcomes
    try:
        if visit.status in FAILED_STATUSES:
            moved = move_without_overwriting(file, file.parent / FAILED_FOLDER)
            write_reason(moved, visit.status, visit.error or "no reason given", run_id)
        else:
            moved = move_without_overwriting(file, file.parent / DONE_FOLDER)
    except FileNotFoundError:
        log.info("%s was moved by another run; its visit here is %s", path, outcome)
        return "gone"
    log.info("%s: %s; moved to %s", file.name, outcome, moved)
    publish_summary(summary)
    markdown, title = summary.to_markdown() + f"\n\nMoved to `{moved}`.", summary.title
    report_artifact(lambda: create_markdown_artifact(markdown, key="ingest-file-summary", description=title))
    return str(moved)


@flow(name="ingest-inbox", log_prints=False)
def ingest_inbox(
    warehouse_path: str,
    inbox: str,
    settle_s: float = SETTLE_S,
    reannounce_after_s: float = REANNOUNCE_AFTER_S,
) -> dict[str, int]:
    """One scan of `inbox`: an event per complete file not announced yet. A file first seen now is
    looked at again after the settle time, so a file dropped before the run is announced by it."""
    log = get_run_logger()
    settings = InboxSettings(settle_s=settle_s, reannounce_after_s=reannounce_after_s)
    Path(inbox).mkdir(parents=True, exist_ok=True)
    report = scan_and_announce(inbox, warehouse_path, settings)
    announced = list(report.announced)
    if report.settling and report.send_error is None:
        time.sleep(settings.settle_s)
        again = scan_and_announce(inbox, warehouse_path, settings)
        announced += again.announced
        report = again
    for item in announced:
        log.info("announced %s (%d bytes)", item.path.name, item.size)
    if report.send_error:
        log.warning("%s; %d files wait for the next scan", report.send_error, len(report.not_sent))
    return {
        "announced": len(announced),
        "settling": len(report.settling),
        "not_sent": len(report.not_sent),
        "already_announced": report.already_announced,
    }


# --- deployments -------------------------------------------------------------------------------


def ingest_file_trigger(warehouse_path: str) -> DeploymentEventTrigger:
    """`ingest-file` runs on each `kazinform.file.arrived` of this warehouse (one run per event);
    the file's path comes from the event's payload."""
    warehouse = str(absolute(warehouse_path))
    return DeploymentEventTrigger(
        name=f"ingest-file on file.arrived ({warehouse})",
        expect={FILE_ARRIVED},
        match={"prefect.resource.id": "kazinform.file.*", "kazinform.warehouse": warehouse},
        parameters={"warehouse_path": warehouse, "path": "{{ event.payload.path }}"},
        within=timedelta(0),
        threshold=1,
    )


def ingest_file_deployment(warehouse_path: str) -> Any:
    """The `ingest-file` deployment for `serve(...)`: triggered by file events, a few runs at a time
    (the rest wait for a slot)."""
    warehouse = str(absolute(warehouse_path))
    return ingest_file.to_deployment(
        name="ingest-file",
        parameters={"warehouse_path": warehouse},
        triggers=[ingest_file_trigger(warehouse)],
        concurrency_limit=INGEST_FILE_CONCURRENCY,
        description="Ingest one file of an inbox when it arrives; move it to done/ or failed/.",
    )


def ingest_inbox_deployment(
    warehouse_path: str, inbox: str, every_s: float = DEFAULT_INBOX_SCHEDULE_S
) -> Any:
    """The `ingest-inbox` deployment for `serve(...)`: one scan of `inbox` every `every_s` seconds."""
    return ingest_inbox.to_deployment(
        name="ingest-inbox",
        parameters={"warehouse_path": str(absolute(warehouse_path)), "inbox": str(absolute(inbox))},
        interval=timedelta(seconds=every_s),
        description="Announce complete files of the inbox as kazinform.file.arrived events.",
    )
