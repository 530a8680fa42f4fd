"""Finding the warehouse file, readers, and writers waiting for a lock held by another process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from test_warehouse_support import make_record, parsed
from warehouse.db import (
    WRITER_MEMORY_CEILING_BYTES,
    WRITER_MEMORY_ENV,
    WarehouseLockedError,
    WarehouseNotFoundError,
    grow_writer_memory,
    open_reader,
    open_writer,
    resolve_warehouse_path,
)
from warehouse.load import load_batch

HOLD_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_warehouse_path_comes_from_cli_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAZINFORM_WAREHOUSE", "env.duckdb")
    assert resolve_warehouse_path("cli.duckdb") == Path("cli.duckdb")
    assert resolve_warehouse_path(None) == Path("env.duckdb")
    monkeypatch.delenv("KAZINFORM_WAREHOUSE")
    assert resolve_warehouse_path(None) == Path("warehouse.duckdb")


def test_reader_on_a_missing_file_says_so(tmp_path: Path) -> None:
    with (
        pytest.raises(WarehouseNotFoundError, match="no warehouse at"),
        open_reader(tmp_path / "none.duckdb"),
    ):
        pass
    assert not (tmp_path / "none.duckdb").exists()


def test_reader_sees_committed_data_while_no_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with open_writer(path) as conn:
        load_batch(conn, "r", [parsed(make_record())])
    with open_reader(path) as reader:
        assert reader.execute("select title from articles").fetchall() == [("Госвизит Токаева в Москву",)]
        with pytest.raises(Exception, match="read-only"):
            reader.execute("delete from visits")


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_writer_waits_for_another_process_to_release_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 1.0)
    try:
        start = time.monotonic()
        with open_writer(path, timeout=20) as conn:
            waited = time.monotonic() - start
            assert load_batch(conn, "r", [parsed(make_record())]).outcomes == ["created"]
        assert waited > 0.3
    finally:
        holder.wait(timeout=20)
    with open_reader(path) as reader:
        assert reader.execute("select count(*) from held").fetchall() == [(0,)]


def test_writer_gives_up_with_a_clear_error_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 5.0)
    try:
        with (
            pytest.raises(WarehouseLockedError, match="locked by another process"),
            open_writer(path, timeout=0.5),
        ):
            pass
        with pytest.raises(WarehouseLockedError), open_reader(path, timeout=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()


def _memory_limit(conn: duckdb.DuckDBPyConnection) -> int:
    [(value,)] = conn.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()
    number, unit = value.split()
    return int(float(number) * {"MiB": 2**20, "GiB": 2**30}[unit])


def test_a_writer_gets_memory_in_proportion_to_a_large_insert_up_to_the_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WRITER_MEMORY_ENV, raising=False)
    with open_writer(tmp_path / "w.duckdb") as conn:
        default = _memory_limit(conn)
        assert 120 * 10**6 < default <= 128 * 10**6
        grow_writer_memory(conn, 10 * 10**6)  # a small insert: the default stays
        assert _memory_limit(conn) == default
        grow_writer_memory(conn, 150 * 10**6)  # twice the insert
        assert abs(_memory_limit(conn) - 300 * 10**6) < 2 * 10**6
        grow_writer_memory(conn, 100 * 10**6)  # never lowered within a connection
        assert abs(_memory_limit(conn) - 300 * 10**6) < 2 * 10**6
        grow_writer_memory(conn, 50 * 10**9)
        assert abs(_memory_limit(conn) - WRITER_MEMORY_CEILING_BYTES) < 2 * 10**6
    with open_writer(tmp_path / "w.duckdb") as conn:  # the next writer starts at the default again
        assert _memory_limit(conn) == default


def test_a_writer_memory_set_by_the_user_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WRITER_MEMORY_ENV, "64MB")
    with open_writer(tmp_path / "w.duckdb") as conn:
        grow_writer_memory(conn, 500 * 10**6)
        assert 60 * 10**6 < _memory_limit(conn) <= 64 * 10**6


def test_a_load_of_long_bodies_grows_its_writer_memory_and_a_small_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """600 bodies of ~190 KB: at the default 128 MB the commit failed to compress them ("failed to
    pin block"); the writer now holds memory in proportion to the insert."""
    monkeypatch.delenv(WRITER_MEMORY_ENV, raising=False)
    paragraph = "Абзац о визите и договорённостях. " * 3000
    long_bodies = [parsed(make_record(f"long{i}", body=paragraph), raw=b"x") for i in range(600)]
    with open_writer(tmp_path / "w.duckdb") as conn:
        default = _memory_limit(conn)
        load_batch(conn, "small", [parsed(make_record())])
        assert _memory_limit(conn) == default
        load_batch(conn, "long", long_bodies)
        assert _memory_limit(conn) > 200 * 10**6
        [(versions, longest)] = conn.execute(
            "SELECT count(*), max(length(body)) FROM article_versions"
        ).fetchall()
    assert (versions, longest) == (601, len(paragraph))
