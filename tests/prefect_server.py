"""Pytest plugin: one real Prefect server on 127.0.0.1 for the tests that run flows."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.prefect_api import (
    SERVER_LOG_FILE_NAME,
    free_port,
    is_healthy,
    start_local_server,
    stop_local_server,
)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server start` with its own PREFECT_HOME (flows.prefect_api), used by this process."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-home")
    previous_home = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    api_url = start_local_server(free_port())
    assert is_healthy(api_url)
    os.environ["PREFECT_API_URL"] = api_url  # for subprocesses (the CLI tests)
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield api_url
    finally:
        _say_if_it_died(api_url, Path(home))
        stop_local_server()
        os.environ.pop("PREFECT_API_URL", None)
        if previous_home is None:
            os.environ.pop("PREFECT_HOME", None)
        else:
            os.environ["PREFECT_HOME"] = previous_home


def _say_if_it_died(api_url: str, home: Path) -> None:
    """A server that died during the session fails the tests after it with "connection refused";
    its own last words say why (past pytest's capture)."""
    if is_healthy(api_url, timeout=10.0):
        return
    try:
        tail = (home / SERVER_LOG_FILE_NAME).read_bytes()[-4000:].decode(errors="replace")
    except OSError as error:
        tail = f"(no server log: {error})"
    print(
        f"\nthe session's Prefect server at {api_url} did not answer at the end; its output ends:\n{tail}",
        file=sys.__stderr__,
    )
