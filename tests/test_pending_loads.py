"""A warehouse held by another process: writers wait, then keep their batches as load packages that
the next writer loads first; nothing parsed is thrown away and nothing is loaded twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_files
from parsers.api import parse_file
from warehouse.db import open_writer
from warehouse.packages import FAILED_FOLDER, PackageStore, load_waiting_packages
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"


def seed_visits(*names: str) -> list[VisitInput]:
    record = parse_file(SEED)
    raw = SEED.read_bytes()
    return [
        VisitInput("kazinform", name, datetime.now(UTC), "parsed", record, record.article_id, raw)
        for name in names
    ]


def ready_packages(store: PackageStore) -> list[Path]:
    return [Path(ref.location) for ref in store.ready()]


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_a_package_loads_once_in_staged_order_under_its_own_run(tmp_path: Path) -> None:
    folder = PackageStore(tmp_path / "packages")
    first = folder.write("run-a", stage_batch(seed_visits("a.txt")))
    second = folder.write("run-b", stage_batch(seed_visits("b.txt")))
    assert ready_packages(folder) == [Path(first.url), Path(second.url)]
    warehouse = tmp_path / "w.duckdb"
    with open_writer(warehouse) as connection:
        results = load_waiting_packages(connection, folder, log=lambda _line: None)
    assert [r.outcomes for r in results] == [["created"], ["unchanged"]]
    assert rows(warehouse, "select run_id, path, outcome from visits order by visit_id") == [
        ("run-a", "a.txt", "created"),
        ("run-b", "b.txt", "unchanged"),
    ]
    assert ready_packages(folder) == []
    assert rows(warehouse, "select package_id, visits from load_packages order by loaded_at") == [
        (first.package_id, 1),
        (second.package_id, 1),
    ]


def test_a_package_already_recorded_is_removed_not_loaded_again(tmp_path: Path) -> None:
    folder = PackageStore(tmp_path / "packages")
    package = folder.write("run-a", stage_batch(seed_visits("a.txt")))
    kept = tmp_path / "copy"
    shutil.copytree(package.url, kept)
    warehouse = tmp_path / "w.duckdb"
    with open_writer(warehouse) as connection:
        load_waiting_packages(connection, folder, log=lambda _line: None)
    # The process died after the commit but before removing the files: the package is back.
    shutil.copytree(kept, package.url)
    with open_writer(warehouse) as connection:
        assert load_waiting_packages(connection, folder, log=lambda _line: None) == []
    assert rows(warehouse, "select count(*) from visits") == [(1,)]
    assert ready_packages(folder) == []


def test_an_altered_or_partial_package_is_set_aside_with_its_reason(tmp_path: Path) -> None:
    folder = PackageStore(tmp_path / "packages")
    altered = folder.write("run-a", stage_batch(seed_visits("a.txt")))
    good = folder.write("run-b", stage_batch(seed_visits("b.txt")))
    (Path(altered.url) / "visits.parquet").write_bytes(b"not parquet")
    # a writer died mid-package
    (tmp_path / "packages" / ".20990101T000000000000Z-deadbeef.partial").mkdir()
    warehouse = tmp_path / "w.duckdb"
    lines: list[str] = []
    with open_writer(warehouse) as connection:
        results = load_waiting_packages(connection, folder, log=lines.append)
    assert [r.outcomes for r in results] == [["created"]]
    assert rows(warehouse, "select run_id from visits") == [("run-b",)]
    aside = tmp_path / "packages" / FAILED_FOLDER / altered.package_id
    assert "does not match the sha256" in (aside / "reason.txt").read_text()
    assert any(altered.package_id in line and "moved aside" in line for line in lines)
    assert not Path(good.url).exists()


@pytest.fixture
def long_query(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A warehouse with one article, held by a read-only connection in another process (a long
    analyst's query): yields the file and that process, which the test may end."""
    warehouse = tmp_path / "held.duckdb"
    with open_writer(warehouse) as connection:
        from warehouse.load import load_batch

        load_batch(connection, "earlier", seed_visits("earlier.txt"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    try:
        yield warehouse, holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_an_ingest_that_cannot_write_keeps_its_work_for_the_next_run(
    prefect_api: str,
    long_query: tuple[Path, subprocess.Popen[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse, holder = long_query
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for n in range(3):
        shutil.copy(SEED, inputs / f"copy_{n}.txt")
    monkeypatch.setenv("KAZINFORM_LOCK_WAIT", "6")
    started = time.monotonic()
    summary = ingest_files([str(inputs)], str(warehouse))
    waited = time.monotonic() - started
    assert 6 <= waited < 60
    assert summary.counts == {"pending": 3}
    assert "kept for the next run" in summary.to_text()
    [package] = ready_packages(PackageStore.for_warehouse(warehouse))
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["run_id"] == summary.run_id and manifest["counts"]["visits"] == 3

    holder.kill()  # the query ends
    holder.wait(timeout=10)

    later = ingest_files([str(SEED)], str(warehouse))
    assert later.counts == {"unchanged": 1}
    assert ready_packages(PackageStore.for_warehouse(warehouse)) == []
    by_run = rows(warehouse, "select run_id, count(*) from visits group by run_id order by run_id")
    assert sorted(by_run) == sorted([("earlier", 1), (summary.run_id, 3), (later.run_id, 1)])
    assert rows(warehouse, "select count(*) from load_packages") == [(1,)]


def test_a_waiting_writer_says_so_and_the_command_says_where_its_work_is(
    prefect_api: str, long_query: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    warehouse, _holder = long_query
    kazinform = str(Path(sys.executable).with_name("kazinform"))
    command = [kazinform, "ingest", str(SEED), "--warehouse", str(warehouse)]
    # 16 s in all: the duckdb-writer slot (flows.writer) may take a few of them on a busy machine
    env = {**os.environ, "KAZINFORM_LOCK_WAIT": "16"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    waits = [line for line in result.stderr.splitlines() if "is held by another process; waited" in line]
    assert len(waits) >= 2, result.stderr[-3000:]  # every 5 s of what the slot left of the 16
    assert "pending       1" in result.stdout
    assert "kept for the next run: 1 visit as load packages" in result.stdout
    assert len(ready_packages(PackageStore.for_warehouse(warehouse))) == 1
