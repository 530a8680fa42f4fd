"""Finding the warehouse file, readers, and writers waiting for a lock held by another process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_warehouse_support import make_record, parsed
from warehouse.db import (
    WarehouseLockedError,
    WarehouseNotFoundError,
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
