"""A flow run whose data does not wait on the Prefect API, and runs that died without a word.

The data path (read or fetch → parse → load) needs no API: task runs report through Prefect's event
queue, which never blocks them. What does block is the reporting around them — the summary
artifact, the flow run's final state — and Prefect's client retries each such call with backoff
(2 + 4 + 8 + 16 + 32 s), then drains its event queue at exit one reconnect at a time: measured, a
server killed during an ingest of 3,000 files cost the command 290 s and a traceback after its data
had committed. So `run_reported` runs the flow in a worker thread and watches the API: once the
flow has published its summary (`publish_summary`) and the API is gone, the summary is returned at
once and the caller is told to leave without Prefect's exit-time drains (`RunOutcome.abandoned`).

A command killed outright (SIGKILL, the machine restarted) leaves its flow run RUNNING forever:
each flow run notes its id and process in PREFECT_HOME (`record_run`), the note is removed when the
command ends, and `mark_orphaned_runs_crashed` (run by the next command) sets the runs whose
process is gone to CRASHED. (Not tags: a tagged flow's tasks ask the API for tag concurrency slots,
which put the API back on the data path.)
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from flows import stop
from flows.prefect_api import api_answers, prefect_home

T = TypeVar("T")

# Flow runs this host's commands are running: one small JSON file each, in PREFECT_HOME.
RUNS_FOLDER = "kazinform-runs"
# The API is checked this often; it is gone after this many failed checks in a row (a busy
# server may miss one 2 s health check without being down).
HEALTH_CHECK_EVERY_S = 1.0
HEALTH_CHECK_TIMEOUT_S = 2.0
FAILED_CHECKS_FOR_GONE = 2
# After Ctrl-C, a stoppable run has this long to end: requests in flight finish within their own
# 30 s deadline, then what was fetched is staged and written as packages (seconds).
STOP_GRACE_S = 60.0


class _Published(Generic[T]):
    """What a flow body hands out before Prefect's own reporting of the run starts."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.value: T | None = None

    def set(self, value: T) -> None:
        self.value = value
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self.value = None
        self._event.clear()


_summary: _Published[object] = _Published()
_api_gone = threading.Event()


def publish_summary(summary: object) -> None:
    """Called by a flow as soon as its data is committed and its summary complete."""
    _summary.set(summary)


def api_reachable() -> bool:
    """False once the watch of the current run has found the API gone: skip optional reporting."""
    return not _api_gone.is_set()


def report_artifact(create: Callable[[], object]) -> None:
    """Create a run's artifact unless the API is known to be gone; a failure to report is a warning,
    never the run's failure (its data is committed by now)."""
    if not api_reachable():
        return
    try:
        create()
    except Exception as error:  # an API that went away while we asked
        print(f"kazinform: warning: the run's summary artifact was not saved ({error})", file=sys.stderr)


async def areport_artifact(create: Callable[[], Awaitable[object]]) -> None:
    """`report_artifact` for async flows."""
    if not api_reachable():
        return
    try:
        await create()
    except Exception as error:
        print(f"kazinform: warning: the run's summary artifact was not saved ({error})", file=sys.stderr)


@dataclass(slots=True)
class RunOutcome(Generic[T]):
    result: T
    abandoned: bool = False  # the API went away: exit without waiting for Prefect's drains
    warning: str | None = None
    interrupted: bool = False  # Ctrl-C asked the run to stop, and it did (flows.stop)


class _ApiWatch(threading.Thread):
    def __init__(self, api_url: str) -> None:
        super().__init__(name="prefect-api-watch", daemon=True)
        self.api_url = api_url
        self.stopped = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self.stopped.wait(HEALTH_CHECK_EVERY_S):
            failures = 0 if api_answers(self.api_url, timeout=HEALTH_CHECK_TIMEOUT_S) else failures + 1
            if failures >= FAILED_CHECKS_FOR_GONE:
                _api_gone.set()
                return


def run_reported(call: Callable[[], T], api_url: str, *, stoppable: bool = False) -> RunOutcome[T]:
    """Run `call` (a flow) in a worker thread; return its result, or, when the API disappears after
    the flow published its summary, that summary without waiting for Prefect's reporting.

    `stoppable`: the flow heeds flows.stop, so Ctrl-C asks it to stop and waits up to STOP_GRACE_S
    for it to keep what it holds and end (a second Ctrl-C leaves at once); otherwise Ctrl-C leaves
    at once."""
    _summary.clear()
    _api_gone.clear()
    stop.reset()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    finished = threading.Event()

    def work_then_signal() -> None:
        try:
            work()
        finally:
            finished.set()

    # An Event, not Thread.join: a join cut short by Ctrl-C can report a running thread as finished.
    worker = threading.Thread(target=work_then_signal, name="flow-run", daemon=True)
    watch = _ApiWatch(api_url)
    watch.start()
    worker.start()
    interrupted = False
    try:
        while not finished.wait(0.2):
            if _api_gone.is_set() and _summary.is_set():
                warning = (
                    f"the Prefect API at {api_url} stopped answering during the run: the data is "
                    "committed, but the run's final state and summary could not be reported to it"
                )
                _note_runs_of_this_process(finished_unreported=True)  # the next command reports it
                return RunOutcome(_summary.value, abandoned=True, warning=warning)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        if not stoppable:
            raise
        interrupted = True
        stop.ask()
        print(
            "kazinform: stopping: no new request or file starts, and what was fetched or read is kept "
            "as load packages for the next run (Ctrl-C again to leave at once)",
            file=sys.stderr,
            flush=True,
        )
        if not finished.wait(STOP_GRACE_S):  # a second Ctrl-C raises from the wait
            raise
    finally:
        watch.stopped.set()
    forget_runs_of_this_process()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return RunOutcome(outcome["result"], interrupted=interrupted)  # type: ignore[arg-type]


def _runs_folder() -> Path:
    return prefect_home() / RUNS_FOLDER


def record_run(run_id: str) -> None:
    """Note that this process runs flow run `run_id` (removed when the command ends normally)."""
    api_url = os.environ.get("PREFECT_API_URL", "")
    entry = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "api_url": api_url}
    try:
        _runs_folder().mkdir(parents=True, exist_ok=True)
        (_runs_folder() / f"{run_id}.json").write_text(json.dumps(entry))
    except OSError:
        pass  # housekeeping only: a run that cannot be noted still runs


def forget_runs_of_this_process() -> None:
    for entry_path, entry in _recorded_runs():
        if entry.get("pid") == os.getpid():
            entry_path.unlink(missing_ok=True)


def _note_runs_of_this_process(*, finished_unreported: bool) -> None:
    for entry_path, entry in _recorded_runs():
        if entry.get("pid") == os.getpid():
            entry["finished_unreported"] = finished_unreported
            entry_path.write_text(json.dumps(entry))


def _recorded_runs() -> list[tuple[Path, dict]]:
    entries = []
    for entry_path in sorted(_runs_folder().glob("*.json")):
        try:
            entries.append((entry_path, json.loads(entry_path.read_text())))
        except (OSError, ValueError):
            entry_path.unlink(missing_ok=True)
    return entries


def _process_alive(pid: int) -> bool:
    """Whether `pid` is a live process on this host (a recycled pid is taken as alive: a run is
    never crashed while it might still be running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_orphaned_runs_crashed() -> list[str]:
    """Give a final state to every flow run on this API still RUNNING (or PENDING) that a process of
    this host noted and that process no longer exists: CRASHED, or COMPLETED for a run that finished
    while the API was gone. Returns the names of the runs marked crashed. Quiet on API errors: this
    is housekeeping, and an unreachable API is reported by the run itself."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Completed, Crashed

    host, api_url = socket.gethostname(), os.environ.get("PREFECT_API_URL", "")
    orphans = [
        (entry_path, entry)
        for entry_path, entry in _recorded_runs()
        if entry.get("host") == host
        and entry.get("api_url", "") == api_url  # a run on another API waits for a command using it
        and not _process_alive(int(entry.get("pid", 0)))
    ]
    marked: list[str] = []
    if not orphans:
        return marked
    try:
        with get_client(sync_client=True) as client:
            for entry_path, entry in orphans:
                try:
                    run = client.read_flow_run(entry["run_id"])
                except ObjectNotFound:  # the server's database was reset: nothing to mark
                    entry_path.unlink(missing_ok=True)
                    continue
                if run.state is not None and run.state.type.value in ("RUNNING", "PENDING"):
                    if entry.get("finished_unreported"):
                        state = Completed(message="finished while the Prefect API was unreachable")
                    else:
                        message = f"its process (pid {entry['pid']}) ended without reporting a final state"
                        state = Crashed(message=message)
                        marked.append(run.name)
                    client.set_flow_run_state(run.id, state, force=True)
                entry_path.unlink(missing_ok=True)
    except Exception:  # the API went away meanwhile: the notes stay for the next command
        return marked
    return marked
