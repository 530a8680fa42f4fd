"""Prefect flow: files → parse → warehouse. Wiring only; the work lives in flows.read and warehouse."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.batching import LoadBuffer
from flows.progress import progress_bar
from flows.read import batched, expand_inputs, read_visits, unreadable_visits
from flows.run_guard import publish_summary, report_artifact
from flows.summary import RunSummary
from flows.tasks import current_run_id, load_visits
from warehouse.db import open_reader
from warehouse.state import known_tags
from warehouse.visit import VisitInput

# Files per parse task: a task run (~25 ms against a server) is small next to parsing 500 pages.
# Loads gather several of these (flows.batching).
DEFAULT_BATCH_SIZE = 500


@task(name="read-and-parse-files", cache_policy=NO_CACHE)
def read_and_parse_files(paths: list[Path], tags_seen: frozenset[str]) -> list[VisitInput]:
    return read_visits(paths, known_tags=tags_seen)


def tags_known_to(warehouse_path: Path) -> frozenset[str]:
    """Multi-word tags seen on HTML pages help split the run-together tag line of text copies."""
    if not warehouse_path.exists():
        return frozenset()
    with open_reader(warehouse_path) as connection:
        return frozenset(known_tags(connection))


@flow(name="ingest-files", log_prints=False)
def ingest_files(inputs: list[str], warehouse_path: str, batch_size: int = DEFAULT_BATCH_SIZE) -> RunSummary:
    started = time.monotonic()
    run_id = current_run_id()
    summary = RunSummary(run_id=run_id, title="Ingest of files")
    files, problems, summary.unmatched_inputs = expand_inputs(inputs)
    path = Path(warehouse_path)
    tags_seen = tags_known_to(path)
    buffer = LoadBuffer()
    # Inputs that cannot be read (missing, a link loop, a dangling link, no permission) are visits
    # of their own, `failed` with the reason, loaded with the rest.
    for ready in buffer.add(unreadable_visits(problems)):
        summary.add(ready, load_visits(path, run_id, ready))
    with progress_bar(len(files), "ingest") as advance:
        for batch in batched(files, batch_size):
            for ready in buffer.add(read_and_parse_files(batch, tags_seen)):
                summary.add(ready, load_visits(path, run_id, ready))
            advance(len(batch))
        for ready in buffer.flush():
            summary.add(ready, load_visits(path, run_id, ready))
    summary.elapsed_s = time.monotonic() - started
    publish_summary(summary)  # the data is committed: from here on, Prefect only hears about it
    markdown, title = summary.to_markdown(), summary.title
    report_artifact(lambda: create_markdown_artifact(markdown, key="ingest-summary", description=title))
    return summary
