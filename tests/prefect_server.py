"""Pytest plugin: one real Prefect server on 127.0.0.1 for the tests that run flows."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from flows.prefect_api import free_port, is_healthy, start_local_server, stop_local_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `prefect server start --background` with its own PREFECT_HOME; point this process at it."""
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
        stop_local_server()
        os.environ.pop("PREFECT_API_URL", None)
        if previous_home is None:
            os.environ.pop("PREFECT_HOME", None)
        else:
            os.environ["PREFECT_HOME"] = previous_home
