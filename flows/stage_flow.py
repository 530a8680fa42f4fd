"""A crawl spread over Prefect workers: `crawl-fanout` plans, `stage-source` fetches and parses.

- `crawl-fanout` (the parent, on the machine that can read the warehouse) computes each source's
  plan (flows.crawl_pipeline.plan_crawl: known and deleted ids, validators, revisits, tags), writes
  it as JSON into the package store (`plans/<run>/<source>.json`), starts one `stage-source` run per
  part of a source whose hosts no other part shares (crawl_units: Tengrinews's three editions are
  three runs, Kazinform's editions share www.inform.kz and are one), or per edition and range of
  listing pages for a backfill, with
  `run_deployment(..., timeout=0)`, waits for them until its deadline, reports each run's state,
  then loads the ready packages (flows.loader; the `load-packages` trigger does it too when served).
- `stage-source` (on any worker) reads its plan (flows.stage_plans), holds the Prefect global
  concurrency limit `host:<host>` (flows.host_limits) of every host of its part for the whole run,
  so two workers never crawl one host at once, and crawls with flows.crawl_pipeline.run_crawl, whose
  load step writes each batch as a load package and announces it (flows.package_step). It never
  opens the DuckDB file: a worker on another machine has none. A backfill's unit is a range of
  listing pages (flows.backfill).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from crawler.discover import MAX_LINKS_PER_PAGE
from crawler.fetch import Fetcher
from flows.backfill import ListingRange, discover_range
from flows.crawl import TASK_STEPS
from flows.crawl_pipeline import DEFAULT_BATCH_SIZE, CrawlOptions, CrawlSummary, plan_crawl, run_crawl
from flows.host_limits import Logger, holding_hosts, host_limit_names
from flows.package_step import staging_load
from flows.pages import CrawlPlan
from flows.stage_plans import package_store, read_plan, remove_plans, write_plan
from flows.tasks import current_run_id
from parsers.registry import all_sources, get_source, registered
from parsers.source import Source
from warehouse.packages import PackageStore

STAGE_FLOW = "stage-source"
FANOUT_FLOW = "crawl-fanout"
# The deployments `kazinform deploy --pool` registers (flows/serve.py: stage_deployment_plans).
STAGE_DEPLOYMENT = f"{STAGE_FLOW}/{STAGE_FLOW}"
FANOUT_DEPLOYMENT = f"{FANOUT_FLOW}/{FANOUT_FLOW}"

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
    editions: list[str] | None = None,
) -> CrawlSummary:
    """Crawl one source (or the part of it in `editions`) into load packages, holding its hosts'
    slots for the whole run.

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
    async with holding_hosts(host_limit_names(source_name, editions), logger):
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
            editions=tuple(editions) if editions else None,
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
            load=staging_load(warehouse_path, packages_url, source_name),
            keep=staging_load(warehouse_path, packages_url, source_name),
            load_kept=lambda _path: 0,  # a worker never opens the warehouse
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

    @property
    def label(self) -> str:
        if self.unit.get("edition"):
            unit = self.unit
            return f"{self.source} {unit['edition']} pages {unit['first_page']}–{unit['last_page']}"
        if self.unit.get("editions"):
            return f"{self.source} {'+'.join(self.unit['editions'])}"
        return self.source

    def describe(self) -> str:
        note = f" ({self.message})" if self.message and self.state != "COMPLETED" else ""
        return f"{self.label}: {self.state.lower()}{note} — run {self.flow_run_id}"


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
    """(source, extra parameters): each source (split by crawl_units once planned), or the backfill's
    units."""
    if units:
        return [(str(unit["source"]), {k: v for k, v in unit.items() if k != "source"}) for unit in units]
    names = list(source_names) or [source.name for source in all_sources()]
    return [(get_source(name).name, {}) for name in names]


def crawl_units(name: str, plan: CrawlPlan, discover: bool) -> list[dict[str, Any]]:
    """A crawl's stage runs of one source: one per group of editions that share no host
    (Source.host_groups), so that workers crawl a source's hosts side by side and still never one
    host twice at once; the plan's revisits go to the part holding their address. A part with no
    feed or listing to read and no revisit due gets no run. A source of one group is one run."""
    groups = registered()[name].host_groups()  # the declared hosts: on a mirror all are one
    if len(groups) == 1:
        return [{}]
    source = get_source(name)
    units = []
    for codes in groups:
        reads = discover and any(e.feeds or e.listings for e in source.part(codes).editions)
        if reads or any(source.in_part(codes, url) for _, url in plan.revisit):
            units.append({"editions": list(codes)})
    return units or [{}]


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
    """One `stage-source` run per part of a source that shares no host (crawl_units; default: every
    registered source), or per unit of a backfill (`units`: dicts of `source`, `edition`,
    `listing`, `first_page`, `last_page`, `since`, `until`); wait for them until `max_duration_s`
    (+ FINISH_GRACE_S); report each run's state; then load the ready packages (`load=False` leaves
    it to the `load-packages` trigger)."""
    from prefect.deployments import run_deployment

    logger = get_run_logger()
    run_id = current_run_id()
    started = time.monotonic()
    store = package_store(warehouse_path, packages_url)
    deadline_at = None if max_duration_s is None else time.time() + max_duration_s
    wait_s = DEFAULT_WAIT_S if max_duration_s is None else max_duration_s + FINISH_GRACE_S
    report = FanoutReport(run_id)
    plans: dict[str, tuple[CrawlPlan, str]] = {}  # per source: its plan and where it was written
    parts: list[tuple[str, dict[str, Any]]] = []
    for name, unit in stage_units(sources or [], units):
        if name not in plans:  # one plan per source, shared by its units
            plan = await asyncio.to_thread(
                plan_crawl, Path(warehouse_path), get_source(name), revisit, max_pages, discover
            )
            plans[name] = plan, await asyncio.to_thread(write_plan, store, run_id, name, plan)
        parts += [(name, unit)] if unit else [(name, u) for u in crawl_units(name, plans[name][0], discover)]
    for number, (name, unit) in enumerate(parts):
        parameters = {
            "warehouse_path": warehouse_path,
            "source": name,
            "plan_url": plans[name][1],
            "packages_url": store.url,  # where this loader reads, whatever the worker's settings
            "revisit": "none" if unit.get("edition") else revisit,  # a backfill's fetch their pages only
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
            flow_run_name=_run_name(name, unit, number),
        )
        report.runs.append(StageRun(name, str(flow_run.id), unit))
        logger.info("started stage run %s for %s", flow_run.id, report.runs[-1].label)

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


def _run_name(source: str, unit: dict[str, Any], number: int) -> str:
    if unit.get("editions"):
        return f"{source}-{'+'.join(unit['editions'])}"
    return f"{source}-{number + 1}" if unit else source


FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
