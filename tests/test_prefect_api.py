"""The local Prefect server's bookkeeping: a dead background server's record does not block a start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flows.prefect_api import (
    SERVER_LOG_FILE_NAME,
    SERVER_PID_FILE_NAME,
    PrefectApiError,
    clear_stale_server_record,
    start_local_server,
)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_record_of_a_dead_server_is_cleared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    pid_file = tmp_path / SERVER_PID_FILE_NAME
    pid_file.write_text(str(dead_pid()))

    clear_stale_server_record()

    assert not pid_file.exists()


def test_record_of_a_live_server_is_kept_and_a_start_says_why_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    pid_file = tmp_path / SERVER_PID_FILE_NAME
    pid_file.write_text(str(os.getpid()))

    clear_stale_server_record()
    assert pid_file.read_text() == str(os.getpid())
    expected = f"already running \\(pid {os.getpid()}\\).*prefect server stop"
    with pytest.raises(PrefectApiError, match=expected):
        start_local_server()


def test_a_server_that_cannot_start_says_why_and_leaves_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PrefectApiError, match=f"port {port} on 127.0.0.1 is taken"):
            start_local_server(port)
    # a setting the server refuses: it exits, and its own words are in the error and the log
    monkeypatch.setenv("PREFECT_SERVER_LOGGING_LEVEL", "NOPE")
    with pytest.raises(PrefectApiError, match=r"exited with \d+ before it answered(.|\n)*NOPE"):
        start_local_server()
    assert not (tmp_path / SERVER_PID_FILE_NAME).exists()  # the next start is not refused
    assert "NOPE" in (tmp_path / SERVER_LOG_FILE_NAME).read_text()
