"""The local Prefect server's bookkeeping: a dead background server's record does not block a start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.prefect_api import (
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
