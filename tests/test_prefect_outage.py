"""The Prefect API is not on the data path: a server that dies mid-run costs seconds, not minutes,
and a run whose process was killed does not stay RUNNING."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows.prefect_api import free_port, is_healthy, prefect_cli, prefect_home, server_environment
from flows.run_guard import RUNS_FOLDER

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))


def copies(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        shutil.copy(SEED, folder / f"copy_{i:05d}.txt")
    return folder


def flow_run_state(api_url: str, run_id: str) -> str:
    with urllib.request.urlopen(f"{api_url}/flow_runs/{run_id}", timeout=10) as response:
        return json.loads(response.read())["state"]["type"]


def wait_for_running_run(api_url: str, prefect_home: Path, pid: int, deadline_s: float = 90.0) -> str:
    """The id of the flow run started by process `pid`, once the server has it RUNNING."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for entry_path in (prefect_home / RUNS_FOLDER).glob("*.json"):
            entry = json.loads(entry_path.read_text() or "{}")
            if entry.get("pid") == pid and flow_run_state(api_url, entry["run_id"]) == "RUNNING":
                return entry["run_id"]
        time.sleep(0.2)
    raise AssertionError(f"no RUNNING flow run of pid {pid} within {deadline_s:.0f} s")


class OwnServer:
    """A Prefect server of its own (not the session's), which a test kills and starts again."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.env = server_environment({**os.environ, "PREFECT_HOME": str(home)})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the server and its workers die together
        )
        deadline = time.monotonic() + 90
        while not is_healthy(self.api_url) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert is_healthy(self.api_url), "the test's Prefect server did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(tmp_path / "prefect-home")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_server_killed_mid_ingest_costs_seconds_and_the_data_lands(
    own_server: OwnServer, tmp_path: Path
) -> None:
    api_url = own_server.api_url
    inputs = copies(tmp_path / "inputs", 1_000)
    warehouse = tmp_path / "w.duckdb"
    env = {**os.environ, "PREFECT_API_URL": api_url}
    ingest = subprocess.Popen(
        [KAZINFORM, "ingest", str(inputs), "--warehouse", str(warehouse)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = wait_for_running_run(api_url, prefect_home(), ingest.pid)
    own_server.kill()
    killed_at = time.monotonic()
    stdout, stderr = ingest.communicate(timeout=300)
    after_kill = time.monotonic() - killed_at
    print(f"after the server was killed the command took {after_kill:.1f} s")

    assert ingest.returncode == 0, stderr[-3000:]
    assert after_kill < 45, f"the command took {after_kill:.0f} s after the server died"
    assert "created       1000" in stdout  # each copy is an article of its own (id from its name)
    assert "could not be reported" in stderr
    assert "Traceback" not in stderr
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("select count(*) from visits").fetchone() == (1_000,)

    # The server comes back with the run still RUNNING; the next command gives it its final state.
    own_server.start()
    assert flow_run_state(api_url, run_id) == "RUNNING"
    later = subprocess.run(
        [KAZINFORM, "ingest", str(SEED), "--warehouse", str(tmp_path / "other.duckdb")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert later.returncode == 0, later.stderr[-3000:]
    assert flow_run_state(api_url, run_id) == "COMPLETED"


def test_a_killed_command_leaves_no_run_running(prefect_api: str, tmp_path: Path) -> None:
    inputs = copies(tmp_path / "inputs", 3_000)
    ingest = subprocess.Popen(
        [KAZINFORM, "ingest", str(inputs), "--warehouse", str(tmp_path / "w.duckdb")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = wait_for_running_run(prefect_api, prefect_home(), ingest.pid)
    ingest.kill()
    ingest.wait(timeout=30)
    assert flow_run_state(prefect_api, run_id) == "RUNNING"

    later = subprocess.run(
        [KAZINFORM, "ingest", str(SEED), "--warehouse", str(tmp_path / "other.duckdb")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert later.returncode == 0, later.stderr[-3000:]
    assert flow_run_state(prefect_api, run_id) == "CRASHED"
    assert "of a killed command is now marked crashed" in later.stderr
