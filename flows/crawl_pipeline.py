"""The crawl as plain Python: plan → discover → fetch in batches → parse → gather → load, with the
clocks of each stage and the run's summary. No Prefect here: the flow (flows.crawl) hands
`run_crawl` its tasks, and `crawl_without_prefect` hands it the same functions called directly, so
the orchestration benchmark measures Prefect's share of a crawl against the very same work (as
flows.pipeline does for the file ingest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crawler.discover import MAX_LINKS_PER_PAGE, DiscoveryResult, discover, discovery_urls
from crawler.fetch import FetchConfig, Fetcher, FetchResult
from crawler.warc import write_warc
from flows import stop
from flows.batching import LoadBuffer
from flows.pages import CrawlPlan, links_of_part, plan_of_part, urls_to_fetch
from flows.pipeline import (
    LoadReport,
    Logger,
    StageTimes,
    keep_as_package,
    load_batches,
    load_kept_packages,
    stage_and_load,
)
from flows.progress import progress_bar
from flows.read import batched
from flows.summary import RunSummary
from flows.visits import visits_from_fetches, visits_from_listed
from parsers.registry import all_sources, get_source
from parsers.source import Source
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
# Fetched pages wait in memory until loaded: a smaller load than for files bounds both memory and
# what an interrupted crawl would have to fetch again.
CRAWL_VISITS_PER_LOAD = 2_000
CRAWL_RAW_BYTES_PER_LOAD = 32 * 1024 * 1024
# How often a crawl looks for a stop asked with Ctrl-C (flows.stop).
STOP_POLL_S = 0.25


@dataclass
class CrawlSummary(RunSummary):
    time_limit_s: float | None = None  # the run's --max-duration, when given
    stopped_at_time_limit: bool = False
    unfetched: int = 0  # URLs the time limit left unasked or cut (no visit: the next run asks again)
    links_not_followed: int = 0  # links over the cap of one feed or listing page
    max_links_per_page: int = MAX_LINKS_PER_PAGE

    def left_for_next_run(self) -> str:
        return f": {self.unfetched} URLs not fetched, for the next run" if self.unfetched else ""

    def extra_lines(self) -> list[str]:
        fetched = sum(n for outcome, n in self.counts.items() if outcome not in ("failed",))
        share = self.counts["not_modified"] / fetched if fetched else 0.0
        lines = [f"304 share     {share:.1%} of answered requests"]
        if self.links_not_followed:
            lines.append(
                f"links not followed: {self.links_not_followed} "
                f"(more than {self.max_links_per_page} on one feed or listing page)"
            )
        if self.stopped_at_time_limit:  # not when stopped by Ctrl-C: RunSummary says that
            lines.append(
                f"stopped at its time limit ({self.time_limit_s:g} s): "
                f"{self.unfetched} URLs left unfetched, asked for again by the next run"
            )
        return lines


# --- the steps, as plain functions (the flow wraps each in a task) -------------------------------


def plan_crawl(
    warehouse_path: Path, source: Source, revisit: str, max_pages: int, discover: bool = True
) -> CrawlPlan:
    """What the warehouse knows that the crawl needs: known and deleted ids, the revisits due, the
    stored HTTP validators and the known tags."""
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


async def fetch_pages(fetcher: Fetcher, urls: list[str], plan: CrawlPlan) -> list[FetchResult]:
    return await fetcher.fetch_many(urls, plan.validators)


def archive_pages(results: list[FetchResult], warc_path: str) -> int:
    return write_warc(results, warc_path)


def parse_pages(results: list[FetchResult], source: Source, tags: frozenset[str]) -> list[VisitInput]:
    return visits_from_fetches(results, source, tags)


def fetch_config(
    source: Source, rate_per_host: float | None, concurrency_per_host: int | None
) -> FetchConfig:
    defaults = FetchConfig()
    return FetchConfig(
        requests_per_second=source.requests_per_second if rate_per_host is None else rate_per_host,
        concurrency_per_host=concurrency_per_host or defaults.concurrency_per_host,
    )


@dataclass(frozen=True, slots=True)
class CrawlSteps:
    """The callables `run_crawl` is made of: the plain functions above, or the flow's tasks."""

    plan: Callable[[Path, Source, str, int, bool], CrawlPlan]
    discover: Callable[[Source, Fetcher, CrawlPlan, int, int], Awaitable[DiscoveryResult]]
    fetch: Callable[[Fetcher, list[str], CrawlPlan], Awaitable[list[FetchResult]]]
    archive: Callable[[list[FetchResult], str], int]
    parse: Callable[[list[FetchResult], Source, frozenset[str]], list[VisitInput]]
    load: Callable[[Path, str, list[VisitInput]], LoadReport]
    # What a run asked to stop does with what it fetched (flows.stop): a load package, no wait.
    keep: Callable[[Path, str, list[VisitInput]], LoadReport] = keep_as_package
    # Before planning: load what earlier runs kept, so it is not fetched again (returns visits).
    load_kept: Callable[[Path], int] = lambda _path: 0


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    """A crawl's settings, as the flow's parameters give them (flows.crawl.crawl_sources)."""

    revisit: str = "due"
    max_pages: int = 3
    rate_per_host: float | None = None
    concurrency_per_host: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    fetch_settings: FetchConfig | None = None
    warc_path: str | None = None
    max_duration_s: float | None = None
    max_links_per_page: int = MAX_LINKS_PER_PAGE
    discover: bool = True
    # Only these editions (a fan-out's part of a source, Source.host_groups); None: every one.
    editions: tuple[str, ...] | None = None


async def run_crawl(
    source_names: list[str],
    warehouse_path: Path,
    run_id: str,
    steps: CrawlSteps,
    options: CrawlOptions,
    *,
    started: float | None = None,
) -> tuple[CrawlSummary, StageTimes]:
    """Crawl `source_names` into the warehouse, one source at a time; memory is bounded by one load
    batch and one fetch batch. `started` (time.monotonic()) is the run's start when the caller did
    work before (the flow's outbox flush): the time limit and the elapsed time count from it."""
    started = time.monotonic() if started is None else started
    source_names = source_names or [source.name for source in all_sources()]  # none named: every one
    max_duration_s = options.max_duration_s
    stop_at = None if max_duration_s is None else started + max_duration_s
    summary = CrawlSummary(
        run_id=run_id,
        title="Crawl of " + ", ".join(source_names),
        time_limit_s=max_duration_s,
        max_links_per_page=options.max_links_per_page,
    )
    times = StageTimes()

    def load_or_keep(ready: list[VisitInput]) -> LoadReport:
        return (steps.keep if stop.asked() else steps.load)(warehouse_path, run_id, ready)

    def load_each(batches: Iterator[list[VisitInput]]) -> None:
        load_batches(batches, load_or_keep, times, summary)

    steps.load_kept(warehouse_path)
    for name in source_names:
        if stop.asked():
            break
        source = get_source(name)
        plan = steps.plan(warehouse_path, source, options.revisit, options.max_pages, options.discover)
        discovering = source
        if options.editions:
            plan = plan_of_part(plan, source, options.editions)
            discovering = source.part(options.editions)
        settings = options.fetch_settings or fetch_config(
            source, options.rate_per_host, options.concurrency_per_host
        )
        async with (
            Fetcher.for_source(source, settings, stop_at=stop_at) as fetcher,
            _stopping_when_asked(fetcher),
        ):
            found = DiscoveryResult()
            if options.discover:
                found = await steps.discover(
                    discovering, fetcher, plan, options.max_pages, options.max_links_per_page
                )
                if options.editions:
                    found.links = links_of_part(found.links, source, options.editions)
            summary.links_not_followed += found.links_not_followed
            summary.unfetched += found.unfetched
            unfetched_before = summary.unfetched
            buffer = LoadBuffer(max_visits=CRAWL_VISITS_PER_LOAD, max_raw_bytes=CRAWL_RAW_BYTES_PER_LOAD)
            listed = visits_from_listed(found.pages, source)  # loaded once their links are fetched
            urls = urls_to_fetch(found.links, plan)
            batches = list(batched(urls, options.batch_size))
            with progress_bar(len(urls), f"crawl {name}") as advance:
                for done, batch in enumerate(batches):
                    if fetcher.run_over():  # nothing starts after the limit; the rest waits for next run
                        summary.unfetched += len(urls) - done * options.batch_size
                        break
                    fetch_started = time.perf_counter()
                    results = await steps.fetch(fetcher, batch, plan)
                    summary.unfetched += sum(result.unfetched for result in results)
                    if options.warc_path:
                        steps.archive(results, options.warc_path)
                    parsed = steps.parse(results, source, plan.tags)
                    if done == len(batches) - 1:  # they ride in the last load, not one of their own
                        parsed += take_listed(listed, links_left=summary.unfetched > unfetched_before)
                    del results  # the visits hold the bodies now
                    times.read_parse_s += time.perf_counter() - fetch_started
                    times.files += len(batch)
                    load_each(buffer.add(parsed))
                    del parsed
                    advance(len(batch))
                left = summary.unfetched > unfetched_before
                load_each(buffer.add(take_listed(listed, links_left=left)))  # no links, or stopped early
                load_each(buffer.flush())
    summary.interrupted = stop.asked()
    summary.stopped_at_time_limit = summary.unfetched > 0 and not summary.interrupted
    summary.elapsed_s = time.monotonic() - started
    return summary, times


def take_listed(listed: list[VisitInput], *, links_left: bool) -> list[VisitInput]:
    """A source's feed and listing pages, taken once (the list is emptied). When links of theirs
    were left unfetched (time limit, Ctrl-C), without validators, so the next run reads them in
    full, not a 304, and finds the rest."""
    if links_left:
        for visit in listed:
            visit.etag = visit.last_modified = None
    taken = listed[:]
    listed.clear()
    return taken


@asynccontextmanager
async def _stopping_when_asked(fetcher: Fetcher) -> AsyncIterator[None]:
    """While the block runs, a stop asked for (flows.stop) becomes the fetcher's time limit: no
    request starts after it, and the crawl goes on to keep what was fetched."""

    async def watch() -> None:
        while not stop.asked():
            await asyncio.sleep(STOP_POLL_S)
        fetcher.stop_at = time.monotonic()

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def plain_steps(logger: Logger) -> CrawlSteps:
    """The steps called directly: loads under the file lock alone (no `duckdb-writer` slot, which
    is Prefect's), as the ingest without Prefect does."""
    return CrawlSteps(
        plan=plan_crawl,
        discover=discover_links,
        fetch=fetch_pages,
        archive=archive_pages,
        parse=parse_pages,
        load=lambda path, run_id, visits: stage_and_load(path, run_id, visits, logger, gated=False),
        load_kept=lambda path: load_kept_packages(path, logger, gated=False),
    )


def crawl_without_prefect(
    source_names: list[str],
    warehouse_path: str,
    run_id: str,
    options: CrawlOptions | None = None,
    logger: Logger | None = None,
) -> tuple[CrawlSummary, StageTimes]:
    """The flow's work with the same functions called directly: no flow run, no task runs, no
    events emitted (each batch still writes its outbox rows: that is the load's own work), no
    artifacts."""
    log = logger or logging.getLogger("kazinform.crawl")
    return asyncio.run(
        run_crawl(source_names, Path(warehouse_path), run_id, plain_steps(log), options or CrawlOptions())
    )
