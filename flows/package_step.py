"""The load step of a stage-only run: each batch is staged (warehouse.stage, no database) and written
as a load package for the loader (flows.loader), then announced with `kazinform.package.ready`.
Used by `stage-source` runs on workers and by `kazinform crawl/ingest --stage-only`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline import LoadReport, write_package
from flows.stage_plans import package_store
from flows.tasks import untouched
from warehouse.visit import VisitInput

Logger = logging.Logger | logging.LoggerAdapter


def write_staged_package(
    warehouse_path: str,
    packages_url: str | None,
    run_id: str,
    source: str | None,
    visits: Sequence[VisitInput],
    logger: Logger,
) -> LoadReport:
    """Stage the batch (no database: warehouse.stage), write it as a load package and announce it."""
    from flows.loader import announce_package  # never raises: a lost event is caught up by schedule

    store = package_store(warehouse_path, packages_url)
    package, report = write_package(store, run_id, visits, source=source)

    announce_package(package, warehouse_path)
    logger.info(
        "staged %d visits in %.2f s; package written in %.2f s", len(visits), report.stage_s, report.write_s
    )
    return report


@task(name="stage-package", cache_policy=NO_CACHE)
def stage_package(
    warehouse_path: str, packages_url: str | None, run_id: str, source: str | None, visits: list[VisitInput]
) -> LoadReport:
    return write_staged_package(warehouse_path, packages_url, run_id, source, visits, get_run_logger())


def staging_load(
    warehouse_path: str, packages_url: str | None, source: str | None = None
) -> Callable[[Path, str, list[VisitInput]], LoadReport]:
    """A flow's load step that writes each batch as a package instead (`--stage-only`, stage runs).
    The visits go untouched: Prefect would otherwise walk them object by object (flows.tasks)."""
    return lambda _path, run_id, visits: stage_package(
        warehouse_path, packages_url, run_id, source, untouched(visits)
    )
