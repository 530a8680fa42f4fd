"""A crawl spread over Prefect workers: `crawl-fanout` plans, `stage-source` fetches and parses.

- `crawl-fanout` (the parent, on the machine that can read the warehouse) computes each source's
  plan (flows.crawl_pipeline.plan_crawl: known and deleted ids, validators, revisits, tags), writes
  it as JSON into the package store (`plans/<run>/<source>.json`), starts one `stage-source` run per
  source (or per edition and range of listing pages, for a backfill) with
  `run_deployment(..., timeout=0)`, waits for them until its deadline, reports each run's state,
  then loads the ready packages (flows.loader; the `load-packages` trigger does it too when served).
- `stage-source` (on any worker) reads its plan, holds the Prefect global concurrency limit
  `host:<host>` (1 slot, created on demand) of every host of its source for the whole run, so two
  workers never crawl one host at once, and crawls with flows.crawl_pipeline.run_crawl, whose load
  step writes each batch as a load package and announces it. It never opens the DuckDB file: a
  worker on another machine has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from crawler.discover import MAX_LINKS_PER_PAGE, DiscoveredLink, DiscoveryResult, read_listing_page
from crawler.fetch import Fetcher
from flows.crawl import TASK_STEPS
from flows.crawl_pipeline import (
    DEFAULT_BATCH_SIZE,
    CrawlOptions,
    CrawlSummary,
    fetch_config,
    plan_crawl,
    run_crawl,
)
from flows.fanout_cli import PAGES_PER_STAGE_RUN
from flows.pages import CrawlPlan
from flows.pipeline import PENDING, LoadReport
from flows.tasks import current_run_id, untouched
from parsers.dates import parse_shown_date
from parsers.registry import all_sources, get_source, registered
from parsers.source import Listing, Source
from warehouse.packages import Package, PackageStore
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput

Logger = logging.Logger | logging.LoggerAdapter

STAGE_FLOW = "stage-source"
FANOUT_FLOW = "crawl-fanout"
# The deployments `kazinform deploy --pool` registers (flows/serve.py: stage_deployment_plans).
STAGE_DEPLOYMENT = f"{STAGE_FLOW}/{STAGE_FLOW}"
FANOUT_DEPLOYMENT = f"{FANOUT_FLOW}/{FANOUT_FLOW}"

PLAN_FORMAT_VERSION = 1
PLANS_FOLDER = "plans"

HOST_LIMIT_PREFIX = "host:"
HOST_SLOTS = 1  # one crawl of a host at a time, whichever worker runs it
# A host slot's lease: Prefect renews it while the run lives; a killed worker's slot is freed by
# the server's repossessor once the lease runs out. 60 s is the least the server accepts.
HOST_LEASE_SECONDS = 60.0
# How long a stage run waits for its hosts' slots: a backfill queues many runs of one host, each
# running up to its time limit; past this the run fails, saying which host it waited for.
HOST_SLOT_WAIT_S = 6 * 3600.0

# How often the fan-out asks the API for its runs' states: a state change shows within 2 s at the
# cost of one small request per run.
POLL_EVERY_S = 2.0
# After the crawl's time limit, the stage runs still load their last batch into packages and a
# run queued behind a host slot or waiting for a worker may start late: the fan-out waits this
# much longer before it reports them and loads what is ready.
FINISH_GRACE_S = 300.0
# Without --max-duration the fan-out still stops waiting: 6 hours is longer than any crawl of new
# articles and leaves a run that no worker takes reported instead of waited for forever.
DEFAULT_WAIT_S = 6 * 3600.0


# --- the plan, handed over as JSON --------------------------------------------------------------


def plan_to_json(plan: CrawlPlan, source: str, run_id: str) -> str:
    return json.dumps(
        {
            "format_version": PLAN_FORMAT_VERSION,
            "source": source,
            "run_id": run_id,
            "planned_at": datetime.now(UTC).isoformat(),
            "known_ids": sorted(plan.known_ids),
            "deleted_ids": sorted(plan.deleted_ids),
            "revisit": [list(pair) for pair in plan.revisit],
            "validators": {url: list(pair) for url, pair in plan.validators.items()},
            "tags": sorted(plan.tags),
        }
    )


class PlanError(Exception):
    """A plan file that cannot be read: missing, of another format, or not this source's."""


def plan_from_json(text: str, source: str) -> CrawlPlan:
    try:
        data = json.loads(text)
        if data.get("format_version") != PLAN_FORMAT_VERSION:
            raise PlanError(
                f"plan format {data.get('format_version')!r}, this release reads {PLAN_FORMAT_VERSION}"
            )
        if data.get("source") != source:
            raise PlanError(f"the plan is for {data.get('source')!r}, not {source!r}")
        return CrawlPlan(
            known_ids=set(data["known_ids"]),
            deleted_ids=set(data["deleted_ids"]),
            revisit=[(article_id, url) for article_id, url in data["revisit"]],
            validators={url: (etag, modified) for url, (etag, modified) in data["validators"].items()},
            tags=frozenset(data["tags"]),
        )
    except PlanError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PlanError(f"unreadable plan ({type(error).__name__}: {error})") from error


def package_store(warehouse_path: str, packages_url: str | None = None) -> PackageStore:
    """The store given (a folder or fsspec URL), else the warehouse's (warehouse.packages)."""
    return PackageStore(packages_url) if packages_url else PackageStore.for_warehouse(warehouse_path)


def write_plan(store: PackageStore, run_id: str, name: str, plan: CrawlPlan) -> str:
    """The plan as `plans/<run>/<name>.json` in the store; returns its URL."""
    return store.write_file(f"{PLANS_FOLDER}/{run_id}/{name}.json", plan_to_json(plan, name, run_id).encode())


def read_plan(plan_url: str, source: str) -> CrawlPlan:
    import fsspec

    try:
        with fsspec.open(plan_url, "rb") as handle:
            text = handle.read().decode()
    except (OSError, ValueError) as error:
        raise PlanError(f"cannot read the plan {plan_url} ({type(error).__name__}: {error})") from error
    return plan_from_json(text, source)


def remove_plans(store: PackageStore, run_id: str) -> None:
    with contextlib.suppress(OSError):  # housekeeping only
        store.fs.rm(f"{store.root}/{PLANS_FOLDER}/{run_id}", recursive=True)


# --- packages: the load step of a stage run ------------------------------------------------------


def write_staged_package(
    warehouse_path: str,
    packages_url: str | None,
    run_id: str,
    source: str,
    visits: Sequence[VisitInput],
    logger: Logger,
) -> LoadReport:
    """Stage the batch (no database: warehouse.stage) and write it as a load package; announce it.
    Every visit is `pending` until the loader commits the package."""
    started = time.perf_counter()
    staged = stage_batch(visits)
    stage_s = time.perf_counter() - started
    started = time.perf_counter()
    package = _write_package(warehouse_path, packages_url, run_id, staged, source)
    _announce(package, warehouse_path, logger)
    write_s = time.perf_counter() - started
    logger.info("staged %d visits in %.2f s; package written in %.2f s", len(visits), stage_s, write_s)
    return LoadReport([PENDING] * len(visits), stage_s, write_s)


def _write_package(
    warehouse_path: str, packages_url: str | None, run_id: str, staged: Any, source: str
) -> Package:
    return package_store(warehouse_path, packages_url).write(run_id, staged, source=source)


def _announce(package: Package, warehouse_path: str, logger: Logger) -> None:
    from flows.loader import announce_package  # never raises: a lost event is caught up by schedule

    announce_package(package, warehouse_path)


@task(name="stage-package", cache_policy=NO_CACHE)
def stage_package(
    warehouse_path: str, packages_url: str | None, run_id: str, source: str, visits: list[VisitInput]
) -> LoadReport:
    return write_staged_package(warehouse_path, packages_url, run_id, source, visits, get_run_logger())


# --- per-host politeness across workers -----------------------------------------------------------


def host_limit_names(source_name: str) -> list[str]:
    """`host:<host>` for each host of the source as its definition names it: on a mirror (a replica)
    the pages sit at one address, but the politeness is owed to the hosts the source stands for."""
    source = registered()[source_name.lower()]
    return sorted(f"{HOST_LIMIT_PREFIX}{host}" for host in source.hosts)


async def ensure_host_limits(names: Sequence[str], logger: Logger) -> None:
    """Create each limit with 1 slot when the API has none. One an administrator changed is left."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        for name in names:
            try:
                limit = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=HOST_SLOTS)
                    )
                    logger.info("created the Prefect concurrency limit %s (%d slot)", name, HOST_SLOTS)
                except ObjectAlreadyExists:  # another run created it first
                    pass
                continue
            if limit.limit != HOST_SLOTS or not limit.active:
                logger.warning(
                    "the concurrency limit %s has %d slots (active: %s): runs of that host may overlap",
                    name,
                    limit.limit,
                    limit.active,
                )


@asynccontextmanager
async def holding_hosts(
    names: Sequence[str], logger: Logger, wait_s: float = HOST_SLOT_WAIT_S
) -> AsyncIterator[float]:
    """Hold one slot of every limit in `names` (all at once, so two runs never deadlock on two
    hosts); yields the seconds waited for them."""
    from prefect.concurrency.asyncio import concurrency

    await ensure_host_limits(names, logger)
    started = time.monotonic()
    logger.info("waiting for %s", ", ".join(names))
    async with concurrency(
        list(names), occupy=1, timeout_seconds=wait_s, lease_duration=HOST_LEASE_SECONDS, strict=True
    ):
        waited = time.monotonic() - started
        logger.info("holding %s (waited %.1f s)", ", ".join(names), waited)
        try:
            yield waited
        finally:
            logger.info("releasing %s", ", ".join(names))


# --- a range of listing pages (backfill) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingRange:
    """Pages `first`..`last` of one listing of one edition, and the dates the backfill wants."""

    edition: str
    listing: int  # index in the edition's listings
    first: int
    last: int
    since: str | None = None  # ISO dates; a card dated outside is not followed
    until: str | None = None

    def as_parameters(self) -> dict[str, Any]:
        return {
            "edition": self.edition,
            "listing": self.listing,
            "first_page": self.first,
            "last_page": self.last,
            "since": self.since,
            "until": self.until,
        }


def _day(text: str | None, end: bool = False) -> datetime | None:
    if not text:
        return None
    day = datetime.fromisoformat(text)
    if day.tzinfo is None:
        day = day.replace(tzinfo=UTC)
    if end and len(text) <= 10:  # a date alone: the whole day
        day = day.replace(hour=23, minute=59, second=59)
    return day


def card_date(link: DiscoveredLink, now: datetime | None = None) -> datetime | None:
    return parse_shown_date(link.published_text, now)


def within(link: DiscoveredLink, since: datetime | None, until: datetime | None) -> bool:
    """A card dated inside [since, until]; an undated card is kept (it may be inside)."""
    shown = card_date(link)
    if shown is None:
        return True
    return (since is None or shown >= since) and (until is None or shown <= until)


async def discover_range(
    source: Source, fetcher: Fetcher, plan: CrawlPlan, pages: ListingRange, max_links_per_page: int
) -> DiscoveryResult:
    """The cards of pages `first`..`last` of one listing, kept when dated inside the range. Every
    page is a visit as in a discovery (listed, not_modified, failed, parse_error)."""
    listing: Listing = source.edition(pages.edition).listings[pages.listing]
    since, until = _day(pages.since), _day(pages.until, end=True)
    result = DiscoveryResult()
    seen: set[str] = set()
    for number in range(pages.first, pages.last + 1):
        # no validators: a listing page seen before answers 304, and a backfill wants its cards
        fetch = await fetcher.fetch(listing.page(number))
        if fetch.unfetched:
            result.unfetched += pages.last - number + 1
            break
        links, visit, dropped = read_listing_page(fetch, source, listing, max_links_per_page)
        result.pages.append(visit)
        result.links_not_followed += dropped
        for link in links:
            if link.article_id not in seen and within(link, since, until):
                seen.add(link.article_id)
                result.links.append(link)
        if visit.status != "listed":
            break  # past the end of the listing, or a page that cannot be read
    return result


# --- the backfill's walk back through the listings ---------------------------------------------------

# The walk doubles the page number until the cards are older than --since: 2^20 pages is more
# than any archive (Kazinform's lenta has ~30,000), and bounds the walk at ~40 requests per listing.
MAX_LISTING_PAGE = 1 << 20


@dataclass(slots=True)
class BackfillWalk:
    """The ranges of listing pages whose cards fall in [since, until], and the pages asked for."""

    ranges: list[ListingRange] = field(default_factory=list)
    pages_asked: int = 0
    notes: list[str] = field(default_factory=list)  # listings left out, and why


async def _page_dates(
    fetcher: Fetcher, source: Source, listing: Listing, number: int
) -> tuple[datetime, datetime] | None:
    """(newest, oldest) card date of listing page `number`; None past the end of the listing, for a
    page that cannot be read, or one whose cards show no date."""
    fetch = await fetcher.fetch(listing.page(number))
    links, visit, _ = read_listing_page(fetch, source, listing)
    if visit.status != "listed":
        return None
    dates = [d for d in (card_date(link, fetch.fetched_at) for link in links) if d is not None]
    return (max(dates), min(dates)) if dates else None


async def walk_listing(
    fetcher: Fetcher,
    source: Source,
    edition: str,
    index: int,
    since: datetime,
    until: datetime | None,
    pages_per_run: int,
) -> tuple[list[ListingRange], int]:
    """The page ranges of one listing holding cards dated in [since, until], found by doubling the
    page number until the cards are older than `since`, then halving the gap: ~2·log2(pages)
    requests, not one per page. Listings are newest first."""
    listing = source.edition(edition).listings[index]
    cache: dict[int, tuple[datetime, datetime] | None] = {}

    async def dates(number: int) -> tuple[datetime, datetime] | None:
        if number not in cache:
            cache[number] = await _page_dates(fetcher, source, listing, number)
        return cache[number]

    async def too_old(number: int) -> bool:  # or past the end
        found = await dates(number)
        return found is None or found[0] < since

    async def first_where(predicate: Any, low: int, high: int) -> int:
        """The first page in (low, high] where `predicate` holds, given it holds at `high` and
        (monotone) from there on."""
        while high - low > 1:
            middle = (low + high) // 2
            if await predicate(middle):
                high = middle
            else:
                low = middle
        return high

    if await too_old(1):
        return [], len(cache)
    low, high = 1, 2
    while not await too_old(high):
        low, high = high, high * 2
        if high > MAX_LISTING_PAGE:
            high = MAX_LISTING_PAGE + 1
            break
    last = await first_where(too_old, low, high) - 1
    first = 1
    if until is not None:

        async def too_new(number: int) -> bool:
            found = await dates(number)
            return found is not None and found[1] > until

        if await too_new(1):
            if await too_new(last):
                return [], len(cache)
            first = await first_where(lambda n: _not(too_new(n)), 1, last)
    since_text = since.isoformat()
    until_text = until.isoformat() if until else None
    ranges = [
        ListingRange(edition, index, start, min(start + pages_per_run - 1, last), since_text, until_text)
        for start in range(first, last + 1, pages_per_run)
    ]
    return ranges, len(cache)


async def _not(awaitable: Any) -> bool:
    return not await awaitable


async def walk_back(
    source_name: str,
    since: datetime,
    until: datetime | None = None,
    pages_per_run: int = PAGES_PER_STAGE_RUN,
    rate_per_host: float | None = None,
    logger: Logger | None = None,
) -> BackfillWalk:
    """Every listing of every edition of the source, walked back to `since`; the source's hosts'
    slots are held meanwhile, as a stage run holds them."""
    log = logger or logging.getLogger("kazinform.backfill")
    source = get_source(source_name)
    walk = BackfillWalk()
    config = fetch_config(source, rate_per_host, None)
    async with (
        holding_hosts(host_limit_names(source.name), log),
        Fetcher.for_source(source, config) as fetcher,
    ):
        for edition in source.editions:
            if not edition.listings:
                walk.notes.append(f"{source.name} {edition.code}: no listing pages (feeds only)")
            for index in range(len(edition.listings)):
                ranges, asked = await walk_listing(
                    fetcher, source, edition.code, index, since, until, pages_per_run
                )
                walk.pages_asked += asked
                walk.ranges.extend(ranges)
                if not ranges:
                    walk.notes.append(f"{source.name} {edition.code}: no cards in the range")
    return walk


# --- the stage run -------------------------------------------------------------------------------


@flow(name=STAGE_FLOW)
async def stage_source(
    warehouse_path: str,
    source: str,
    plan_url: str,
    packages_url: str | None = None,
    revisit: str = "due",
    max_pages: int = 3,
    rate_per_host: float | None = None,
    concurrency_per_host: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_duration_s: float | None = None,
    deadline_at: float | None = None,
    max_links_per_page: int = MAX_LINKS_PER_PAGE,
    discover: bool = True,
    edition: str | None = None,
    listing: int = 0,
    first_page: int | None = None,
    last_page: int | None = None,
    since: str | None = None,
    until: str | None = None,
) -> CrawlSummary:
    """Crawl one source into load packages, holding its hosts' slots for the whole run.

    `plan_url`: the plan the fan-out wrote (flows.crawl_pipeline.plan_crawl as JSON).
    `packages_url`: where packages go (a folder or fsspec URL); None: the warehouse's store.
    `deadline_at` (epoch seconds): no request starts after it, whenever the run started (a run
    queued behind a host slot gets what is left). `edition` with `first_page`..`last_page`: only
    those listing pages (a backfill), their cards dated in `since`..`until`, no feeds."""
    logger = get_run_logger()
    run_id = current_run_id()
    plan = await asyncio.to_thread(read_plan, plan_url, source)
    source_name = get_source(source).name
    pages = None
    if edition is not None:
        first = first_page or 1
        pages = ListingRange(edition, listing, first, last_page or first, since, until)
    async with holding_hosts(host_limit_names(source_name), logger):
        started = time.monotonic()
        limits = [
            s
            for s in (max_duration_s, None if deadline_at is None else deadline_at - time.time())
            if s is not None
        ]
        options = CrawlOptions(
            revisit=revisit,
            max_pages=max_pages,
            rate_per_host=rate_per_host,
            concurrency_per_host=concurrency_per_host,
            batch_size=batch_size,
            max_duration_s=max(0.0, min(limits)) if limits else None,
            max_links_per_page=max_links_per_page,
            discover=discover,
        )

        def discover_step(
            src: Source, fetcher: Fetcher, plan_: CrawlPlan, max_pages_: int, max_links: int
        ) -> Any:
            if pages is None:
                return TASK_STEPS.discover(src, fetcher, plan_, max_pages_, max_links)
            return discover_range(src, fetcher, plan_, pages, max_links)

        steps = replace(
            TASK_STEPS,
            plan=lambda *_: plan,  # computed by the fan-out, which can read the warehouse
            discover=discover_step,
            load=lambda _path, run, visits: stage_package(
                warehouse_path, packages_url, run, source_name, untouched(visits)
            ),
        )
        summary, times = await run_crawl(
            [source_name], Path(warehouse_path), run_id, steps, options, started=started
        )
    logger.info(
        "stage run of %s: %s; %.1f s", source_name, times.describe("fetch and parse"), summary.elapsed_s
    )
    return summary


# --- the fan-out -----------------------------------------------------------------------------------


@dataclass(slots=True)
class StageRun:
    source: str
    flow_run_id: str
    unit: dict[str, Any] = field(default_factory=dict)  # a backfill's edition and pages
    state: str = "SCHEDULED"
    message: str | None = None

    def describe(self) -> str:
        pages = ""
        if self.unit.get("edition"):
            pages = f" {self.unit['edition']} pages {self.unit['first_page']}–{self.unit['last_page']}"
        note = f" ({self.message})" if self.message and self.state != "COMPLETED" else ""
        return f"{self.source}{pages}: {self.state.lower()}{note} — run {self.flow_run_id}"


@dataclass(slots=True)
class FanoutReport:
    run_id: str
    runs: list[StageRun] = field(default_factory=list)
    waited_s: float = 0.0
    deadline_passed: bool = False
    loaded: Any = None  # the loader's report (flows.loader.LoaderReport), when it ran

    @property
    def all_completed(self) -> bool:
        return all(run.state == "COMPLETED" for run in self.runs)

    def to_text(self) -> str:
        lines = [f"Crawl fan-out {self.run_id}: {len(self.runs)} stage runs, waited {self.waited_s:.0f} s"]
        lines += ["  " + run.describe() for run in self.runs]
        if self.deadline_passed:
            lines.append("  the wait's deadline passed: runs not finished load with the next loader run")
        if self.loaded is not None:
            lines.append(f"  loader: {self.loaded}")
        return "\n".join(lines)


def stage_units(
    source_names: Sequence[str], units: Sequence[dict[str, Any]] | None
) -> list[tuple[str, dict[str, Any]]]:
    """(source, extra parameters) per stage run: one per source, or the backfill's units."""
    if units:
        return [(str(unit["source"]), {k: v for k, v in unit.items() if k != "source"}) for unit in units]
    names = list(source_names) or [source.name for source in all_sources()]
    return [(get_source(name).name, {}) for name in names]


async def _states(flow_run_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        found = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in flow_run_ids]))
        )
    return {
        str(run.id): (
            run.state.type.value if run.state else "SCHEDULED",
            run.state.message if run.state else None,
        )
        for run in found
    }


def run_loader(warehouse_path: str, store: PackageStore, logger: Logger) -> Any:
    """The loader (flows.loader.load_ready): every ready package, oldest first."""
    from flows.loader import load_ready

    return load_ready(warehouse_path, store=store, logger=logger)


@flow(name=FANOUT_FLOW)
async def crawl_fanout(
    warehouse_path: str,
    sources: list[str] | None = None,
    revisit: str = "due",
    max_pages: int = 3,
    rate_per_host: float | None = None,
    concurrency_per_host: int | None = None,
    max_duration_s: float | None = None,
    max_links_per_page: int = MAX_LINKS_PER_PAGE,
    discover: bool = True,
    units: list[dict[str, Any]] | None = None,
    packages_url: str | None = None,
    deployment: str = STAGE_DEPLOYMENT,
    load: bool = True,
) -> FanoutReport:
    """One `stage-source` run per source (default: every registered one), or per unit of a
    backfill (`units`: dicts of `source`, `edition`, `listing`, `first_page`, `last_page`,
    `since`, `until`); wait for them until `max_duration_s` (+ FINISH_GRACE_S); report each run's
    state; then load the ready packages (`load=False` leaves it to the `load-packages` trigger)."""
    from prefect.deployments import run_deployment

    logger = get_run_logger()
    run_id = current_run_id()
    started = time.monotonic()
    store = package_store(warehouse_path, packages_url)
    deadline_at = None if max_duration_s is None else time.time() + max_duration_s
    wait_s = DEFAULT_WAIT_S if max_duration_s is None else max_duration_s + FINISH_GRACE_S
    report = FanoutReport(run_id)
    plans: dict[str, str] = {}
    for number, (name, unit) in enumerate(stage_units(sources or [], units)):
        if name not in plans:  # one plan per source, shared by its units
            plan = await asyncio.to_thread(
                plan_crawl, Path(warehouse_path), get_source(name), revisit, max_pages, discover
            )
            plans[name] = await asyncio.to_thread(write_plan, store, run_id, name, plan)
        parameters = {
            "warehouse_path": warehouse_path,
            "source": name,
            "plan_url": plans[name],
            "packages_url": store.url,  # where this loader reads, whatever the worker's settings
            "revisit": "none" if unit else revisit,  # a backfill's units fetch their pages only
            "max_pages": max_pages,
            "rate_per_host": rate_per_host,
            "concurrency_per_host": concurrency_per_host,
            "max_duration_s": max_duration_s,
            "deadline_at": deadline_at,
            "max_links_per_page": max_links_per_page,
            "discover": discover,
            **unit,
        }
        flow_run = await run_deployment(
            deployment,
            parameters=parameters,
            timeout=0,
            flow_run_name=f"{name}-{number + 1}" if unit else name,
        )
        report.runs.append(StageRun(name, str(flow_run.id), unit))
        logger.info("started stage run %s for %s", flow_run.id, name)

    while True:
        states = await _states([run.flow_run_id for run in report.runs])
        for run in report.runs:
            run.state, run.message = states.get(run.flow_run_id, (run.state, run.message))
        if all(run.state in FINAL_STATES for run in report.runs):
            break
        if time.monotonic() - started > wait_s:
            report.deadline_passed = True
            break
        await asyncio.sleep(POLL_EVERY_S)
    report.waited_s = time.monotonic() - started
    for run in report.runs:
        logger.info("%s", run.describe())
    if load:
        report.loaded = await asyncio.to_thread(run_loader, warehouse_path, store, logger)
    if not report.deadline_passed:
        await asyncio.to_thread(remove_plans, store, run_id)
    return report


FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
