"""`kazinform serve` and `kazinform deploy --pool`: real subprocesses against the session's Prefect
server, the replica over HTTP and real DuckDB files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.serve import (
    CRAWL_EVERY_ENV,
    CRAWL_EVERY_MIN,
    CRAWL_RATE_ENV,
    INBOX_EVERY_ENV,
    REVISIT_EVERY_MIN,
    ServeSettingError,
    ServeSettings,
    deployment_plans,
)

ROOT = Path(__file__).resolve().parent.parent
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
PREFECT = str(Path(sys.executable).with_name("prefect"))
# Bounds on a loaded 2-core machine: serve imports Prefect and registers six deployments (~10 s);
# a scheduled run waits for the server's scheduler (every 5 s for a new deployment), the runner's
# poll (1 s here) and a process of its own (Prefect's import alone takes seconds).
REGISTERED_WITHIN_S = 90.0
RUN_DONE_WITHIN_S = 180.0
STOPPED_WITHIN_S = 60.0
# Short polls keep the waits short: the runner and the worker ask for due runs every second.
FAST_POLLS = {
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_WORKER_PREFETCH_SECONDS": "1",
}
SETTING_NAMES = (
    CRAWL_EVERY_ENV,
    CRAWL_RATE_ENV,
    INBOX_EVERY_ENV,
    "KAZINFORM_REVISIT_EVERY",
    "KAZINFORM_INBOX",
)


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """`condition()`'s first true value; fails after `deadline_s`."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {deadline_s:.0f} s")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    return {**env, **FAST_POLLS, **extra}


class Child:
    """A command in a process group of its own (the runner and the worker start each flow run as a
    child process), its output in a file; killed with its group if the test leaves it running."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}: {self.output()[-3000:]}")
        return True

    def interrupt(self, sig: int = signal.SIGINT) -> tuple[int, float]:
        """Ctrl-C as a terminal sends it (to the whole group): the exit status and seconds to exit."""
        started = time.monotonic()
        os.killpg(self.process.pid, sig)
        status = self.process.wait(timeout=STOPPED_WITHIN_S)
        return status, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def running(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[Child]:
    child = Child(argv, log, env)
    try:
        yield child
    except BaseException:
        # CI keeps the test's output, not its files: the child's last lines say why it waited.
        print(f"--- last output of {argv[1:3]} ---\n{child.output()[-4000:]}")
        raise
    finally:
        child.kill()


def serve_args(warehouse: Path, *flags: str) -> list[str]:
    return [KAZINFORM, "serve", "--warehouse", str(warehouse), *flags]


async def _deployments_of(warehouse: str) -> dict[str, Any]:
    """The deployments whose parameters name this warehouse, by deployment name."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployments = await client.read_deployments()
    return {d.name: d for d in deployments if (d.parameters or {}).get("warehouse_path") == warehouse}


def deployments_of(warehouse: Path) -> dict[str, Any]:
    return asyncio.run(_deployments_of(str(warehouse.resolve())))


async def _automations_of(deployment_id: uuid.UUID) -> list[Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")


async def _runs_of(deployment_id: uuid.UUID) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        )


async def _pause(deployment_ids: list[uuid.UUID]) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for deployment_id in deployment_ids:
            await client.pause_deployment(deployment_id)


def runs_of(deployment_id: uuid.UUID, warehouse: Path | None = None) -> list[Any]:
    """The deployment's runs; with `warehouse`, only those for it: a deployment keeps its name, id
    and runs when another test's serve registered it for another warehouse before."""
    runs = asyncio.run(_runs_of(deployment_id))
    if warehouse is None:
        return runs
    return [r for r in runs if (r.parameters or {}).get("warehouse_path") == str(warehouse.resolve())]


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def interval_of(deployment: Any) -> timedelta:
    (schedule,) = deployment.schedules
    return schedule.schedule.interval


# --- settings and plans (no server) -----------------------------------------------------------


def test_settings_flag_over_environment_over_default(tmp_path: Path) -> None:
    assert ServeSettings.from_environment({}) == ServeSettings()
    environ = {CRAWL_EVERY_ENV: "5", INBOX_EVERY_ENV: "0.5", CRAWL_RATE_ENV: "0"}
    settings = ServeSettings.from_environment(environ, crawl_every_min=0.25, revisit_every_min=None)
    assert settings.crawl_every_min == 0.25  # the flag wins
    assert settings.inbox_every_min == 0.5  # the environment, no flag given
    assert settings.revisit_every_min == REVISIT_EVERY_MIN  # neither: the default
    assert settings.crawl_rate == 0.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ServeSettingError, match=CRAWL_EVERY_ENV):
            ServeSettings.from_environment({CRAWL_EVERY_ENV: bad})

    plans = {plan.name: plan for plan in deployment_plans(tmp_path / "w.duckdb", settings)}
    new, due = plans["crawl-new"], plans["revisit-due"]
    warehouse = str((tmp_path / "w.duckdb").resolve())
    assert new.parameters == {
        "source_names": [],  # every source registered when the run starts
        "warehouse_path": warehouse,
        "revisit": "none",
        "max_pages": 3,
        "max_duration_s": 15.0,  # a run ends by the time the next is due
        "rate_per_host": 0.0,
    }
    assert (due.parameters["revisit"], due.parameters["discover"]) == ("due", False)
    assert (new.every_min, due.every_min) == (0.25, REVISIT_EVERY_MIN)
    assert new.describe() == "every 15 s" and due.describe() == "every 10 min"
    if "ingest-inbox" in plans:
        assert plans["ingest-inbox"].parameters["inbox"] == str(tmp_path.resolve() / "inbox")


def test_a_bad_setting_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [KAZINFORM, "serve", "--warehouse", str(tmp_path / "w.duckdb")],
        env={**child_env(), CRAWL_EVERY_ENV: "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "KAZINFORM_CRAWL_EVERY" in done.stderr, done.stderr


# --- kazinform serve ------------------------------------------------------------------------------


def test_serve_registers_the_deployments_and_ctrl_c_stops_it(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    flags = ["--crawl-every", "30", "--revisit-every", "20", "--inbox-every", "2"]
    settings = ServeSettings(crawl_every_min=30, revisit_every_min=20, inbox_every_min=2)
    expected = {plan.name: plan for plan in deployment_plans(warehouse, settings)}
    assert {"crawl-new", "revisit-due"} <= set(expected)

    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", child_env()) as serve:
        found = wait_for(
            lambda: serve.alive() and len(got := deployments_of(warehouse)) == len(expected) and got,
            REGISTERED_WITHIN_S,
            "the served deployments",
        )
        assert set(found) == set(expected)
        for name, plan in expected.items():
            deployment = found[name]
            assert not deployment.paused, name
            assert deployment.parameters == plan.parameters, name
            assert deployment.work_pool_name is None  # served: no work pool
            if plan.every_min is not None:
                assert interval_of(deployment) == timedelta(minutes=plan.every_min), name
            else:
                assert deployment.schedules == [], name
            if plan.concurrency_limit is not None:
                assert deployment.global_concurrency_limit.limit == plan.concurrency_limit, name
                strategy = "CANCEL_NEW" if plan.cancel_when_busy else "ENQUEUE"
                assert deployment.concurrency_options.collision_strategy.value == strategy, name
            if plan.triggers:
                automations = asyncio.run(_automations_of(deployment.id))
                expects = {event for automation in automations for event in automation.trigger.expect}
                assert expects == {e for t in plan.triggers for e in t.expect}, name
        assert interval_of(found["crawl-new"]) == timedelta(minutes=30)
        assert interval_of(found["revisit-due"]) == timedelta(minutes=20)
        # Ready once the runner polls for their runs: it has started and will pause them on the way out.
        wait_for(
            lambda: (
                serve.alive() and all(d.status.value == "READY" for d in deployments_of(warehouse).values())
            ),
            REGISTERED_WITHIN_S,
            "the deployments polled by the runner",
        )

        printed = serve.output()
        for name, plan in expected.items():
            assert f"{name}" in printed and plan.describe() in printed
        assert prefect_api.removesuffix("/api") in printed  # the UI's address

        status, seconds = serve.interrupt(signal.SIGINT)
    assert status == 0, serve.output()[-3000:]
    assert seconds < STOPPED_WITHIN_S
    # Paused on the way out: nothing piles up as Late while nothing serves them.
    assert all(d.paused for d in deployments_of(warehouse).values())
    assert "Traceback" not in serve.output()


def test_a_scheduled_crawl_runs_by_itself(prefect_api: str, replica, tmp_path: Path) -> None:
    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    flags = ["--crawl-every", "0.25", "--crawl-rate", "0", "--revisit-every", "60", "--inbox-every", "60"]
    env = child_env(KAZINFORM_BASE_URL=base_url)
    started = time.monotonic()
    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", env) as serve:
        crawl_new = wait_for(
            lambda: serve.alive() and deployments_of(warehouse).get("crawl-new"),
            REGISTERED_WITHIN_S,
            "crawl-new served",
        )

        def completed_run() -> Any:
            serve.alive()
            runs = runs_of(crawl_new.id, warehouse)
            return next((r for r in runs if r.state and r.state.is_completed()), None)

        run = wait_for(completed_run, RUN_DONE_WITHIN_S, f"a completed crawl-new run ({serve.log})")
        waited = time.monotonic() - started
        status, _ = serve.interrupt(signal.SIGINT)
    assert status == 0
    assert run.auto_scheduled  # started by the schedule, not by anyone
    assert run.parameters["revisit"] == "none"
    created = query(
        warehouse, "select count(*) from visits where run_id = ? and outcome = 'created'", [str(run.id)]
    )[0][0]
    articles = query(warehouse, "select count(*) from articles")[0][0]
    assert created > 0 and articles >= created, serve.output()[-3000:]
    print(f"first scheduled crawl completed {waited:.1f} s after `serve` started; {created} articles")


def test_ctrl_c_marks_the_crawl_in_flight(prefect_api: str, replica, tmp_path: Path) -> None:
    """A crawl at the source's 1 request/s is still fetching when Ctrl-C comes: serve leaves within
    the bound and the run is not left Running."""
    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    flags = ["--crawl-every", "0.25", "--revisit-every", "60", "--inbox-every", "60"]
    env = child_env(KAZINFORM_BASE_URL=base_url)
    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", env) as serve:
        crawl_new = wait_for(
            lambda: serve.alive() and deployments_of(warehouse).get("crawl-new"),
            REGISTERED_WITHIN_S,
            "crawl-new served",
        )

        def running_run() -> Any:
            serve.alive()
            runs = runs_of(crawl_new.id, warehouse)
            return next((r for r in runs if r.state and r.state.is_running()), None)

        run = wait_for(running_run, RUN_DONE_WITHIN_S, "a running crawl-new run")
        time.sleep(2.0)  # into its discovery: feeds and lenta pages at one request a second
        status, seconds = serve.interrupt(signal.SIGINT)
    assert status == 0, serve.output()[-3000:]
    assert seconds < STOPPED_WITHIN_S
    (after,) = [r for r in runs_of(crawl_new.id) if r.id == run.id]
    assert after.state.is_final(), after.state
    # Cancelled by the runner before it stopped; Prefect's own Ctrl-C leaves it Crashed or Running.
    assert after.state.type.value in ("CANCELLED", "COMPLETED"), after.state
    if after.state.is_cancelled():
        assert "shutting down" in (after.state.message or ""), after.state
    print(f"stopped {seconds:.1f} s after Ctrl-C; the run in flight ended {after.state.name}")


async def _pending_run(deployment_id: uuid.UUID) -> Any:
    """A run of the deployment moved to Pending, as a serve's runner does before it starts the run's
    process: the server hands it the deployment's concurrency slot with a 5-minute lease."""
    from prefect.client.orchestration import get_client
    from prefect.states import Pending

    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(run.id, Pending())
        return await client.read_flow_run(run.id)


def test_a_serve_killed_outright_does_not_hold_up_the_next(prefect_api: str, replica, tmp_path: Path) -> None:
    """A serve killed (SIGKILL, out of memory) just after its runner moved a crawl-new run to Pending
    leaves that run holding crawl-new's one slot, before the run's own process could note it (so
    no later command knows it crashed). The next serve ends it, and its own scheduled crawl runs
    instead of being cancelled as busy until the slot's lease runs out (5 min)."""
    from flows.serve import to_deployments

    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    settings = ServeSettings(crawl_every_min=0.25, crawl_rate=0)
    (plan,) = [p for p in deployment_plans(warehouse, settings) if p.name == "crawl-new"]
    (deployment,) = to_deployments([plan])
    deployment_id = deployment.apply()
    left = asyncio.run(_pending_run(deployment_id))
    assert left.state.is_pending(), left.state  # it holds the slot: no process will ever end it

    flags = ["--crawl-every", "0.25", "--crawl-rate", "0", "--revisit-every", "60", "--inbox-every", "60"]
    env = child_env(KAZINFORM_BASE_URL=base_url)
    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", env) as serve:

        def completed_run() -> Any:
            serve.alive()
            runs = runs_of(deployment_id, warehouse)
            return next((r for r in runs if r.state and r.state.is_completed()), None)

        run = wait_for(completed_run, RUN_DONE_WITHIN_S, f"a completed crawl-new run ({serve.log})")
        status, _ = serve.interrupt(signal.SIGINT)
    assert status == 0, serve.output()[-3000:]
    assert run.auto_scheduled
    (ended,) = [r for r in runs_of(deployment_id) if r.id == left.id]
    assert ended.state.is_crashed(), ended.state
    assert "`kazinform serve` that is gone" in (ended.state.message or ""), ended.state
    assert f"run {left.name} of crawl-new, left Pending by an earlier serve: now Crashed" in serve.output()


# --- kazinform deploy --pool + a process worker ---------------------------------------------


def test_a_process_worker_runs_a_deployment_of_the_pool(prefect_api: str, replica, tmp_path: Path) -> None:
    from prefect.deployments import run_deployment

    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    pool = f"kazinform-test-{uuid.uuid4().hex[:8]}"
    env = child_env(KAZINFORM_BASE_URL=base_url)
    deploy = subprocess.run(
        [KAZINFORM, "deploy", "--pool", pool, "--warehouse", str(warehouse), "--crawl-rate", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deploy.returncode == 0, deploy.stderr
    assert f"prefect worker start --pool {pool}" in deploy.stdout
    found = deployments_of(warehouse)
    assert {"crawl-new", "revisit-due"} <= set(found)
    assert all(d.work_pool_name == pool for d in found.values())
    assert interval_of(found["crawl-new"]) == timedelta(minutes=CRAWL_EVERY_MIN)

    worker_args = [PREFECT, "worker", "start", "--pool", pool, "--type", "process"]
    started = time.monotonic()
    with running(worker_args, tmp_path / "worker.log", env) as worker:
        flow_run = run_deployment(found["crawl-new"].id, timeout=0)

        def finished() -> Any:
            worker.alive()
            (run,) = [r for r in runs_of(found["crawl-new"].id) if r.id == flow_run.id]
            return run if run.state and run.state.is_final() else None

        try:
            run = wait_for(finished, RUN_DONE_WITHIN_S, f"the pool's crawl-new run ({worker.log})")
            waited = time.monotonic() - started
            status, _ = worker.interrupt(signal.SIGINT)
        finally:  # no worker any more: their schedules would only pile up Late runs
            asyncio.run(_pause([d.id for d in found.values()]))
    assert run.state.is_completed(), (run.state, worker.output()[-3000:])
    assert run.work_pool_name == pool
    created = query(
        warehouse, "select count(*) from visits where run_id = ? and outcome = 'created'", [str(run.id)]
    )[0][0]
    assert created > 0
    assert status in (0, 130, -signal.SIGINT)  # the worker stopped
    print(f"worker ran the pool's crawl in {waited:.1f} s (worker start included); {created} articles")
