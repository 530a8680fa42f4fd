"""Prefect flow: discover → fetch → parse → load over HTTP, one source at a time. Wiring only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.batching import LoadBuffer
from flows.discover import MAX_LINKS_PER_PAGE, DiscoveryResult, discover, discovery_urls
from flows.events import START_OF_RUN_DEADLINE_S, areport_run_end, flush_outbox
from flows.fetch import FetchConfig, Fetcher, FetchResult
from flows.pages import CrawlPlan, urls_to_fetch, visits_from_pages
from flows.pipeline import StageTimes, load_batches
from flows.progress import progress_bar
from flows.read import batched
from flows.run_guard import areport_artifact, publish_summary
from flows.summary import RunSummary
from flows.tasks import current_run_id, load_visits, untouched
from flows.warc import write_warc
from parsers.sources import Source, get_source
from warehouse.db import open_reader
from warehouse.state import (
    deleted_article_ids,
    http_validators,
    known_article_ids,
    known_tags,
    revisit_targets,
)
from warehouse.visit import VisitInput

# A batch is one fetch task, one parse task and one load transaction: large enough that the ~25 ms
# per task run and the per-transaction cost stay small next to the fetching itself.
DEFAULT_BATCH_SIZE = 200
CRAWL_VISITS_PER_LOAD = 2_000
CRAWL_RAW_BYTES_PER_LOAD = 32 * 1024 * 1024


@dataclass
class CrawlSummary(RunSummary):
    time_limit_s: float | None = None  # the run's --max-duration, when given
    stopped_at_time_limit: bool = False
    unfetched: int = 0  # URLs the time limit left unasked or cut (no visit: the next run asks again)
    links_not_followed: int = 0  # links over the cap of one feed or listing page
    max_links_per_page: int = MAX_LINKS_PER_PAGE

    def extra_lines(self) -> list[str]:
        fetched = sum(n for outcome, n in self.counts.items() if outcome not in ("failed",))
        share = self.counts["not_modified"] / fetched if fetched else 0.0
        lines = [f"304 share     {share:.1%} of answered requests"]
        if self.links_not_followed:
            lines.append(
                f"links not followed: {self.links_not_followed} "
                f"(more than {self.max_links_per_page} on one feed or listing page)"
            )
        if self.stopped_at_time_limit:
            lines.append(
                f"stopped at its time limit ({self.time_limit_s:g} s): "
                f"{self.unfetched} URLs left unfetched, asked for again by the next run"
            )
        return lines


@task(name="plan-crawl", cache_policy=NO_CACHE)
def plan_crawl(
    warehouse_path: Path, source: Source, revisit: str, max_pages: int, discover: bool = True
) -> CrawlPlan:
    if not warehouse_path.exists():
        return CrawlPlan()
    with open_reader(warehouse_path) as connection:
        targets = (
            [] if revisit == "none" else revisit_targets(connection, source.name, revisit, datetime.now(UTC))
        )
        # Feeds and lenta pages are asked for conditionally too: an unchanged feed costs a 304.
        urls = [url for _, url in targets] + (discovery_urls(source, max_pages) if discover else [])
        return CrawlPlan(
            known_ids=known_article_ids(connection, source.name),
            deleted_ids=deleted_article_ids(connection, source.name),
            revisit=targets,
            validators=http_validators(connection, urls),
            tags=frozenset(known_tags(connection)),
        )


@task(name="discover", cache_policy=NO_CACHE)
async def discover_links(
    source: Source, fetcher: Fetcher, plan: CrawlPlan, max_pages: int, max_links_per_page: int
) -> DiscoveryResult:
    return await discover(
        source,
        fetcher,
        plan.known_ids,
        max_pages=max_pages,
        validators=plan.validators,
        max_links_per_page=max_links_per_page,
    )


@task(name="fetch-batch", cache_policy=NO_CACHE)
async def fetch_batch(fetcher: Fetcher, urls: list[str], plan: CrawlPlan) -> list[FetchResult]:
    return await fetcher.fetch_many(urls, plan.validators)


@task(name="archive-batch", cache_policy=NO_CACHE)
def archive_batch(results: list[FetchResult], warc_path: str) -> int:
    return write_warc(results, warc_path)


@task(name="parse-batch", cache_policy=NO_CACHE)
def parse_batch(results: list[FetchResult], source_name: str, tags: frozenset[str]) -> list[VisitInput]:
    return visits_from_pages(results, source_name, tags)


def fetch_config(
    source: Source, rate_per_host: float | None, concurrency_per_host: int | None
) -> FetchConfig:
    defaults = FetchConfig()
    return FetchConfig(
        requests_per_second=source.requests_per_second if rate_per_host is None else rate_per_host,
        concurrency_per_host=concurrency_per_host or defaults.concurrency_per_host,
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
) -> CrawlSummary:
    """Crawl `source_names` into the warehouse. `max_duration_s` bounds the whole run: no request
    starts after it and requests still running are cut; what was fetched by then is loaded.
    `discover=False` reads no feed or listing page: only the revisits (the `revisit-due`
    deployment, beside `crawl-new` which discovers)."""
    started = time.monotonic()
    stop_at = None if max_duration_s is None else started + max_duration_s
    run_id = current_run_id()
    summary = CrawlSummary(
        run_id=run_id,
        title="Crawl of " + ", ".join(source_names),
        time_limit_s=max_duration_s,
        max_links_per_page=max_links_per_page,
    )
    path = Path(warehouse_path)
    times = StageTimes()
    logger = get_run_logger()
    # what an earlier run left in the outbox (an unreachable API then) goes first
    await asyncio.to_thread(flush_outbox, path, deadline_s=START_OF_RUN_DEADLINE_S, logger=logger)

    def load_each(batches: Iterator[list[VisitInput]]) -> None:
        # Visits are passed untouched: Prefect would walk them object by object (flows.tasks).
        load_batches(batches, lambda ready: load_visits(path, run_id, untouched(ready)), times, summary)

    for name in source_names:
        source = get_source(name)
        plan = plan_crawl(path, source, revisit, max_pages, discover)
        async with Fetcher.for_source(
            source,
            fetch_settings or fetch_config(source, rate_per_host, concurrency_per_host),
            stop_at=stop_at,
        ) as fetcher:
            found = DiscoveryResult()
            if discover:
                found = await discover_links(
                    source, untouched(fetcher), untouched(plan), max_pages, max_links_per_page
                )
            summary.links_not_followed += found.links_not_followed
            summary.unfetched += found.unfetched
            # Fetched pages wait in memory until loaded: a smaller load than for files bounds both
            # memory and what an interrupted crawl would have to fetch again.
            buffer = LoadBuffer(max_visits=CRAWL_VISITS_PER_LOAD, max_raw_bytes=CRAWL_RAW_BYTES_PER_LOAD)
            load_each(buffer.add(found.visits))
            urls = urls_to_fetch(found.links, plan)
            with progress_bar(len(urls), f"crawl {name}") as advance:
                for done, batch in enumerate(batched(urls, batch_size)):
                    if fetcher.run_over():  # nothing starts after the limit; the rest waits for next run
                        summary.unfetched += len(urls) - done * batch_size
                        break
                    fetch_started = time.perf_counter()
                    results = await fetch_batch(untouched(fetcher), untouched(batch), untouched(plan))
                    summary.unfetched += sum(result.unfetched for result in results)
                    if warc_path:
                        archive_batch(untouched(results), warc_path)
                    parsed = parse_batch(untouched(results), source.name, untouched(plan.tags))
                    del results  # the visits hold the bodies now
                    times.read_parse_s += time.perf_counter() - fetch_started
                    times.files += len(batch)
                    load_each(buffer.add(parsed))
                    del parsed
                    advance(len(batch))
                load_each(buffer.flush())
    summary.stopped_at_time_limit = summary.unfetched > 0
    summary.elapsed_s = time.monotonic() - started
    logger.info("crawl %s; whole run %.1f s", times.describe("fetch and parse"), summary.elapsed_s)
    publish_summary(summary)  # the data is committed: from here on, Prefect only hears about it
    markdown, title = summary.to_markdown(), summary.title
    await areport_artifact(
        lambda: acreate_markdown_artifact(markdown, key="crawl-summary", description=title)
    )
    # the batches' events, kazinform.run.completed and the table of articles created or changed
    await areport_run_end(path, summary, "crawl", "crawl-articles", logger)
    return summary
