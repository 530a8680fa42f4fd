"""Arrow allocates from the system allocator once the warehouse is imported (warehouse.arrow_memory),
unless $ARROW_DEFAULT_MEMORY_POOL chooses; checked in fresh interpreters, where nothing chose yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warehouse.arrow_memory import POOL_ENV

ROOT = Path(__file__).resolve().parent.parent
SHOW_POOL = (
    "import pyarrow as pa; before = pa.default_memory_pool().backend_name; import flows.ingest; "
    "table = pa.table({'x': list(range(1000))}); "
    "print(before, pa.default_memory_pool().backend_name, pa.total_allocated_bytes() > 0)"
)


def _pools(env_pool: str | None) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != POOL_ENV}
    if env_pool is not None:
        env[POOL_ENV] = env_pool
    done = subprocess.run(
        [sys.executable, "-c", SHOW_POOL], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


def test_the_pipeline_allocates_arrow_memory_from_the_system_allocator() -> None:
    before, after, allocated = _pools(None)
    assert before != "system"  # pyarrow's own default (mimalloc or jemalloc), replaced on import
    assert after == "system"
    assert allocated == "True"  # the table above came from that pool


def test_a_pool_chosen_in_the_environment_is_kept() -> None:
    assert _pools("jemalloc")[:2] == ["jemalloc", "jemalloc"]
