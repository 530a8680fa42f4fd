"""Shared fixtures. Each group is introduced by a comment; add new groups below the last one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from replica import ReplicaSite, serve

pytest_plugins = ["prefect_server"]  # the session-wide Prefect server (tests/prefect_server.py)

# --- the site replica ------------------------------------------------------------------------


@pytest.fixture
def replica() -> Iterator[tuple[ReplicaSite, str]]:
    """A 120-article replica on a free port of 127.0.0.1: yields (site, base_url).

    Tests change `site` (edit, move, delete, set_fault) between requests; each test gets its own.
    """
    site = ReplicaSite.generate(n_articles=120, seed=7)
    with serve(site) as base_url:
        yield site, base_url
