"""Prefect flow: files → parse → warehouse. Wiring only: the pipeline is flows.pipeline, the work
lives in flows.read and warehouse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.events import START_OF_RUN_DEADLINE_S, flush_outbox, report_run_end
from flows.package_step import staging_load
from flows.pipeline import (
    DEFAULT_BATCH_SIZE,
    LoadReport,
    ParsedBatch,
    keep_as_package,
    read_and_parse,
    run_pipeline,
)
from flows.run_guard import publish_summary, report_artifact
from flows.summary import RunSummary
from flows.tasks import current_run_id, load_visits, untouched
from warehouse.state import FileRead
from warehouse.visit import VisitInput


@task(name="read-and-parse-files", cache_policy=NO_CACHE)
def read_and_parse_files(
    paths: list[Path],
    tags_seen: frozenset[str],
    source_name: str | None = None,
    read_before: Mapping[str, FileRead] | None = None,
) -> ParsedBatch:
    parsed = read_and_parse(paths, tags_seen, source_name, read_before)
    get_run_logger().info("read and parsed %d files in %.2f s", parsed.files, parsed.seconds)
    return parsed


def _load_untouched(warehouse_path: Path, run_id: str, visits: list[VisitInput]) -> LoadReport:
    return load_visits(warehouse_path, run_id, untouched(visits))


@flow(name="ingest-files", log_prints=False)
def ingest_files(
    inputs: list[str],
    warehouse_path: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    source: str | None = None,
    stage_only: bool = False,
    packages_url: str | None = None,
) -> RunSummary:
    """Ingest files; `source` names the source of every file (else each page's address says).
    `stage_only`: each batch becomes a load package in `packages_url` (default: the warehouse's
    store) for the loader, and the warehouse is only read (the known tags)."""
    logger = get_run_logger()
    # a stop asked with Ctrl-C keeps the batches where a stage-only run stages them anyway
    staging = staging_load(warehouse_path, packages_url)
    load, keep = (staging, staging) if stage_only else (_load_untouched, keep_as_package)
    # what an earlier run left in the outbox (an unreachable API then) goes first; a stage-only
    # run never writes the warehouse (the loader sends the events of what it loads)
    if not stage_only:
        flush_outbox(warehouse_path, deadline_s=START_OF_RUN_DEADLINE_S, logger=logger)
    summary, times = run_pipeline(
        inputs,
        Path(warehouse_path),
        current_run_id(),
        # Paths and visits are passed untouched: Prefect would otherwise walk them object by object
        # before each task starts (flows.tasks).
        parse=lambda paths, tags, reads: read_and_parse_files(
            untouched(paths), untouched(tags), source, untouched(reads)
        ),
        load=load,
        keep=keep,
        batch_size=batch_size,
        source_name=source,
    )
    summary.staged_only = stage_only
    logger.info("ingest %s; whole run %.1f s", times.describe(), summary.elapsed_s)
    publish_summary(summary)  # the data is committed: from here on, Prefect only hears about it
    markdown, title = summary.to_markdown(), summary.title
    report_artifact(lambda: create_markdown_artifact(markdown, key="ingest-summary", description=title))
    # the batches' events, kazinform.run.completed and the table of articles created or changed
    if not stage_only:
        report_run_end(warehouse_path, summary, "ingest-files", "ingest-articles", logger)
    return summary
