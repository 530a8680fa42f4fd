"""Make sure a Prefect API is reachable before any flow runs.

Order: PREFECT_API_URL when set; else a local server this package started earlier (its address is
kept in PREFECT_HOME); else start `prefect server start` on 127.0.0.1 as a process of its own (its
output in PREFECT_HOME/kazinform-server.log) and keep it for the next command. A kept server that
died leaves a stale pid file, which is cleared first.

Measured on 2 cores: Prefect's ephemeral mode costs 14–25 s per command (a temporary server is
started and torn down on every run), a kept local server 9–20 s once, then ~1 s per flow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_PORT = 4200
STATE_FILE_NAME = "kazinform-server.json"
# Where `prefect server stop` looks for the server's process, in PREFECT_HOME.
SERVER_PID_FILE_NAME = "server.pid"
# The server's own output (warnings, tracebacks), in PREFECT_HOME; the previous one kept as `.1`.
SERVER_LOG_FILE_NAME = "kazinform-server.log"
SERVER_LOG_MAX_BYTES = 10 * 1024 * 1024
HEALTH_TIMEOUT_S = 60.0
# A configured API gets this long to answer its health check (a busy server answers in milliseconds).
CONFIGURED_API_TIMEOUT_S = 10.0


class PrefectApiError(RuntimeError):
    """No Prefect API can be reached or started; the message says why and what to do."""


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def api_answers(api_url: str, timeout: float = 2.0) -> bool:
    """Whether anything answers at `api_url`: any HTTP response counts (Prefect Cloud answers its
    health route with 401 to a request without a key), only no answer at all does not."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prefect_cli() -> str:
    """The `prefect` executable of this environment, so a venv works without being activated."""
    beside_python = Path(sys.executable).with_name("prefect")
    return str(beside_python) if beside_python.exists() else "prefect"


def stop_local_server() -> None:
    """Stop the background server of the current PREFECT_HOME (what `prefect server stop` does)."""
    subprocess.run(
        [prefect_cli(), "server", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )


# Servers this process started: one that exited stays a zombie until reaped, and a zombie still
# answers os.kill(pid, 0).
_started: dict[int, subprocess.Popen[bytes]] = {}


def _process_is_alive(pid: int) -> bool:
    if pid in _started:
        return _started[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True


def recorded_server_pid() -> int | None:
    """The pid of PREFECT_HOME's background server as Prefect recorded it, if a record exists."""
    pid_file = prefect_home() / SERVER_PID_FILE_NAME
    try:
        return int(pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        return -1  # unreadable: treated as a server that is gone


def clear_stale_server_record() -> None:
    """A kept server that died (killed, machine restarted) leaves its pid file behind, and a start
    would then refuse ("already running"). `prefect server stop` removes the record of a process
    that no longer exists; a live one is left alone."""
    pid = recorded_server_pid()
    if pid is not None and (pid <= 0 or not _process_is_alive(pid)):
        stop_local_server()


# Concurrency-slot leases kept on disk, not in the server's memory: a slot held while the server
# restarts (`host:<host>`, `duckdb-writer`) would otherwise count as taken with no lease left to
# expire it, blocking that host or the warehouse until the slot is reset by hand.
LEASE_STORAGE_ENV = "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


def server_environment(base: dict[str, str]) -> dict[str, str]:
    """The environment a Prefect server of ours starts with (leases on disk, no analytics)."""
    env = {**base, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.setdefault(LEASE_STORAGE_ENV, LEASE_STORAGE)
    env.pop("PREFECT_API_URL", None)
    return env


def start_local_server(port: int | None = None) -> str:
    """Start `prefect server start` on 127.0.0.1 as a process of its own session, its output in
    PREFECT_HOME/kazinform-server.log, its pid where `prefect server stop` looks; wait until it
    answers. Not `--background`: that leaves the server writing into pipes whose reader has
    exited, so what it says when it fails is lost (and writing there can fail)."""
    clear_stale_server_record()
    running = recorded_server_pid()
    if running is not None:
        raise PrefectApiError(
            f"a Prefect server started from {prefect_home()} is already running (pid {running}) but "
            "does not answer at a known address: set PREFECT_API_URL to its API, or stop it with "
            "`prefect server stop`"
        )
    if port is None:
        port = DEFAULT_PORT if _port_is_free(DEFAULT_PORT) else free_port()
    elif not _port_is_free(port):
        raise PrefectApiError(f"port {port} on 127.0.0.1 is taken: choose another for the Prefect server")
    api_url = f"http://127.0.0.1:{port}/api"
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    pid_file = home / SERVER_PID_FILE_NAME
    try:  # created exclusively: of two commands starting a server at once, one starts it
        claim = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise PrefectApiError(
            f"another command is starting a Prefect server from {home}: run this one again in a minute"
        ) from None
    log_path = _fresh_log(home / SERVER_LOG_FILE_NAME)
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_environment(dict(os.environ)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, and Ctrl-C here does not reach it
        )
    _started[server.pid] = server
    with os.fdopen(claim, "w") as record:
        record.write(str(server.pid))
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if is_healthy(api_url):
            return api_url
        if server.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise PrefectApiError(
                f"the Prefect server exited with {server.returncode} before it answered; its output "
                f"ends:\n{_tail(log_path)}"
            )
        time.sleep(0.5)
    raise PrefectApiError(
        f"the Prefect server on {api_url} did not become healthy in {HEALTH_TIMEOUT_S:.0f} s (its output: "
        f"{log_path})"
    )


def _fresh_log(path: Path) -> Path:
    """The server's log, the previous one kept as `.1` once it passes SERVER_LOG_MAX_BYTES."""
    try:
        if path.stat().st_size > SERVER_LOG_MAX_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    return path


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError as error:
        return f"(unreadable: {error})"


def ensure_prefect_api(log=print) -> str:
    """Return a healthy API URL and export it as PREFECT_API_URL for this process."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        # Checked first: Prefect's client would retry an unreachable API for about a minute.
        if not api_answers(configured, timeout=CONFIGURED_API_TIMEOUT_S):
            raise PrefectApiError(
                f"the Prefect API at {configured} (PREFECT_API_URL) does not answer: start that server, "
                "or unset PREFECT_API_URL to let kazinform keep a local one"
            )
        return configured
    state_file = prefect_home() / STATE_FILE_NAME
    if state_file.exists():
        remembered = json.loads(state_file.read_text()).get("api_url", "")
        if remembered and is_healthy(remembered):
            os.environ["PREFECT_API_URL"] = remembered
            return remembered
    started_at = time.monotonic()
    log("starting a local Prefect server on 127.0.0.1 (kept for later commands)…")
    api_url = start_local_server()
    log(f"Prefect server ready at {api_url} in {time.monotonic() - started_at:.1f} s")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"api_url": api_url}))
    os.environ["PREFECT_API_URL"] = api_url
    return api_url
