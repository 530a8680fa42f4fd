"""Where the warehouse lives and how to connect to it: one writer at a time, readers alongside.

DuckDB lets one process hold a database file for writing. Writers therefore hold their connection
only while a batch is written, and both writers and readers wait (with backoff) for a lock held by
another process instead of failing at once.

String compression: writers disable DuckDB's dictionary/FSST string compression. Measured with
benchmarks/load.py (100,000 rows, ~4.5 KB Cyrillic bodies plus their blocks JSON, DuckDB 2.0.1, one
Arrow `INSERT … SELECT` + checkpoint): default 42.8 s and 359 MB; with
`disabled_compression_methods='dict_fsst'` 15.2 s and 283 MB, the long strings going to ZSTD. With
shorter bodies (~2.3 KB, 30,000 rows) DuckDB stores them uncompressed instead: 2.4 s and 174 MB
against 3.1 s and 59 MB by default, so the file grows when articles are short.

Row groups: writers attach the file with ROW_GROUP_SIZE 32,768 (DuckDB's default is 122,880).
DuckDB compresses and writes the full row groups of a large insert while the statement runs, on
every core, and a checkpoint rewrites only a table's last, partly filled row group. With the default
size a 100,000-row load fits in one row group, compressed on one core at commit, and the next batch
rewrites it whole. Measured with the floor of benchmarks/load.py (100,000 versions, 2 cores): one
insert 7.2 s at 122,880 rows against 4.4 s at 32,768; two inserts of 50,000, 12.9 s against 4.9 s.
The size is not stored in the file; any reader reads any size, only writers choose it. Staged
Arrow tables are cut into record batches of the same size (warehouse.stage), one per thread.

Checkpoints: writers set `checkpoint_threshold` to 1 KB, so every commit checkpoints, and DuckDB
skips the WAL for a commit that large: a batch is written once, straight to the file, and is
durable when COMMIT returns; closing the connection has nothing left to write. (DuckDB 2.0.1
checkpoints on close whatever the threshold, so a larger one would not spare a writer its
checkpoint.) Measured on a revisit of 100,000 articles: 1.07 s → 1.00 s.

Vacuum: a checkpoint merges a table's small adjacent row groups (DuckDB 2.0.1: always while they
hold fewer than 2,048 rows, above that once they reach twice the size before them). Each commit's
rows form row groups of their own, so with the vacuum on at every commit, loads of a few thousand
rows rewrite the rows stored before them again and again. Measured (one table of ~4.5 KB Cyrillic
bodies, 40 commits of 2,500 rows, 2 cores): 16.8 s with the vacuum at every commit against 6.6 s
without it; a 100,000-file `kazinform ingest` wrote in 19.1 s instead of 26.4 s (its 40 loads took
0.4–0.6 s each instead of up to 3.4 s), peaked at 439 MB instead of 514 MB (without Prefect), and
left a 560 MB file instead of 1,021 MB (the rewritten blocks stay in the file, free). Without any
vacuum, though, every commit leaves about one partly filled 256 KB block per table it writes to:
200 commits of 20 rows grew a file by 203 used blocks (~50 MB), by 19 with the vacuum. So writers
checkpoint without the vacuum (`max_vacuum_tasks = 0`), and a load of fewer than
`VACUUM_BELOW_VISITS` visits turns it on for its own commit (`vacuum_for_load`), which then merges
the small row groups left by every earlier load too. A load of that many visits or more writes
megabytes, against which the unmerged block per table is a few percent; a crawl's loads (a few
hundred pages) merge as before. With only large loads (ingests of many files), such blocks wait
for the next small load: ~1 MB per large load, measured (2,135 used blocks against 1,970 after
100,000 files in 40 loads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.migrate import apply_migrations

DEFAULT_WAREHOUSE = "warehouse.duckdb"
WAREHOUSE_ENV = "KAZINFORM_WAREHOUSE"
# Readers (queries, the crawl's plan) wait this long for a writer to let go of the file.
LOCK_TIMEOUT_SECONDS = 30.0
# Writers wait longer: a long read (an analyst's query) must not cost a run its work. Past this,
# the run keeps its staged batch as a load package for the next run (warehouse.packages).
WRITER_WAIT_ENV = "KAZINFORM_LOCK_WAIT"
DEFAULT_WRITER_WAIT_SECONDS = 600.0
# How often a waiting writer says it is still waiting.
WAIT_REPORT_EVERY_SECONDS = 5.0
WAREHOUSE_ALIAS = "warehouse"
# Rows per row group of what writers write (DuckDB's default is 122,880); see the module docstring.
ROW_GROUP_SIZE = 32_768

# Applied to every writer connection (see the module docstring for the measurement behind it).
WRITER_SETTINGS: tuple[str, ...] = (
    "SET TimeZone = 'UTC'",
    "SET disabled_compression_methods = 'dict_fsst'",
    # every commit checkpoints: a batch is written once, to the file, instead of to the WAL first
    "SET checkpoint_threshold = '1KB'",
    # no vacuum at a checkpoint, unless a small load asks for it (`vacuum_for_load`)
    "SET max_vacuum_tasks = 0",
)
# A load of fewer visits than this merges small row groups at its commit (see the module docstring):
# DuckDB's own line between a small row group and the rest (its vector size).
VACUUM_BELOW_VISITS = 2_048
# DuckDB memory of a writer connection. DuckDB's default (80% of the machine) let its working set
# grow with the warehouse during loads: an ingest of 40,000 text copies peaked at 1,006 MB, 646 MB
# at 256 MB with the same write time. At 128 MB: 10,000 copies 564–610 → 497–505 MB (write time
# 2.3–2.6 s either way), 30,000 615 → 524 MB; a 100,000-row first load and revisit in one batch
# still fit (DuckDB spills to `<warehouse>.tmp` past the limit).
WRITER_MEMORY_ENV = "KAZINFORM_WRITER_MEMORY"
DEFAULT_WRITER_MEMORY = "128MB"
# A large batch gets writer memory in proportion to what it inserts (`grow_writer_memory`): twice
# the Arrow size of the insert, up to a ceiling. Measured (DuckDB 2.0.1, 2 cores): a load of 100,000
# versions (~0.5 GB of text as Arrow) at 128 MB spilled each row group's uncompressed columns to
# `<warehouse>.tmp` before compressing them, its insert 5.0 s against 1.6–2.0 s at 0.5–1 GB (the
# same insert into a bare table takes ~2 s); and 600 versions of ~190 KB bodies (~115 MB) failed at
# 128 MB ("failed to pin block" while the commit compressed the partial row group), 1,200 needed
# ~450 MB. The flows cap a load's held memory at 64 MB (flows.batching): their writers stay at the
# default.
_DEFAULT_WRITER_MEMORY_BYTES = 128 * 10**6  # DuckDB's MB are decimal
WRITER_MEMORY_CEILING_BYTES = 1024 * 10**6
# Readers see timestamps in UTC, whatever the machine's zone.
READER_SETTINGS: tuple[str, ...] = ("SET TimeZone = 'UTC'",)

_LOCK_MESSAGE = "Could not set lock on file"


class WarehouseError(Exception):
    """A warehouse file cannot be used; the message says which file and why."""


class WarehouseLockedError(WarehouseError):
    """Another process kept the write lock for longer than we were willing to wait."""


class WarehouseNotFoundError(WarehouseError):
    """A reader was pointed at a warehouse file that does not exist."""


def resolve_warehouse_path(cli_value: str | None) -> Path:
    """The `--warehouse` value if given, else $KAZINFORM_WAREHOUSE, else ./warehouse.duckdb."""
    chosen = cli_value or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE
    return Path(chosen).expanduser()


def _connect(
    path: Path, *, read_only: bool, config: dict[str, object] | None = None
) -> duckdb.DuckDBPyConnection:
    """Readers open the file directly (with `config`, DuckDB settings applied before anything runs);
    writers attach it with the warehouse's row group size."""
    if read_only:
        return duckdb.connect(str(path), read_only=True, config=config or {})
    conn = duckdb.connect()
    try:
        quoted = str(path).replace("'", "''")
        conn.execute(f"ATTACH '{quoted}' AS {WAREHOUSE_ALIAS} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        conn.execute(f"USE {WAREHOUSE_ALIAS}")
    except BaseException:
        conn.close()
        raise
    return conn


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    """Another process holds the file (IOException), or another connection of this one (ResourceInUse)."""
    if isinstance(exc, duckdb.IOException):
        return _LOCK_MESSAGE in str(exc)
    return isinstance(exc, duckdb.ResourceInUseException)


def writer_wait_seconds() -> float:
    """How long a writer waits for the lock: $KAZINFORM_LOCK_WAIT seconds, else 10 minutes."""
    configured = os.environ.get(WRITER_WAIT_ENV)
    if not configured:
        return DEFAULT_WRITER_WAIT_SECONDS
    try:
        seconds = float(configured)
    except ValueError:
        raise WarehouseError(f"{WRITER_WAIT_ENV}={configured!r} is not a number of seconds") from None
    if seconds < 0:
        raise WarehouseError(f"{WRITER_WAIT_ENV}={configured!r} must not be negative")
    return seconds


WaitReporter = Callable[[float, float], None]  # (seconds waited so far, seconds allowed)


def _connect_waiting(
    path: Path,
    *,
    read_only: bool,
    timeout: float,
    config: dict[str, object] | None = None,
    on_wait: WaitReporter | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying with exponential backoff while another connection holds the file's lock;
    `on_wait` hears every few seconds how long the wait has lasted."""
    started = time.monotonic()
    deadline = started + timeout
    next_report = started + WAIT_REPORT_EVERY_SECONDS
    delay = 0.05
    while True:
        try:
            return _connect(path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if read_only:  # a reader is only ever kept out by a write
                    raise WarehouseLockedError(
                        f"warehouse {path} is locked: a write is in progress (waited {timeout:.0f} s "
                        "for it); try again when it has finished"
                    ) from exc
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by another process (waited {timeout:.0f} s); "
                    "try again when the other run has finished"
                ) from exc
            now = time.monotonic()
            if on_wait is not None and now >= next_report:
                on_wait(now - started, timeout)
                next_report = now + WAIT_REPORT_EVERY_SECONDS
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)


@contextmanager
def open_writer(
    path: Path | str, *, timeout: float | None = None, on_wait: WaitReporter | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection with every pending migration applied; closed (lock released) on exit.

    Use one per batch: `with open_writer(path) as conn: load_batch(conn, run_id, visits)`. Waits up
    to `timeout` seconds (default `writer_wait_seconds()`) for another process's lock, telling
    `on_wait` every few seconds; then raises WarehouseLockedError.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    wait = writer_wait_seconds() if timeout is None else timeout
    conn = _connect_waiting(path, read_only=False, timeout=wait, on_wait=on_wait)
    try:
        for statement in WRITER_SETTINGS:
            conn.execute(statement)
        conn.execute("SET memory_limit = ?", [os.environ.get(WRITER_MEMORY_ENV) or DEFAULT_WRITER_MEMORY])
        apply_migrations(conn)
        yield conn
    finally:
        conn.close()


def vacuum_for_load(conn: duckdb.DuckDBPyConnection, visits: int) -> None:
    """Set the vacuum of the commit of a load of `visits` visits: on below VACUUM_BELOW_VISITS,
    off otherwise (see the module docstring). Set for every load: one connection may load several
    batches (waiting load packages, then its own)."""
    conn.execute("RESET max_vacuum_tasks" if visits < VACUUM_BELOW_VISITS else "SET max_vacuum_tasks = 0")


def grow_writer_memory(conn: duckdb.DuckDBPyConnection, insert_bytes: int) -> None:
    """Let a writer hold twice `insert_bytes` (the Arrow size of what it is about to insert) in DuckDB
    memory, between the default and WRITER_MEMORY_CEILING_BYTES; never lowers the limit. A limit set
    in KAZINFORM_WRITER_MEMORY is kept as it is. The memory is the batch's own: the caller already
    holds that much as Arrow, so a process's peak stays bounded by the batches it forms."""
    if os.environ.get(WRITER_MEMORY_ENV):
        return
    wanted = min(max(2 * insert_bytes, _DEFAULT_WRITER_MEMORY_BYTES), WRITER_MEMORY_CEILING_BYTES)
    shown = conn.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()
    if wanted > 1.01 * _setting_bytes(str(shown[0][0]) if shown else ""):  # DuckDB shows the limit rounded
        conn.execute("SET memory_limit = ?", [f"{wanted // 10**6}MB"])


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _setting_bytes(value: str) -> int:
    """DuckDB's memory_limit as shown by duckdb_settings() ('122.0 MiB', '1.9 GiB') in bytes."""
    number, _, unit = value.strip().partition(" ")
    try:
        return int(float(number) * _UNITS[unit.strip()])
    except (KeyError, ValueError):
        return 0


@contextmanager
def open_reader(
    path: Path | str, *, timeout: float = LOCK_TIMEOUT_SECONDS, config: dict[str, object] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; waits for a writer in another process to let go of the file.
    `config` is passed to `duckdb.connect` (settings that must hold from the first statement)."""
    path = Path(path)
    if not path.exists():
        raise WarehouseNotFoundError(
            f"no warehouse at {path}: run `kazinform ingest` first, or pass --warehouse / ${WAREHOUSE_ENV}"
        )
    conn = _connect_waiting(path, read_only=True, timeout=timeout, config=config)
    try:
        for statement in READER_SETTINGS:
            conn.execute(statement)
        yield conn
    finally:
        conn.close()
