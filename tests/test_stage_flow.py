"""The stage side of a crawl spread over workers (flows/stage_flow.py), run in this process against
the session's Prefect server and the replica: the plan handed over as JSON, packages instead of
the warehouse, the per-host slot, and the backfill's walk back through a listing."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crawler.discover import links_from_listing
from flows.backfill import walk_back
from flows.crawl_pipeline import CrawlOptions, crawl_without_prefect, plan_crawl
from flows.host_limits import HOST_LIMIT_PREFIX, host_limit_names
from flows.pages import CrawlPlan
from flows.stage_flow import stage_source
from flows.stage_plans import PlanError, plan_from_json, plan_to_json, read_plan, write_plan
from parsers.dates import parse_shown_date
from parsers.registry import get_source, registered
from replica import ReplicaSite, serve
from warehouse.db import open_writer
from warehouse.packages import PackageStore, load_waiting_packages

LOGS_WITHIN_S = 60.0


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


async def _logs_of(flow_run_id: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        return await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )


def hold_window(flow_run_id: str) -> tuple[datetime, datetime] | None:
    """When the stage run held its hosts' slots: its "holding" and "releasing" log lines' times."""
    logs = asyncio.run(_logs_of(flow_run_id))
    held = [log.timestamp for log in logs if log.message.startswith("holding host:")]
    released = [log.timestamp for log in logs if log.message.startswith("releasing host:")]
    return (held[0], released[0]) if held and released else None


def wait_for(condition: Any, deadline_s: float, what: str) -> Any:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {deadline_s:.0f} s")


# --- no server -------------------------------------------------------------------------------------


def test_a_plan_goes_through_json_unchanged(tmp_path: Path) -> None:
    plan = CrawlPlan(
        known_ids={"a1", "b2"},
        deleted_ids={"b2"},
        revisit=[("a1", "https://kazinform.kz/ru/x-a1")],
        validators={"https://kazinform.kz/ru/x-a1": ('"etag"', None), "https://f/rss": (None, "Mon")},
        tags=frozenset({"Астана", "economy"}),
    )
    assert plan_from_json(plan_to_json(plan, "kazinform", "r1"), "kazinform") == plan
    store = PackageStore(tmp_path / "store")
    url = write_plan(store, "run-1", "kazinform", plan)
    assert url.endswith("plans/run-1/kazinform.json") and Path(url).is_file()
    assert read_plan(url, "kazinform") == plan
    assert store.ready() == []  # a plan is not a package
    with pytest.raises(PlanError, match="not 'tengrinews'"):
        read_plan(url, "tengrinews")
    with pytest.raises(PlanError, match="cannot read the plan"):
        read_plan(str(tmp_path / "missing.json"), "kazinform")


def test_host_limits_name_the_hosts_of_the_source_also_on_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = sorted(HOST_LIMIT_PREFIX + host for host in registered()["kazinform"].hosts)
    assert host_limit_names("kazinform") == expected
    monkeypatch.setenv("KAZINFORM_BASE_URL", "http://127.0.0.1:9")
    assert host_limit_names("kazinform") == expected  # not "host:127.0.0.1"
    assert not set(host_limit_names("kazinform")) & set(host_limit_names("tengrinews"))


# --- against the server and the replica -----------------------------------------------------------


@pytest.fixture
def sites(monkeypatch: pytest.MonkeyPatch, prefect_api: str):
    site = ReplicaSite.generate_all(n_articles=40, seed=11, other_articles=20)
    with serve(site) as base_url:
        monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)
        yield site, base_url


def test_a_stage_run_never_opens_the_warehouse(sites, tmp_path: Path) -> None:
    """The plan is made where the warehouse is; the stage run is given a warehouse path that does
    not exist on its side and still crawls from the plan into packages, which load into the real
    warehouse as the edits they hold."""
    site, _ = sites
    warehouse = tmp_path / "w.duckdb"
    options = CrawlOptions(revisit="all", max_pages=10, rate_per_host=0)
    crawl_without_prefect(["kazinform"], str(warehouse), "first", options)
    edited = site.live_articles()[0].article_id
    site.edit(edited, title="Заголовок исправлен")

    store = PackageStore(tmp_path / "store")
    plan = plan_crawl(warehouse, get_source("kazinform"), "all", 10)
    assert plan.known_ids and plan.validators  # the plan carries what only the warehouse knows
    plan_url = write_plan(store, "parent", "kazinform", plan)
    nowhere = tmp_path / "not-on-this-machine" / "w.duckdb"
    summary = asyncio.run(
        stage_source(
            str(nowhere),
            "kazinform",
            plan_url,
            packages_url=store.url,
            revisit="all",
            max_pages=10,
            rate_per_host=0,
        )
    )
    assert not nowhere.parent.exists()
    refs = store.ready()
    assert refs and summary.counts["pending"] == sum(store.manifest(r).visits for r in refs)
    assert {store.manifest(r).source for r in refs} == {"kazinform"}

    with open_writer(warehouse) as connection:
        load_waiting_packages(connection, store, log=lambda _: None)
    assert store.ready() == []
    outcomes = dict(
        rows(warehouse, f"select outcome, count(*) from visits where run_id = '{summary.run_id}' group by 1")
    )
    # validators from the plan: unchanged pages answer 304; the edited one is a new version
    assert outcomes.get("changed") == 1 and outcomes.get("not_modified", 0) > 0, outcomes
    assert outcomes.get("created", 0) == 0, outcomes
    (title,) = rows(warehouse, f"select title from articles where article_id = '{edited}'")[0]
    assert title == "Заголовок исправлен"


def test_two_stage_runs_of_one_host_take_turns(sites, tmp_path: Path) -> None:
    """Two stage runs of one source started together: the second holds the host's slot only after
    the first released it."""
    store = PackageStore(tmp_path / "store")
    plan_url = write_plan(store, "parent", "kazinform", CrawlPlan())
    warehouse = str(tmp_path / "w.duckdb")

    async def both() -> list[Any]:
        return await asyncio.gather(
            *(
                stage_source(
                    warehouse, "kazinform", plan_url, packages_url=store.url, max_pages=2, rate_per_host=0
                )
                for _ in range(2)
            )
        )

    first, second = asyncio.run(both())
    windows = [
        wait_for(lambda run=run: hold_window(run.run_id), LOGS_WITHIN_S, "the run's slot logs")
        for run in (first, second)
    ]
    (a_start, a_end), (b_start, b_end) = sorted(windows)
    assert a_end <= b_start, windows  # never both at once
    assert not Path(warehouse).exists()


def _expected_pages(site: ReplicaSite, base_url: str, since: datetime) -> list[int]:
    """Every page of the ru lenta read one by one: those with a card dated since `since`."""
    source = get_source("kazinform", base_url)
    listing = source.edition("ru").listings[0]
    pages = []
    for number in range(1, 1000):
        path, _, query = listing.page(number).removeprefix(base_url).partition("?")
        answer = site.respond("GET", path, query, {}, base_url)
        if answer.status != 200:
            return pages
        links = links_from_listing(answer.body, listing.page(number), source, listing)
        if not links:
            return pages
        if max(parse_shown_date(link.published_text) for link in links) >= since:
            pages.append(number)
    raise AssertionError("the listing has no end")


def test_backfill_walk_finds_the_pages_back_to_a_date(prefect_api: str, monkeypatch, tmp_path: Path) -> None:
    site = ReplicaSite.generate(n_articles=400, seed=3)
    with serve(site) as base_url:
        monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)
        ru = sorted(site.live_articles("ru"), key=lambda a: a.published_at, reverse=True)
        since = ru[len(ru) * 2 // 3].published_at.astimezone(UTC)  # two thirds of the way back
        expected = _expected_pages(site, base_url, since)
        assert len(expected) >= 4, expected
        asked_before = len(site.request_log)
        walk = asyncio.run(walk_back("kazinform", since, pages_per_run=2, rate_per_host=0))
        asked = [r.path for r in site.request_log[asked_before:] if "lenta" in r.path]
    ru_ranges = [r for r in walk.ranges if r.edition == "ru"]
    covered = [n for r in ru_ranges for n in range(r.first, r.last + 1)]
    assert covered == expected
    assert all(r.last - r.first + 1 <= 2 for r in ru_ranges)
    assert all(r.since == since.isoformat() for r in ru_ranges)
    assert walk.pages_asked == len(asked) > 0
