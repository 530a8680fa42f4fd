"""A worker killed in the middle of a stage run, as when its machine dies: the worker's process
group and every process under it (the flow run's own process included) get SIGKILL at once.

What is shown, on the session's Prefect server, a real process work pool and the replica with a
network latency (so the stage run lasts long enough to be cut in the middle):
- a package is ready only when complete: the killed run's packages written before the kill are
  complete and load; nothing of its unfinished batch ever reaches the warehouse;
- the stage run re-run with the same parameters (the same plan) produces the lost part again, on
  the other worker, once the killed run's host slot has freed itself (its lease runs out);
- afterwards the warehouse holds the same articles and versions as a clean single-process crawl
  of the same replica, and the same visits, apart from the re-run's second visits of the pages the
  killed run had already staged (`unchanged`: seen before, nothing new).

What Prefect shows of the killed run: RUNNING after the kill, and still RUNNING once the re-run
has completed: neither the server nor the other worker notices. The stage run noted itself in the
worker's PREFECT_HOME (flows.run_guard), so the next `kazinform` command started on the worker's
machine with that PREFECT_HOME (here `kazinform packages load`) marks it CRASHED; with the worker on
a machine where no `kazinform` command runs, the run stays RUNNING until one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from replica import ReplicaSite, serve
from test_serve import (
    KAZINFORM,
    PREFECT,
    _automations_of,
    child_env,
    deployments_of,
    query,
    running,
    wait_for,
)
from test_workers import (
    _pause,
    _workers_polling,
    kazinform,
    stage_runs,
    submitted_by,
    versions_of,
)
from warehouse.packages import PackageStore

T = TypeVar("T")

SOURCE = "kazinform"
# Pages of 100–300 KB: a load package is written every 32 MB of pages (CRAWL_RAW_BYTES_PER_LOAD),
# so 300 articles make two packages or more, and the kill lands after the first, before the last.
ARTICLES = 300
PAGE_SIZE = "real"
# A network's round trips: with 2 connections per host the stage run fetches ~15 pages/s, so the
# first package is ready some 10 s in and the run goes on for several seconds more.
LATENCY_MS = (50.0, 150.0)
SEED = 13
MAX_PAGES = "10"  # listing pages per edition: every article of the replica is discovered
# Bounds on a loaded 2-core machine. A stage run is a process of its own that imports Prefect and
# the project (5–15 s) before it crawls; the re-run waits for the killed run's host slot: its
# lease (60 s) runs out and the server's repossessor (every 15 s) frees it.
WORKER_READY_WITHIN_S = 120.0
FIRST_PACKAGE_WITHIN_S = 240.0
RERUN_DONE_WITHIN_S = 360.0
KILLED_WITHIN_S = 30.0


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (from /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(0), [])
        found += children
        queue += children
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as dead)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_machine(worker_pid: int) -> list[int]:
    """SIGKILL the worker's process group and the group of every process under it: Prefect 3.9's
    process worker may start a flow run in a session of its own, which the worker's group alone
    would miss. Returns the processes killed besides the worker."""
    under = descendants(worker_pid)
    groups = {worker_pid}
    for pid in under:
        with contextlib.suppress(ProcessLookupError):  # gone already
            groups.add(os.getpgid(pid))
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    return under


def killed_run_packages(store: PackageStore, run_id: str) -> dict[str, int]:
    """Package id → visits of the ready packages the run wrote."""
    packages = (store.manifest(ref) for ref in store.ready())
    return {p.package_id: p.visits for p in packages if p.run_id == run_id}


# A server busy with several processes' runs (SQLite underneath) may answer one request 500 or miss
# a connection: it is asked again, this many times, a second apart.
SERVER_ERROR_ATTEMPTS = 5


def asked_again(call: Callable[[], T]) -> T:
    """`call()`, asked again after a 5xx answer of a busy server or a connection it missed."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    for attempt in range(SERVER_ERROR_ATTEMPTS):
        try:
            return call()
        except (PrefectHTTPStatusError, httpx.ConnectError) as error:
            server_error = not isinstance(error, PrefectHTTPStatusError) or error.response.status_code >= 500
            if not server_error or attempt == SERVER_ERROR_ATTEMPTS - 1:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


def run_state(flow_run_id: str) -> str:
    async def read() -> str:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            run = await client.read_flow_run(uuid.UUID(flow_run_id))
        return run.state.type.value if run.state else "NONE"

    return asked_again(lambda: asyncio.run(read()))


def rerun(deployment_id: Any, parameters: dict[str, Any]) -> str:
    from prefect.deployments import run_deployment

    key = f"rerun-{uuid.uuid4().hex}"  # asked again after a 500: still one run

    def start() -> str:
        run = run_deployment(
            deployment_id, parameters=parameters, timeout=0, flow_run_name="rerun", idempotency_key=key
        )
        return str(run.id)

    return asked_again(start)


async def _pause_automations(deployment_id: Any) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for automation in await _automations_of(deployment_id):
            await client.pause_automation(automation.id)


# The clean crawl reads the twin replica on another port: addresses are compared without it.
PATH_OF_URL = "regexp_replace(url, '^[a-z]+://[^/]+', '')"


def visits_by_key(warehouse: Path, run_id: str | None = None) -> list[tuple]:
    """What was visited (the article, else the page's path) and what came of it."""
    where = "" if run_id is None else "where run_id = ?"
    return query(
        warehouse,
        f"select source, coalesce(article_id, {PATH_OF_URL}), outcome from visits {where} order by all",
        [] if run_id is None else [run_id],
    )


def articles_of(warehouse: Path) -> list[tuple]:
    return query(warehouse, f"select source, article_id, title, {PATH_OF_URL} from articles order by all")


def test_a_worker_killed_mid_stage_run_loses_nothing_and_the_rerun_restages_it(
    prefect_api: str, tmp_path: Path
) -> None:
    site = ReplicaSite.generate_all(
        n_articles=ARTICLES, seed=SEED, other_articles=3, page_size=PAGE_SIZE, latency_ms=LATENCY_MS
    )
    twin = ReplicaSite.generate_all(n_articles=ARTICLES, seed=SEED, other_articles=3, page_size=PAGE_SIZE)
    spread, single = tmp_path / "spread" / "w.duckdb", tmp_path / "single" / "w.duckdb"
    spread.parent.mkdir()
    single.parent.mkdir()
    pool = f"kazinform-kill-{uuid.uuid4().hex[:8]}"
    store = PackageStore.for_warehouse(spread)
    with serve(site) as base_url, serve(twin) as twin_url:
        env = child_env(KAZINFORM_BASE_URL=base_url)
        # the clean crawl of the same replica (its twin, without the latency) goes on meanwhile
        clean = subprocess.Popen(
            [KAZINFORM, "crawl", SOURCE, "--warehouse", str(single), "--rate", "0", "--max-pages", MAX_PAGES],
            env=child_env(KAZINFORM_BASE_URL=twin_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            deploy, _ = kazinform(
                "deploy", "--pool", pool, "--warehouse", str(spread), "--crawl-rate", "0", env=env
            )
            assert deploy.returncode == 0, deploy.stderr
            found = asked_again(lambda: deployments_of(spread))
            # nothing runs by itself: no schedule, and the loader only when the test says (so that
            # reading the warehouse never races a loader the package events would start)
            asked_again(lambda: asyncio.run(_pause([d.id for d in found.values() if d.schedules])))
            asked_again(lambda: asyncio.run(_pause_automations(found["load-packages"].id)))

            fanout_args = ["--warehouse", str(spread), "--rate", "0", "--max-pages", MAX_PAGES, "--no-load"]
            worker = [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--limit", "1"]
            with (
                running([*worker, "--name", "w1"], tmp_path / "w1.log", env) as w1,
                running([*worker, "--name", "w2"], tmp_path / "w2.log", env) as w2,
                running([KAZINFORM, "fanout", SOURCE, *fanout_args], tmp_path / "fanout.log", env) as fanout,
            ):
                wait_for(
                    lambda: w1.alive() and w2.alive() and asked_again(lambda: _workers_polling(pool)) >= 2,
                    WORKER_READY_WITHIN_S,
                    "two workers polling the pool",
                )

                def first_package() -> dict[str, int] | None:
                    fanout.alive()
                    runs = asked_again(lambda: stage_runs(spread))
                    if len(runs) != 1:
                        return None
                    return killed_run_packages(store, str(runs[0].id)) or None

                wait_for(
                    first_package, FIRST_PACKAGE_WITHIN_S, f"the stage run's first package ({fanout.log})"
                )
                (killed,) = asked_again(lambda: stage_runs(spread))
                killed_id = str(killed.id)
                holder = next((w for w in (w1, w2) if killed_id in submitted_by(w.output())), None)
                assert holder is not None, (w1.output()[-2000:], w2.output()[-2000:])
                under = kill_machine(holder.process.pid)
                requests_at_kill = len(site.request_log)
                holder.process.wait(timeout=KILLED_WITHIN_S)
                wait_for(
                    lambda: not any(alive(pid) for pid in under), KILLED_WITHIN_S, "the run's processes dead"
                )
                at_kill = killed_run_packages(store, killed_id)
                partial_left = [p.name for p in Path(store.root).glob(".*.partial")]
                fanout.kill()  # its wait would last hours; the re-run below is the retry
                other = w2 if holder is w1 else w1

                state_after_kill = run_state(killed_id)
                started = time.monotonic()
                rerun_id = rerun(found["stage-source"].id, dict(killed.parameters))

                def rerun_done() -> str | None:
                    other.alive()
                    state = run_state(rerun_id)
                    return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

                final = wait_for(rerun_done, RERUN_DONE_WITHIN_S, f"the re-run ({other.log})")
                rerun_s = time.monotonic() - started
                assert final == "COMPLETED", other.output()[-3000:]
                assert rerun_id in submitted_by(other.output())
                state_after_rerun = run_state(killed_id)

            # the catch-up a person runs: every ready package, in the order staged
            loaded = subprocess.run(
                [KAZINFORM, "packages", "load", "--warehouse", str(spread)],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert loaded.returncode == 0, loaded.stderr[-3000:]
            clean_out, clean_err = clean.communicate(timeout=600)
            assert clean.returncode == 0, clean_err[-3000:]
        finally:
            if clean.poll() is None:
                clean.kill()
                clean.wait()

    # the kill came after the first package and before the run had staged everything
    clean_visits = visits_by_key(single)
    assert at_kill and sum(at_kill.values()) < len(clean_visits), (at_kill, len(clean_visits))
    assert requests_at_kill < len(site.request_log)  # the re-run fetched after the kill

    # only the killed run's complete packages reached the warehouse: nothing of its last batch
    killed_visits = visits_by_key(spread, killed_id)
    assert len(killed_visits) == sum(at_kill.values())
    loaded_ids = {pid for (pid,) in query(spread, "select package_id from load_packages")}
    assert set(at_kill) <= loaded_ids
    assert store.ready() == []

    # what Prefect shows of the killed run (see the module docstring)
    assert (state_after_kill, state_after_rerun) == ("RUNNING", "RUNNING")
    assert run_state(killed_id) == "CRASHED"
    assert f"flow run {killed.name} of a killed command is now marked crashed" in loaded.stderr

    # the warehouse equals the clean crawl: the re-run's visits to what the killed run had staged
    # are second visits (nothing new); everything else is as in one clean crawl
    assert articles_of(spread) == articles_of(single)
    assert versions_of(spread) == versions_of(single)
    staged_before = {(source, key) for source, key, _ in killed_visits}
    rerun_visits = visits_by_key(spread, rerun_id)
    seconds = Counter(outcome for source, key, outcome in rerun_visits if (source, key) in staged_before)
    firsts = [visit for visit in rerun_visits if (visit[0], visit[1]) not in staged_before]
    assert sorted(killed_visits + firsts) == clean_visits
    assert set(seconds) <= {"unchanged", "listed"}, seconds
    assert visits_by_key(spread) == sorted(killed_visits + rerun_visits)
    print(
        f"killed run {killed_id}: {len(at_kill)} complete packages ({sum(at_kill.values())} visits) "
        f"loaded of {len(clean_visits)}; partial folders left: {partial_left}; processes killed "
        f"with the worker: {len(under)}; Prefect state after the kill: {state_after_kill}; "
        f"re-run completed in {rerun_s:.1f} s (host slot lease included); second visits {dict(seconds)}"
    )
