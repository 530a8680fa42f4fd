"""Arrow's memory pool: the system allocator, so that what a batch held goes back to the system.

pyarrow's wheels allocate from mimalloc by default, which keeps freed memory in its segments for
reuse. Every batch the pipeline stages is a new set of Arrow buffers, freed after its load, so the
kept memory added to each command's peak. Measured on 2 cores (DuckDB 2.0.1, pyarrow 26): the
2,000-article crawl of real-size pages peaked at 384–393 MB instead of 404–409 MB and its revisit at
245–251 MB instead of 256–268 MB; `kazinform ingest` of 10,000 text copies at 420–427 MB instead of
448–453 MB (HTML pages 391–406 MB against 425–431 MB), 100,000 text copies at 478–486 MB instead of 525
MB; stage and write times within the runs' noise (benchmarks/load.py: the same to ±3%).
`ARROW_DEFAULT_MEMORY_POOL`, when set, still chooses (pyarrow reads it at import).
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_pool() -> None:
    """Make the system allocator Arrow's default pool, unless $ARROW_DEFAULT_MEMORY_POOL names one."""
    if not os.environ.get(POOL_ENV):
        pa.set_memory_pool(pa.system_memory_pool())
