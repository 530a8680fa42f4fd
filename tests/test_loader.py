"""The one loader (flows.loader): packages loaded in staging order, each once, each in its own
transaction; a bad package moved aside; a loader killed mid-package; the `load-packages`
deployment started by a `kazinform.package.ready` event under a real `kazinform serve`."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from flows.loader import LoaderReport, _load_queue, announce_package, load_ready
from test_package_store import article_visits
from test_serve import (
    REGISTERED_WITHIN_S,
    RUN_DONE_WITHIN_S,
    _automations_of,
    child_env,
    deployments_of,
    running,
    runs_of,
    serve_args,
    wait_for,
)
from warehouse.packages import FAILED_FOLDER, REASON, PackageStore
from warehouse.stage import StagedBatch, stage_batch

ROOT = Path(__file__).resolve().parent.parent
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
# Visits in the package of the kill test: its load takes seconds (measured ~4 s for 20,000 on
# 2 cores), so the kill, sent the moment the transaction begins, lands well inside it.
KILL_TEST_VISITS = 20_000
# The killed loader held the duckdb-writer slot: its lease (60 s) runs out and the server's
# repossessor (every 15 s) frees it; the next loader waits for that, then loads.
NEXT_LOAD_WITHIN_S = 300.0


def table_counts(warehouse: Path) -> dict[str, int]:
    """Rows of every table of the warehouse."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        return {name: connection.execute(f'select count(*) from "{name}"').fetchone()[0] for name in names}


def rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def test_packages_load_in_staging_order_each_under_its_run(prefect_api: str, tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages")
    written = [
        store.write(f"run-{n}", stage_batch(article_visits(2, edition=n)), "kazinform") for n in range(3)
    ]
    warehouse = tmp_path / "w.duckdb"
    report = load_ready(warehouse, store)
    assert [p.package_id for p in report.loaded] == [p.package_id for p in written]
    assert (report.visits, report.moved_aside, report.already_loaded, report.error) == (6, [], [], None)
    assert [p.source for p in report.loaded] == ["kazinform"] * 3
    by_run = rows(warehouse, "select run_id, outcome, count(*) from visits group by all order by run_id")
    assert by_run == [("run-0", "created", 2), ("run-1", "changed", 2), ("run-2", "changed", 2)]
    assert rows(warehouse, "select package_id from load_packages order by loaded_at") == [
        (p.package_id,) for p in written
    ]
    assert store.ready() == []
    assert "loaded 3 packages (6 visits)" in report.to_text()


def test_loading_a_package_twice_changes_nothing(prefect_api: str, tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages")
    package = store.write("run-a", stage_batch(article_visits(5)))
    kept = tmp_path / "copy"
    shutil.copytree(package.url, kept)
    warehouse = tmp_path / "w.duckdb"
    assert len(load_ready(warehouse, store).loaded) == 1
    before = table_counts(warehouse)
    # the loader died after the commit, before removing the files: the package is back
    shutil.copytree(kept, package.url)
    again = load_ready(warehouse, store)
    assert (again.loaded, again.already_loaded) == ([], [package.package_id])
    assert table_counts(warehouse) == before
    assert before["visits"] == 5 and before["load_packages"] == 1
    assert store.ready() == []


def test_a_loader_whose_queue_another_loader_took_skips_it(prefect_api: str, tmp_path: Path) -> None:
    """Two loaders at once (a fan-out's own load and the `load-packages` trigger): the second listed
    the queue before the first committed and removed it. It skips those, sets none aside, and
    does not fail."""
    store = PackageStore(tmp_path / "packages")
    for n in range(2):
        store.write(f"run-{n}", stage_batch(article_visits(2, edition=n)), "kazinform")
    warehouse = tmp_path / "w.duckdb"
    listed_before = store.ready()
    first = load_ready(warehouse, store)
    assert len(first.loaded) == 2
    late = LoaderReport(store=store.url)
    _load_queue(warehouse, store, listed_before, set(), late, logging.getLogger("test"))
    assert (late.loaded, late.moved_aside, late.taken_by_another) == ([], [], 2)
    assert store.failed() == []
    assert rows(warehouse, "select count(*) from load_packages") == [(2,)]
    assert "skipped 2 another loader had loaded meanwhile" in late.to_text()


def test_a_package_that_fails_is_moved_aside_and_the_next_loads(prefect_api: str, tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages")
    first = store.write("run-1", stage_batch(article_visits(1, prefix="one")))
    altered = store.write("run-2", stage_batch(article_visits(1, prefix="two")))
    good = stage_batch(article_visits(1, prefix="three"))
    # readable, every sha256 right, but its visits table lacks a column the load needs
    lacking = good.visits.drop_columns(["article_id"])
    broken = store.write("run-3", StagedBatch(lacking, good.versions, good.raw, 1))
    last = store.write("run-4", stage_batch(article_visits(1, prefix="four")))
    (Path(altered.url) / "raw.parquet").write_bytes(b"PAR1 not what was written PAR1")

    warehouse = tmp_path / "w.duckdb"
    report = load_ready(warehouse, store)
    assert [p.package_id for p in report.loaded] == [first.package_id, last.package_id]
    reasons = dict(report.moved_aside)
    assert "raw.parquet does not match the sha256" in reasons[altered.package_id]
    assert reasons[broken.package_id].startswith("the load failed")
    assert rows(warehouse, "select run_id from visits order by visit_id") == [("run-1",), ("run-4",)]
    for package in (altered, broken):
        aside = tmp_path / "packages" / FAILED_FOLDER / package.package_id
        assert (aside / REASON).read_text().strip() == reasons[package.package_id]
    assert {entry.ref.package_id for entry in store.failed()} == {altered.package_id, broken.package_id}
    assert store.ready() == []


def test_a_store_on_an_object_store_url_loads_the_same(prefect_api: str, tmp_path: Path) -> None:
    """`memory://` stands in for an object store (see tests/test_package_store.py)."""
    store = PackageStore(f"memory://kazinform-loader-{uuid.uuid4().hex[:8]}/packages")
    try:
        written = [store.write(f"run-{n}", stage_batch(article_visits(3, edition=n))) for n in range(2)]
        warehouse = tmp_path / "w.duckdb"
        report = load_ready(warehouse, store)
        assert [p.package_id for p in report.loaded] == [p.package_id for p in written]
        assert table_counts(warehouse)["visits"] == 6 and store.ready() == []
    finally:
        store.fs.rm(store.root, recursive=True)


KILLED_LOADER = """
import logging, sys
sys.path.insert(0, sys.argv[2])
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
import warehouse.load as load

real = load._insert_raw_pages
def say_begun(conn, staged):  # the first statement after BEGIN TRANSACTION
    print("transaction begun", flush=True)
    real(conn, staged)
load._insert_raw_pages = say_begun

from flows.loader import load_ready
load_ready(sys.argv[1])
print("loader finished", flush=True)
"""


def test_a_loader_killed_mid_package_leaves_nothing_and_the_next_loads_it_once(
    prefect_api: str, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    store = PackageStore.for_warehouse(warehouse)
    store.write("earlier", stage_batch(article_visits(3, prefix="early")))
    load_ready(warehouse, store)
    before = table_counts(warehouse)
    big = store.write("run-big", stage_batch(article_visits(KILL_TEST_VISITS)))

    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOADER, str(warehouse), str(ROOT)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ},
    )  # fmt: skip
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            seen.append(line)
            if line.strip() == "transaction begun":
                break
        os.kill(child.pid, signal.SIGKILL)  # at once: the package's load goes on for seconds
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
        child.wait(timeout=30)
    output = "".join(seen) + rest
    assert "transaction begun" in output, output[-3000:]
    assert "loaded package" not in output, "the package committed before the kill: " + output[-3000:]
    assert child.returncode == -signal.SIGKILL

    # rolled back: nothing of the package, and it is still ready
    assert table_counts(warehouse) == before
    recorded = "select count(*) from load_packages where package_id = ?"
    assert rows(warehouse, recorded, [big.package_id]) == [(0,)]
    assert store.ready() == [big.ref]

    started = time.monotonic()
    report = load_ready(warehouse, store)
    waited = time.monotonic() - started
    assert [p.package_id for p in report.loaded] == [big.package_id], report.to_text()
    assert waited < NEXT_LOAD_WITHIN_S
    after = table_counts(warehouse)
    assert after["visits"] == before["visits"] + KILL_TEST_VISITS
    assert after["load_packages"] == before["load_packages"] + 1
    assert rows(warehouse, "select count(*) from visits where run_id = 'run-big'") == [(KILL_TEST_VISITS,)]
    # once: a further run has nothing to do and changes nothing
    again = load_ready(warehouse, store)
    assert (again.loaded, again.already_loaded, again.moved_aside) == ([], [], [])
    assert table_counts(warehouse) == after
    print(
        f"the {KILL_TEST_VISITS}-visit package loaded in {report.loaded[0].seconds:.1f} s after the kill; "
        f"the next run took {waited:.1f} s in all (the killed loader's writer slot freed itself)"
    )


def test_announcing_with_the_api_down_does_not_raise(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.prefect_api import free_port

    store = PackageStore(tmp_path / "packages")
    package = store.write("run-1", stage_batch(article_visits(1)))
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        started = time.monotonic()
        assert announce_package(package, tmp_path / "w.duckdb") is False
        assert time.monotonic() - started < 30


def test_the_packages_command_lists_and_loads(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    store = PackageStore.for_warehouse(warehouse)
    ready = store.write("run-ready", stage_batch(article_visits(2)), source="kazinform")
    aside = store.write("run-aside", stage_batch(article_visits(1, prefix="x")), source="astanatimes")
    store.move_aside(aside.ref, "raw.parquet does not match the sha256 in its manifest")
    env = child_env()

    def kazinform(*args: str) -> str:
        done = subprocess.run(
            [KAZINFORM, "packages", *args, "--warehouse", str(warehouse)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    listed = kazinform()
    assert "ready: 1" in listed and "failed: 1" in listed, listed
    ready_line = next(line for line in listed.splitlines() if ready.package_id in line)
    assert "run run-ready" in ready_line and "source kazinform" in ready_line and "visits 2" in ready_line
    failed_line = next(line for line in listed.splitlines() if aside.package_id in line)
    assert "run run-aside" in failed_line and "reason: raw.parquet does not match" in failed_line

    loaded = kazinform("load")
    assert "loaded 1 packages (2 visits)" in loaded, loaded
    assert table_counts(warehouse)["visits"] == 2
    assert "ready: 0" in kazinform()


# --- the deployment ------------------------------------------------------------------------------


def test_a_package_ready_event_starts_the_load_packages_deployment(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    # every schedule an hour away: only the event can start the loader during the test
    flags = ["--crawl-every", "60", "--revisit-every", "60", "--inbox-every", "60", "--load-every", "60"]
    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", child_env()) as serve:
        deployment = wait_for(
            lambda: serve.alive() and deployments_of(warehouse).get("load-packages"),
            REGISTERED_WITHIN_S,
            "load-packages served",
        )
        wait_for(
            lambda: serve.alive() and asyncio_run(_automations_of(deployment.id)),
            REGISTERED_WITHIN_S,
            "the load-packages trigger",
        )
        wait_for(
            lambda: serve.alive() and deployments_of(warehouse)["load-packages"].status.value == "READY",
            REGISTERED_WITHIN_S,
            "load-packages polled by the runner",
        )
        # a scheduled run at registration (if any) is over before the package exists; the runs the
        # server's scheduler adds for the next hourly ticks wait in the future and are not waited for
        wait_for(
            lambda: not any(_in_progress(r) for r in runs_of(deployment.id, warehouse)),
            RUN_DONE_WITHIN_S,
            "no load-packages run in progress",
        )
        before = {r.id for r in runs_of(deployment.id, warehouse)}
        time.sleep(6)  # the server reconciles new automations every 5 s

        store = PackageStore.for_warehouse(warehouse)
        package = store.write("run-staged-elsewhere", stage_batch(article_visits(4)), source="kazinform")
        announced_at = time.monotonic()
        assert announce_package(package, warehouse)

        def loaded_by_event() -> object:
            serve.alive()
            runs = [r for r in runs_of(deployment.id, warehouse) if r.id not in before]
            return next((r for r in runs if r.state and r.state.is_completed()), None)

        run = wait_for(loaded_by_event, RUN_DONE_WITHIN_S, f"a load-packages run ({serve.log})")
        took = time.monotonic() - announced_at
        status, _ = serve.interrupt(signal.SIGINT)
    assert status == 0, serve.output()[-3000:]
    assert not run.auto_scheduled  # started by the event, not the schedule
    assert run.parameters == {"warehouse_path": str(warehouse.resolve())}
    by_run = rows(warehouse, "select run_id, count(*) from visits group by run_id")
    assert by_run == [("run-staged-elsewhere", 4)]
    assert rows(warehouse, "select package_id from load_packages") == [(package.package_id,)]
    assert store.ready() == []
    print(f"the package was loaded by the event's run {took:.1f} s after it was announced")


def _in_progress(run: Any) -> bool:
    """A run that has started or is due: neither over nor scheduled for a later tick."""
    state = run.state
    if state is None or state.is_final():
        return False
    starts = run.expected_start_time
    return not state.is_scheduled() or starts is None or starts <= datetime.now(UTC) + timedelta(minutes=1)


def asyncio_run(awaitable: object) -> object:
    import asyncio

    return asyncio.run(awaitable)  # type: ignore[arg-type]
