"""Tasks shared by the flows. Tasks are coarse (a batch each) and never cache: their inputs are
large byte payloads that would only be hashed for nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from warehouse.db import open_writer
from warehouse.load import load_batch
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput


@task(name="load-batch", cache_policy=NO_CACHE)
def load_visits(warehouse_path: Path, run_id: str, visits: list[VisitInput]) -> list[str]:
    """One transaction per batch. Staging (Arrow tables, hashes, compression) happens before the
    writer connection opens, so the write lock is held only for the set-based SQL."""
    staged = stage_batch(visits)
    with open_writer(warehouse_path) as connection:
        return list(load_batch(connection, run_id, staged).outcomes)


def current_run_id() -> str:
    """The Prefect flow run id, so visits.run_id leads straight to the run in the UI."""
    return str(flow_run.id or uuid.uuid4())
