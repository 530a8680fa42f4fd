"""Prefect flow: discover → fetch → parse → load over HTTP, one source at a time. Wiring only: the
crawl's loop is flows.crawl_pipeline.run_crawl, handed the tasks below (each wraps the plain
function of the same step there)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from crawler.discover import MAX_LINKS_PER_PAGE, DiscoveryResult
from crawler.fetch import FetchConfig, Fetcher, FetchResult
from flows import crawl_pipeline as steps
from flows.crawl_pipeline import (
    CRAWL_RAW_BYTES_PER_LOAD,
    CRAWL_VISITS_PER_LOAD,
    DEFAULT_BATCH_SIZE,
    CrawlOptions,
    CrawlSteps,
    CrawlSummary,
    fetch_config,
    run_crawl,
)
from flows.events import START_OF_RUN_DEADLINE_S, areport_run_end, flush_outbox
from flows.package_step import staging_load
from flows.pages import CrawlPlan
from flows.pipeline import load_kept_packages
from flows.run_guard import areport_artifact, publish_summary
from flows.tasks import current_run_id, load_visits, untouched
from parsers.source import Source
from warehouse.visit import VisitInput

__all__ = [
    "CRAWL_RAW_BYTES_PER_LOAD",
    "CRAWL_VISITS_PER_LOAD",
    "DEFAULT_BATCH_SIZE",
    "CrawlSummary",
    "crawl_sources",
    "fetch_config",
]


@task(name="plan-crawl", cache_policy=NO_CACHE)
def plan_crawl(
    warehouse_path: Path, source: Source, revisit: str, max_pages: int, discover: bool = True
) -> CrawlPlan:
    return steps.plan_crawl(warehouse_path, source, revisit, max_pages, discover)


@task(name="discover", cache_policy=NO_CACHE)
async def discover_links(
    source: Source, fetcher: Fetcher, plan: CrawlPlan, max_pages: int, max_links_per_page: int
) -> DiscoveryResult:
    return await steps.discover_links(source, fetcher, plan, max_pages, max_links_per_page)


@task(name="fetch-batch", cache_policy=NO_CACHE)
async def fetch_batch(fetcher: Fetcher, urls: list[str], plan: CrawlPlan) -> list[FetchResult]:
    return await steps.fetch_pages(fetcher, urls, plan)


@task(name="archive-batch", cache_policy=NO_CACHE)
def archive_batch(results: list[FetchResult], warc_path: str) -> int:
    return steps.archive_pages(results, warc_path)


@task(name="parse-batch", cache_policy=NO_CACHE)
def parse_batch(results: list[FetchResult], source: Source, tags: frozenset[str]) -> list[VisitInput]:
    return steps.parse_pages(results, source, tags)


# Large or live objects (the fetcher, the plan, URL lists, fetched pages, visits) are passed
# untouched: Prefect would otherwise walk them object by object before each task starts (flows.tasks).
TASK_STEPS = CrawlSteps(
    plan=lambda path, source, revisit, max_pages, discover: plan_crawl(
        path, source, revisit, max_pages, discover
    ),
    discover=lambda source, fetcher, plan, max_pages, max_links: discover_links(
        source, untouched(fetcher), untouched(plan), max_pages, max_links
    ),
    fetch=lambda fetcher, urls, plan: fetch_batch(untouched(fetcher), untouched(urls), untouched(plan)),
    archive=lambda results, warc_path: archive_batch(untouched(results), warc_path),
    parse=lambda results, source, tags: parse_batch(untouched(results), untouched(source), untouched(tags)),
    load=lambda path, run_id, visits: load_visits(path, run_id, untouched(visits)),
    load_kept=lambda path: load_kept_packages(path, get_run_logger()),
)


@flow(name="crawl")
async def crawl_sources(
    source_names: list[str],
    warehouse_path: str,
    revisit: str = "due",
    max_pages: int = 3,
    rate_per_host: float | None = None,
    concurrency_per_host: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fetch_settings: FetchConfig | None = None,
    warc_path: str | None = None,
    max_duration_s: float | None = None,
    max_links_per_page: int = MAX_LINKS_PER_PAGE,
    discover: bool = True,
    stage_only: bool = False,
    packages_url: str | None = None,
) -> CrawlSummary:
    """Crawl `source_names` into the warehouse. `max_duration_s` bounds the whole run: no request
    starts after it and requests still running are cut; what was fetched by then is loaded.
    `discover=False` reads no feed or listing page: only the revisits (the `revisit-due`
    deployment, beside `crawl-new` which discovers). `stage_only`: each batch becomes a load
    package in `packages_url` (default: the warehouse's store) for the loader, and the warehouse is
    only read (the plan)."""
    started = time.monotonic()
    run_id = current_run_id()
    path = Path(warehouse_path)
    logger = get_run_logger()
    # what an earlier run left in the outbox (an unreachable API then) goes first; a stage-only
    # run never writes the warehouse (the loader sends the events of what it loads)
    if not stage_only:
        await asyncio.to_thread(flush_outbox, path, deadline_s=START_OF_RUN_DEADLINE_S, logger=logger)
    options = CrawlOptions(
        revisit=revisit,
        max_pages=max_pages,
        rate_per_host=rate_per_host,
        concurrency_per_host=concurrency_per_host,
        batch_size=batch_size,
        fetch_settings=fetch_settings,
        warc_path=warc_path,
        max_duration_s=max_duration_s,
        max_links_per_page=max_links_per_page,
        discover=discover,
    )
    steps = TASK_STEPS
    if stage_only:  # a stop asked with Ctrl-C keeps the batches where the run stages them anyway
        staging = staging_load(warehouse_path, packages_url)
        steps = replace(TASK_STEPS, load=staging, keep=staging, load_kept=lambda _path: 0)
    summary, times = await run_crawl(source_names, path, run_id, steps, options, started=started)
    summary.staged_only = stage_only
    logger.info("crawl %s; whole run %.1f s", times.describe("fetch and parse"), summary.elapsed_s)
    publish_summary(summary)  # the data is committed: from here on, Prefect only hears about it
    markdown, title = summary.to_markdown(), summary.title
    await areport_artifact(
        lambda: acreate_markdown_artifact(markdown, key="crawl-summary", description=title)
    )
    # the batches' events, kazinform.run.completed and the table of articles created or changed
    if not stage_only:
        await areport_run_end(path, summary, "crawl", "crawl-articles", logger)
    return summary
