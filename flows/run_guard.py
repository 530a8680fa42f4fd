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
flows started here carry tags naming their host and process, and `mark_orphaned_runs_crashed`
(run by the next command) sets such runs whose process is gone to CRASHED.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from flows.prefect_api import api_answers

T = TypeVar("T")

RUN_TAG = "kazinform"
_HOST_TAG = "kazinform-host:"
_PID_TAG = "kazinform-pid:"
# The API is checked this often; it is gone after this many failed checks in a row (a busy
# server may miss one 2 s health check without being down).
HEALTH_CHECK_EVERY_S = 1.0
HEALTH_CHECK_TIMEOUT_S = 2.0
FAILED_CHECKS_FOR_GONE = 2


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


def run_tags() -> list[str]:
    """Tags of a flow run started by this process: how a later command knows whether it still runs."""
    return [RUN_TAG, f"{_HOST_TAG}{socket.gethostname()}", f"{_PID_TAG}{os.getpid()}"]


def run_reported(call: Callable[[], T], api_url: str) -> RunOutcome[T]:
    """Run `call` (a flow) in a worker thread; return its result, or, when the API disappears after
    the flow published its summary, that summary without waiting for Prefect's reporting."""
    from prefect import tags

    _summary.clear()
    _api_gone.clear()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            with tags(*run_tags()):
                outcome["result"] = call()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="flow-run", daemon=True)
    watch = _ApiWatch(api_url)
    watch.start()
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
            if _api_gone.is_set() and _summary.is_set():
                warning = (
                    f"the Prefect API at {api_url} stopped answering during the run: the data is "
                    "committed, but the run's final state and summary could not be reported to it"
                )
                return RunOutcome(_summary.value, abandoned=True, warning=warning)  # type: ignore[arg-type]
    finally:
        watch.stopped.set()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return RunOutcome(outcome["result"])  # type: ignore[arg-type]


def _process_alive(pid: int) -> bool:
    """Whether `pid` is a live kazinform process on this host (a recycled pid is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return b"kazinform" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to tell: assume it still runs rather than crash a live run


def mark_orphaned_runs_crashed() -> list[str]:
    """Set to CRASHED every RUNNING flow run started by a kazinform process of this host that no
    longer exists; returns their names. Quiet on any API error: this is housekeeping."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    host_tag = f"{_HOST_TAG}{socket.gethostname()}"
    running = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
        tags=FlowRunFilterTags(all_=[RUN_TAG, host_tag]),
    )
    marked: list[str] = []
    try:
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=running, limit=200):
                pids = [int(t[len(_PID_TAG) :]) for t in run.tags if t.startswith(_PID_TAG)]
                if not pids or _process_alive(pids[0]):
                    continue
                message = f"the process running it (pid {pids[0]}) ended without reporting a final state"
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                marked.append(run.name)
    except Exception:  # an unreachable API is reported by the run itself; this is housekeeping
        return marked
    return marked
