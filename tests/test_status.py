"""`kazinform status` through the real CLI: a served-like deployment with its schedule and next run,
the last runs with their counts and failures, the outbox and the warehouse's counts; with the API
unreachable it still shows the warehouse and exits 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.prefect_api import free_port

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))


def kazinform(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KAZINFORM, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env or dict(os.environ)
    )


BUSY_RETRIES = 5  # a busy server (its database locked by other work) answers 503 for a moment


def api(api_url: str, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{api_url}/{route}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    for attempt in range(BUSY_RETRIES):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
            return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            if error.code != 503 or attempt == BUSY_RETRIES - 1:
                raise
            time.sleep(1.0 + attempt)


@pytest.fixture(scope="module")
def ingested(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A warehouse made by a real ingest of the seed and one file that cannot be parsed:
    (warehouse, the run's id, the bad file's path)."""
    folder = tmp_path_factory.mktemp("inputs")
    shutil.copy(SEED, folder / SEED.name)
    bad = folder / "999_ffffffffffffffff.txt"
    bad.write_text("not a text copy of an article\n", encoding="utf-8")
    warehouse = folder.parent / "status.duckdb"
    ingest = kazinform("ingest", str(folder), "--warehouse", str(warehouse))
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    run_id = re.search(r"\(run ([0-9a-f-]{36})\)", ingest.stdout)
    assert run_id, ingest.stdout
    return warehouse, run_id.group(1), str(bad)


@pytest.fixture
def scheduled_deployment(prefect_api: str) -> Iterator[str]:
    """A deployment every 15 minutes with its runs scheduled (nothing runs them); removed after."""
    flow = api(prefect_api, "POST", "flows/", {"name": "status-check-flow"})
    deployment = api(
        prefect_api,
        "POST",
        "deployments/",
        {
            "name": "status-check",
            "flow_id": flow["id"],
            "schedules": [{"schedule": {"interval": 900}, "active": True}],
        },
    )
    api(prefect_api, "POST", f"deployments/{deployment['id']}/schedule", {})
    try:
        yield deployment["id"]
    finally:
        api(prefect_api, "DELETE", f"deployments/{deployment['id']}")


def test_status_shows_deployments_runs_outbox_and_counts(
    prefect_api: str, ingested: tuple[Path, str, str], scheduled_deployment: str
) -> None:
    warehouse, run_id, bad = ingested
    run = api(prefect_api, "GET", f"flow_runs/{run_id}")
    status = kazinform("status", "--warehouse", str(warehouse))
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert f"Prefect API: {prefect_api}" in out
    next_run = r"next run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.search(rf"status-check\s+status-check-flow: every 15 min; {next_run}", out), out
    name = re.escape(run["name"])
    run_line = re.search(rf"  {name}  ingest-files  Completed  started .+ UTC  took .+\n", out)
    assert run_line, out
    after = out[run_line.end() :]
    assert after.startswith("      visits: ")
    visits_line = after.splitlines()[0]
    assert "created 1" in visits_line and "parse_error 1" in visits_line
    assert re.search(rf"      parse_error: {re.escape(bad)} — \S", after), out
    assert re.search(r"^outbox: (none|\d+ events waiting \(oldest written .+\))$", out, re.M)
    assert f"warehouse {warehouse}: 1 articles, 1 versions; visits in the last day: " in out
    day = re.search(r"visits in the last day: (.+)$", out, re.M)
    assert day and "created 1" in day.group(1) and "parse_error 1" in day.group(1)


def test_status_without_the_api_shows_the_warehouse_and_exits_1(ingested: tuple[Path, str, str]) -> None:
    warehouse, run_id, _ = ingested
    dead_api = f"http://127.0.0.1:{free_port()}/api"
    env = {**os.environ, "PREFECT_API_URL": dead_api}
    status = kazinform("status", "--warehouse", str(warehouse), env=env)
    assert status.returncode == 1, status.stderr
    out = status.stdout
    assert f"Prefect API: unreachable — the Prefect API at {dead_api} does not answer" in out
    assert f"  run {run_id}  first visit " in out  # the last runs, from the warehouse
    assert f"warehouse {warehouse}: 1 articles, 1 versions" in out
    assert "deployments" not in out
    assert status.stderr == ""


def test_status_of_a_missing_warehouse_says_so_and_exits_1(prefect_api: str, tmp_path: Path) -> None:
    status = kazinform("status", "--warehouse", str(tmp_path / "none.duckdb"))
    assert status.returncode == 1
    assert f"warehouse {tmp_path / 'none.duckdb'}: not read — no warehouse at" in status.stdout
    assert f"Prefect API: {prefect_api}" in status.stdout


def test_status_reads_the_warehouse_read_only(ingested: tuple[Path, str, str]) -> None:
    """While status reads, nothing is written: the file is the same bytes after."""
    warehouse, _, _ = ingested
    before = warehouse.read_bytes()
    assert kazinform("status", "--warehouse", str(warehouse)).returncode == 0
    assert warehouse.read_bytes() == before
