"""Tasks shared by the flows. Tasks are coarse (a batch each) and never cache: their inputs are
large byte payloads that would only be hashed for nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.run_guard import record_run
from warehouse.db import WarehouseLockedError, open_writer
from warehouse.load import load_batch
from warehouse.packages import load_ready_packages, package_folder, write_package
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput

# The outcome reported for a visit whose batch was kept as a load package (not in the warehouse yet).
PENDING = "pending"


@task(name="load-batch", cache_policy=NO_CACHE)
def load_visits(warehouse_path: Path, run_id: str, visits: list[VisitInput]) -> list[str]:
    """One transaction per batch. Staging (Arrow tables, hashes, compression) happens before the
    writer connection opens, so the write lock is held only for the set-based SQL.

    Packages kept by earlier runs are loaded first, in the order they were staged. When the
    warehouse stays locked past the writer's wait (warehouse.db), the staged batch is kept as a
    load package for the next writer and every visit of it is reported `pending`."""
    logger = get_run_logger()
    staged = stage_batch(visits)
    folder = package_folder(warehouse_path)

    def still_waiting(waited: float, allowed: float) -> None:
        message = "warehouse %s is held by another process; waited %.0f s of %.0f s"
        logger.warning(message, warehouse_path, waited, allowed)

    try:
        with open_writer(warehouse_path, on_wait=still_waiting) as connection:
            load_ready_packages(connection, folder, log=logger.info)
            return list(load_batch(connection, run_id, staged).outcomes)
    except WarehouseLockedError as error:
        package = write_package(folder, run_id, staged)
        logger.warning("%s; %d visits kept as load package %s", error, len(visits), package.path)
        return [PENDING] * len(visits)


def current_run_id() -> str:
    """The Prefect flow run id, so visits.run_id leads straight to the run in the UI. The run is
    noted as this process's, so a later command can tell if the process was killed (run_guard)."""
    if flow_run.id:
        record_run(str(flow_run.id))
        return str(flow_run.id)
    return str(uuid.uuid4())
