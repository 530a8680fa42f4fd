"""A stop asked for with Ctrl-C during `kazinform crawl` or `kazinform ingest` (flows.run_guard).

The run starts no new request or file, keeps what it has fetched or read as load packages
(warehouse.packages) instead of waiting for the warehouse, and ends with its summary; the next run
that writes, or the loader, loads them first, so nothing is fetched twice. A second Ctrl-C leaves
at once (what was not kept yet is fetched again by the next run).
"""

from __future__ import annotations

import threading

_asked = threading.Event()


def ask() -> None:
    _asked.set()


def asked() -> bool:
    return _asked.is_set()


def reset() -> None:
    """At the start of a command's run: a stop asked for an earlier run in this process is over."""
    _asked.clear()
