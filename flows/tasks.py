"""Tasks shared by the flows (the plain functions they run are in flows.pipeline). Tasks are coarse
(a batch each) and never cache: their inputs are large byte payloads that would only be hashed for
nothing.

**What a task is handed.** Before a task starts, Prefect walks every parameter object by object
twice: once to resolve futures and states in it, once to collect `task_inputs` (dependency
tracking). For a batch of parsed visits (records, blocks, raw bytes) that walk cost ~2.2 ms per
visit: 24–26 s of a 50 s ingest of 10,000 text copies. Large parameters are therefore passed
wrapped in `prefect.utilities.annotations.quote` (see `untouched`): both walks stop at the wrapper
(`resolve_to_final_result` and `collect_task_run_inputs_sync` raise StopVisiting on it) and the
task receives the unwrapped value. The flows are sequential, so the dependency edges Prefect
would have drawn from them carry nothing. Passing paths instead of visits was not an option for the
load (the visits exist only in memory, parsed) and gathering inside one task would hide the stages
from Prefect; quoting measured the same as calling the functions directly.

**What a task returns.** Prefect links a task's result to its state one level deep
(`link_state_to_result`): a list of 500 visits is 500 entries kept in the flow run's context until
the run ends. Results are therefore small objects (`ParsedBatch`, `LoadReport`) holding their list
as one attribute (flows.pipeline): one entry each.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TypeVar

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.pipeline import LoadReport, stage_and_load
from flows.run_guard import record_run
from warehouse.visit import VisitInput

T = TypeVar("T")


def untouched(value: T) -> T:
    """`value` marked so that Prefect neither resolves nor walks it before the task starts (see the
    module docstring); the task receives `value` itself."""
    return quote(value)  # type: ignore[return-value]


@task(name="load-batch", cache_policy=NO_CACHE)
def load_visits(warehouse_path: Path, run_id: str, visits: list[VisitInput]) -> LoadReport:
    """Stage and load `visits` (callers pass them through `untouched`)."""
    return stage_and_load(warehouse_path, run_id, visits, get_run_logger())


def current_run_id() -> str:
    """The Prefect flow run id, so visits.run_id leads straight to the run in the UI. The run is
    noted as this process's, so a later command can tell if the process was killed (run_guard)."""
    if flow_run.id:
        record_run(str(flow_run.id))
        return str(flow_run.id)
    return str(uuid.uuid4())
