"""A crawl spread over two real `prefect worker start` processes of one process work pool: the
session's Prefect server, `kazinform deploy --pool`, the replica with two sources, `kazinform
fanout` and `kazinform backfill` as a user runs them, and the warehouse compared with a
single-process `kazinform crawl` of the same replica."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from flows.host_limits import host_limit_names
from replica import ReplicaSite, serve
from test_serve import KAZINFORM, PREFECT, child_env, deployments_of, query, running, wait_for
from test_stage_flow import hold_window

SOURCES = ["kazinform", "tengrinews"]
# Bounds on a loaded 2-core machine: each stage run is a process of its own that imports Prefect
# and the project (5–15 s) before it crawls; the crawl itself at no rate limit takes seconds.
COMMAND_WITHIN_S = 600
WORKER_READY_WITHIN_S = 120.0
LOGS_WITHIN_S = 60.0


def kazinform(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [KAZINFORM, *args], env=env, capture_output=True, text=True, timeout=COMMAND_WITHIN_S
    )
    return done, time.monotonic() - started


def visits_by_key(warehouse: Path) -> list[tuple]:
    """What was visited and what came of it, without run ids or times."""
    return query(
        warehouse,
        "select source, coalesce(article_id, url), outcome from visits order by all",
    )


def versions_of(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "select source, article_id, version, title, md5(body), published_at from article_versions "
        "order by all",
    )


def articles_of(warehouse: Path) -> list[tuple]:
    return query(warehouse, "select source, article_id, title, url from articles order by all")


async def _runs_of_flow(flow_name: str, warehouse: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
    return [r for r in runs if (r.parameters or {}).get("warehouse_path") == warehouse]


def stage_runs(warehouse: Path) -> list[Any]:
    return asyncio.run(_runs_of_flow("stage-source", str(warehouse.resolve())))


def submitted_by(worker_log: str) -> set[str]:
    """Flow run ids a worker says it submitted (its own output). Two workers polling one pool may
    both start submitting the same run; the server lets one through and the other logs that it
    aborted the submission: that run is not the second worker's."""
    submitting = set(re.findall(r"[Ss]ubmitting flow run '([0-9a-f-]{36})'", worker_log))
    aborted = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", worker_log))
    return submitting - aborted


def test_a_crawl_fans_out_over_two_workers_and_equals_one_process(prefect_api: str, tmp_path: Path) -> None:
    site = ReplicaSite.generate_all(n_articles=60, seed=21, other_articles=40)
    with serve(site) as base_url:
        env = child_env(KAZINFORM_BASE_URL=base_url)
        spread, single = tmp_path / "spread" / "w.duckdb", tmp_path / "single" / "w.duckdb"
        spread.parent.mkdir()
        single.parent.mkdir()
        pool = f"kazinform-workers-{uuid.uuid4().hex[:8]}"

        deploy, _ = kazinform(
            "deploy", "--pool", pool, "--warehouse", str(spread), "--crawl-rate", "0", env=env
        )
        assert deploy.returncode == 0, deploy.stderr
        found = deployments_of(spread)
        assert {"stage-source", "crawl-fanout"} <= set(found), sorted(found)
        assert found["stage-source"].work_pool_name == pool
        # nothing here should run by itself while the test measures: the schedules are paused
        asyncio.run(_pause([d.id for d in found.values() if d.schedules]))

        # one flow run at a time per worker: a run waiting for a worker goes to the other
        worker = [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--limit", "1"]
        with (
            running([*worker, "--name", "w1"], tmp_path / "w1.log", env) as w1,
            running([*worker, "--name", "w2"], tmp_path / "w2.log", env) as w2,
        ):
            wait_for(
                lambda: w1.alive() and w2.alive() and _workers_polling(pool) >= 2,
                WORKER_READY_WITHIN_S,
                "two workers polling the pool",
            )
            fanout, fanout_s = kazinform(
                "fanout", *SOURCES, "--warehouse", str(spread), "--rate", "0", "--max-pages", "10", env=env
            )
            assert fanout.returncode == 0, (fanout.stdout, fanout.stderr[-3000:])
            runs = stage_runs(spread)
            # a run per part of a source that shares no host: Kazinform's one, Tengrinews's three
            assert len(runs) == 4 and all(r.state.is_completed() for r in runs), runs
            assert {r.parameters["source"] for r in runs} == set(SOURCES)
            assert all(r.work_pool_name == pool for r in runs)
            by_worker = {name: submitted_by(w.output()) for name, w in (("w1", w1), ("w2", w2))}
            assert {str(r.id) for r in runs} <= by_worker["w1"] | by_worker["w2"], by_worker

            # a backfill of one source in runs of one listing page: both workers take runs of one host
            oldest = min(a.published_at for a in site.live_articles("ru"))
            backfill, backfill_s = kazinform(
                "backfill",
                "kazinform",
                "--since",
                oldest.date().isoformat(),
                "--pages-per-run",
                "1",
                "--warehouse",
                str(spread),
                "--rate",
                "0",
                env=env,
            )
            assert backfill.returncode == 0, (backfill.stdout, backfill.stderr[-3000:])
            all_runs = stage_runs(spread)
            backfill_runs = [r for r in all_runs if r.parameters.get("edition")]
            assert len(backfill_runs) >= 2 and all(r.state.is_completed() for r in backfill_runs)
            by_worker = {name: submitted_by(w.output()) for name, w in (("w1", w1), ("w2", w2))}

        windows = {
            str(r.id): wait_for(lambda r=r: hold_window(str(r.id)), LOGS_WITHIN_S, "slot logs")
            for r in all_runs
        }
        # the same replica crawled in one process: the same articles, versions and visits
        # (the backfill only found what the first crawl had: a backfill loads no new article here)
        crawl, crawl_s = kazinform(
            "crawl", *SOURCES, "--warehouse", str(single), "--rate", "0", "--max-pages", "10", env=env
        )
        assert crawl.returncode == 0, crawl.stderr[-3000:]
    # both workers ran stage runs
    ran = {name: ids & set(windows) for name, ids in by_worker.items()}
    assert all(ran.values()), ran
    # no two stage runs of one host held their slot at once
    hosts = {
        str(r.id): set(host_limit_names(r.parameters["source"], r.parameters.get("editions")))
        for r in all_runs
    }
    for one in all_runs:
        for other in all_runs:
            if one.id != other.id and hosts[str(one.id)] & hosts[str(other.id)]:
                (start, end), (other_start, other_end) = windows[str(one.id)], windows[str(other.id)]
                assert end <= other_start or other_end <= start, (one.name, other.name)

    assert articles_of(spread) == articles_of(single)
    assert versions_of(spread) == versions_of(single)
    first_fanout = {str(r.id) for r in runs}
    assert visits_of_runs(spread, first_fanout) == visits_by_key(single)
    print(
        f"fan-out over 2 workers {fanout_s:.1f} s, single-process crawl {crawl_s:.1f} s, "
        f"backfill in {len(backfill_runs)} runs {backfill_s:.1f} s; {len(articles_of(single))} articles"
    )


def visits_of_runs(warehouse: Path, run_ids: set[str]) -> list[tuple]:
    placeholders = ", ".join("?" for _ in run_ids)
    return query(
        warehouse,
        f"select source, coalesce(article_id, url), outcome from visits where run_id in ({placeholders}) "
        "order by all",
        sorted(run_ids),
    )


async def _pause(deployment_ids: list[Any]) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for deployment_id in deployment_ids:
            await client.pause_deployment(deployment_id)


def _workers_polling(pool: str) -> int:
    async def count() -> int:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return len(await client.read_workers_for_work_pool(pool))

    return asyncio.run(count())
