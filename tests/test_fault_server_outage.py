"""The test's own Prefect server stopped (SIGKILL of its process group) while a stage run crawls and
the loader works, then started again on the same port and database.

What "resume" means with Prefect 3.9, and what is asserted:
- The data path needs no API. The stage run in flight when the server went goes on fetching,
  writes its package during the outage (its `kazinform.package.ready` event is lost: announcing
  gives up after a few seconds) and ends. Its Prefect state is whatever its process managed to
  report; the data does not depend on it, so the test only says what it was.
- The loader run during the outage works: the one-writer gate falls back to the file lock, and
  the packages ready before the outage load.
- The worker process lives through the outage (its polls fail and are tried again) and, once the
  server is back, takes the next stage run of the pool: the same process, no restart.
- The packages staged during the outage wait in the store (their events were lost) and the next
  loader run (`kazinform packages load`, as the catch-up schedule runs it) loads them.
- Nothing is lost and nothing is doubled: every article of the replica's three sources is in the
  warehouse exactly once, with one version and one `created` visit.

Not asserted here: a stage run whose host-slot lease is due for renewal during the outage is
stopped by Prefect (the limit is strict); its batch is not staged and the next crawl fetches it
(see the lease test below for what a restart does to the lease itself).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.crawl_pipeline import plan_crawl
from flows.loader import load_ready
from flows.stage_plans import write_plan
from parsers.registry import get_source
from replica import ReplicaSite, serve
from test_fault_worker_killed import _pause_automations, asked_again, run_state
from test_prefect_outage import OwnServer
from test_serve import KAZINFORM, PREFECT, child_env, deployments_of, query, running, wait_for
from test_workers import _pause, _workers_polling, stage_runs, submitted_by
from warehouse.packages import PackageStore

SOURCES = ("kazinform", "tengrinews", "astanatimes")
IN_FLIGHT, BEFORE, AFTER = SOURCES  # crawled across the outage, before it, after it
# Kazinform's 150 articles at 80–160 ms a page over 2 connections take ~15 s to fetch: the server is
# killed in the middle. Tengrinews and The Astana Times (a third of it) are small and quick.
KAZINFORM_ARTICLES = 150
OTHER_ARTICLES = 30
LATENCY_MS = (80.0, 160.0)
SEED = 31
MAX_PAGES = 10  # listing pages per edition: every article of the replica is discovered
# Bounds on a loaded 2-core machine: a stage run is a process of its own that imports Prefect and
# the project (5–15 s); the one staged during the outage also waits out the lost announcement.
WORKER_READY_WITHIN_S = 120.0
STAGED_WITHIN_S = 180.0
RUN_DONE_WITHIN_S = 240.0


@contextmanager
def using_api(api_url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield


def start_stage_run(warehouse: Path, store: PackageStore, deployment_id: Any, source: str) -> str:
    """What `crawl-fanout` does for one source: plan from the warehouse, the plan into the store,
    one `stage-source` run on the pool."""
    from prefect.deployments import run_deployment

    plan = plan_crawl(warehouse, get_source(source), "due", MAX_PAGES, True)
    plan_url = write_plan(store, f"outage-{uuid.uuid4().hex[:8]}", source, plan)
    parameters = {
        "warehouse_path": str(warehouse.resolve()),
        "source": source,
        "plan_url": plan_url,
        "packages_url": store.url,
        "max_pages": MAX_PAGES,
        "rate_per_host": 0.0,
    }
    return str(run_deployment(deployment_id, parameters=parameters, timeout=0, flow_run_name=source).id)


def packages_of(store: PackageStore, run_id: str) -> list[str]:
    return [ref.package_id for ref in store.ready() if store.manifest(ref).run_id == run_id]


def expected_articles(site: ReplicaSite) -> set[tuple[str, str]]:
    found = {("kazinform", a.article_id) for a in site.live_articles()}
    for name in ("tengrinews", "astanatimes"):
        found |= {(name, a.article_id) for a in site.mounts[name].live_articles()}
    return found


def test_a_server_outage_mid_stage_run_loses_nothing_and_work_resumes(tmp_path: Path) -> None:
    server = OwnServer(tmp_path / "prefect-home")
    server.start()
    site = ReplicaSite.generate_all(
        n_articles=KAZINFORM_ARTICLES, seed=SEED, other_articles=OTHER_ARTICLES, latency_ms=LATENCY_MS
    )
    warehouse = tmp_path / "w.duckdb"
    store = PackageStore.for_warehouse(warehouse)
    pool = f"kazinform-outage-{uuid.uuid4().hex[:8]}"
    try:
        with serve(site) as base_url, using_api(server.api_url):
            env = child_env(KAZINFORM_BASE_URL=base_url, PREFECT_API_URL=server.api_url)
            deploy = subprocess.run(
                [KAZINFORM, "deploy", "--pool", pool, "--warehouse", str(warehouse), "--crawl-rate", "0"],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert deploy.returncode == 0, deploy.stderr[-3000:]
            found = deployments_of(warehouse)
            # the loader runs when the test says: the events of packages staged before the outage
            # would otherwise start load-packages runs on the worker at moments no one chose
            asyncio.run(_pause([d.id for d in found.values() if d.schedules]))
            asyncio.run(_pause_automations(found["load-packages"].id))
            stage = found["stage-source"].id

            # one worker taking two runs at once: the run before the outage and the one across it
            worker_args = [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--limit", "2"]
            with running([*worker_args, "--name", "outage"], tmp_path / "worker.log", env) as worker:
                wait_for(
                    lambda: worker.alive() and asked_again(lambda: _workers_polling(pool)) >= 1,
                    WORKER_READY_WITHIN_S,
                    "the worker",
                )
                before_id = start_stage_run(warehouse, store, stage, BEFORE)
                in_flight_id = start_stage_run(warehouse, store, stage, IN_FLIGHT)

                def mid_crawl() -> bool:
                    worker.alive()
                    return bool(packages_of(store, before_id)) and len(site.request_log) >= 20

                wait_for(
                    mid_crawl, STAGED_WITHIN_S, f"{BEFORE} staged and {IN_FLIGHT} fetching ({worker.log})"
                )
                server.kill()
                killed_at = time.monotonic()
                assert packages_of(store, in_flight_id) == [], f"{IN_FLIGHT} was done before the outage"
                requests_at_kill = len(site.request_log)

                # the loader during the outage: the gate falls back to the file lock
                during = load_ready(warehouse, store)
                assert during.error is None, during.to_text()
                assert [p.run_id for p in during.loaded] == [before_id], during.to_text()

                staged = wait_for(
                    lambda: worker.alive() and packages_of(store, in_flight_id),
                    STAGED_WITHIN_S,
                    f"{IN_FLIGHT}'s package staged during the outage ({worker.log})",
                )
                outage_s = time.monotonic() - killed_at
                assert len(site.request_log) > requests_at_kill  # it went on fetching
                server.start()  # the same port and database
                down_s = time.monotonic() - killed_at

                # the same worker process takes the next run
                after_id = start_stage_run(warehouse, store, stage, AFTER)

                def after_done() -> str | None:
                    worker.alive()
                    state = run_state(after_id)
                    return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

                after_state = wait_for(after_done, RUN_DONE_WITHIN_S, f"the run after ({worker.log})")
                assert after_state == "COMPLETED", worker.output()[-3000:]
                assert after_id in submitted_by(worker.output())
                in_flight_state = run_state(in_flight_id)

            runs = {str(r.id): r for r in asked_again(lambda: stage_runs(warehouse))}
            assert set(runs) == {before_id, in_flight_id, after_id}

            # the next loader run: what was staged during the outage, and after it
            loaded = subprocess.run(
                [KAZINFORM, "packages", "load", "--warehouse", str(warehouse)],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert loaded.returncode == 0, loaded.stderr[-3000:]
            for package_id in staged:
                assert package_id in loaded.stdout, loaded.stdout
            assert store.ready() == []
            in_flight_state_later = run_state(in_flight_id)
    finally:
        server.kill()

    # every article of the replica exactly once, with one version and one `created` visit
    expected = expected_articles(site)
    articles = query(warehouse, "select source, article_id, count(*) from articles group by all")
    assert {(source, article_id) for source, article_id, _ in articles} == expected
    assert {count for *_, count in articles} == {1}
    versions = query(warehouse, "select source, article_id, count(*) from article_versions group by all")
    assert {(s, a) for s, a, _ in versions} == expected and {c for *_, c in versions} == {1}
    created = query(
        warehouse, "select source, article_id, count(*) from visits where outcome = 'created' group by all"
    )
    assert {(s, a) for s, a, _ in created} == expected and {c for *_, c in created} == {1}
    by_run = dict(query(warehouse, "select run_id, count(*) from visits group by run_id"))
    assert set(by_run) == {before_id, in_flight_id, after_id}
    print(
        f"{len(expected)} articles; the server was down {down_s:.1f} s ({outage_s:.1f} s until the "
        f"in-flight run's package was staged); in-flight run's state after the return: "
        f"{in_flight_state}, after the next command: {in_flight_state_later}"
    )


def test_a_slot_held_across_a_server_restart_is_not_lost(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    server = OwnServer(tmp_path / "prefect-home")
    server.start()
    name = "host:restart.example"
    try:
        with using_api(server.api_url):

            async def hold() -> str:
                async with get_client() as client:
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=1)
                    )
                    taken = await client.increment_concurrency_slots_with_lease(
                        names=[name], slots=1, mode="concurrency", lease_duration=60
                    )
                    return taken.json()["lease_id"]

            lease_id = asyncio.run(hold())
            server.kill()
            server.start()

            async def renew() -> None:
                async with get_client() as client:
                    await client.renew_concurrency_lease(lease_id=uuid.UUID(lease_id), lease_duration=60)

            asyncio.run(renew())  # the holder goes on renewing; a lost lease answers 410 Gone
    finally:
        server.kill()
