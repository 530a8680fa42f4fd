"""The package store (warehouse.packages.PackageStore) on a local folder and on `memory://`.

`memory://` is fsspec's in-memory filesystem, standing in here for an object store (`s3://…`,
`gs://…`): the same fsspec calls, and like an object store it has no atomic rename of a folder, so
the store writes the manifest last there instead of renaming. It lives in this process only, which
is why the cross-process tests use folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from parsers.api import parse_file
from warehouse.packages import (
    FAILED_FOLDER,
    FORMAT_VERSION,
    MANIFEST,
    PACKAGES_ENV,
    PackageError,
    PackageStore,
    package_store_url,
)
from warehouse.stage import stage_batch
from warehouse.visit import VisitInput

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"


def article_visits(
    count: int, *, prefix: str = "a", edition: int = 0, source: str = "kazinform"
) -> list[VisitInput]:
    """`count` distinct articles made from the seed (ids `<prefix><n>`); another `edition` changes
    each one's title, so a later package of the same ids holds new versions."""
    record = parse_file(SEED)
    raw = SEED.read_bytes()
    now = datetime.now(UTC)
    visits = []
    for n in range(count):
        article_id = f"{prefix}{n:07d}"
        title = f"{record.title} {article_id} #{edition}"
        copy = replace(record, source=source, article_id=article_id, title=title, content_hash="",
                       url=f"https://example.test/{article_id}")  # fmt: skip
        body = raw + f"\n{article_id} #{edition}".encode()
        visits.append(VisitInput(source, f"{article_id}.txt", now, "parsed", copy, article_id, body))
    return visits


@pytest.fixture(params=["folder", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PackageStore]:
    """The same tests on a local folder and on fsspec's in-memory filesystem (an object store)."""
    if request.param == "folder":
        yield PackageStore(tmp_path / "packages")
        return
    url = f"memory://kazinform-test-{uuid.uuid4().hex[:8]}/packages"
    found = PackageStore(url)
    try:
        yield found
    finally:
        found.fs.rm(found.root, recursive=True)


def test_a_package_reads_back_as_written_with_its_manifest(store: PackageStore) -> None:
    staged = stage_batch(article_visits(3))
    package = store.write("run-1", staged, source="kazinform")
    [ref] = store.ready()
    assert ref == package.ref
    manifest = json.loads(store.fs.cat_file(f"{ref.location}/{MANIFEST}"))
    assert manifest["package_id"] == package.package_id
    assert (manifest["run_id"], manifest["source"]) == ("run-1", "kazinform")
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["counts"] == {"visits": 3, "versions": 3, "raw": 3}
    assert set(manifest["files"]) == {"visits.parquet", "versions.parquet", "raw.parquet"}
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert datetime.fromisoformat(manifest["staged_at"]) == package.staged_at

    read, batch = store.read(ref)
    assert read == package and (read.visits, read.source) == (3, "kazinform")
    assert batch.visits.equals(staged.visits)
    assert batch.versions.equals(staged.versions)
    assert batch.raw.equals(staged.raw)
    assert batch.rounds == staged.rounds


def test_packages_are_ready_in_staging_order_and_leave_the_queue(store: PackageStore) -> None:
    written = [store.write(f"run-{n}", stage_batch(article_visits(1, prefix=f"p{n}-"))) for n in range(5)]
    assert [ref.package_id for ref in store.ready()] == [p.package_id for p in written]
    assert [p.package_id for p in written] == sorted(p.package_id for p in written)
    store.remove(written[0].ref)
    where = store.move_aside(written[1].ref, "a reason in words")
    assert store.ready() == [p.ref for p in written[2:]]
    [failed] = store.failed()
    assert (failed.ref.package_id, failed.reason) == (written[1].package_id, "a reason in words")
    assert failed.package is not None and failed.package.run_id == "run-1"
    assert where.endswith(f"{FAILED_FOLDER}/{written[1].package_id}")
    # side files (a crawl plan) are not packages
    store.write_file("plans/run-9/kazinform.json", b"{}")
    assert store.read_file("plans/run-9/kazinform.json") == b"{}"
    assert store.ready() == [p.ref for p in written[2:]]


def test_an_altered_file_is_refused(store: PackageStore) -> None:
    package = store.write("run-1", stage_batch(article_visits(2)))
    path = f"{package.ref.location}/versions.parquet"
    data = bytearray(store.fs.cat_file(path))
    data[len(data) // 2] ^= 0xFF  # one byte flipped in the middle of the file
    store.fs.pipe_file(path, bytes(data))
    with pytest.raises(PackageError, match="versions.parquet does not match the sha256"):
        store.read(package.ref)


def test_a_manifest_of_another_format_or_package_is_refused(store: PackageStore) -> None:
    first = store.write("run-1", stage_batch(article_visits(1)))
    second = store.write("run-2", stage_batch(article_visits(1, prefix="b")))
    manifest_path = f"{first.ref.location}/{MANIFEST}"
    manifest = json.loads(store.fs.cat_file(manifest_path))
    store.fs.pipe_file(manifest_path, json.dumps({**manifest, "format_version": 99}).encode())
    with pytest.raises(PackageError, match="format 99"):
        store.read(first.ref)
    # a manifest copied over from another package
    store.fs.copy(f"{second.ref.location}/{MANIFEST}", manifest_path)
    with pytest.raises(PackageError, match="names another package"):
        store.manifest(first.ref)
    store.fs.pipe_file(manifest_path, b"{not json")
    with pytest.raises(PackageError, match="unreadable manifest"):
        store.read(first.ref)


def test_files_without_their_manifest_are_never_ready(store: PackageStore) -> None:
    """On an object store a writer killed before its manifest leaves data files only."""
    package = store.write("run-1", stage_batch(article_visits(1)))
    half = f"{store.root}/20200101T000000000000Z-0000beef"
    store.fs.makedirs(half, exist_ok=True)
    for name in ("visits.parquet", "versions.parquet"):
        store.fs.copy(f"{package.ref.location}/{name}", f"{half}/{name}")
    assert store.ready() == [package.ref]


def test_a_writer_killed_mid_package_leaves_nothing_ready(tmp_path: Path) -> None:
    """A real process killed (SIGKILL) between two files of a large package, on a folder."""
    folder = tmp_path / "packages"
    script = f"""
import sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
import pyarrow.parquet as pq
from test_package_store import article_visits
from warehouse.packages import PackageStore
from warehouse.stage import stage_batch

real = pq.write_table
def write_then_say(table, where, **options):
    real(table, where, **options)
    print("one file written", flush=True)
    import time; time.sleep(600)  # killed here, a file written and two to go
pq.write_table = write_then_say
PackageStore({str(folder)!r}).write("run-killed", stage_batch(article_visits(50)))
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "one file written"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    [leftover] = os.listdir(folder)
    assert leftover.startswith(".") and leftover.endswith(".partial")
    assert PackageStore(folder).ready() == []
    # killed after the manifest, before the rename: still not ready
    complete = PackageStore(folder).write("run-2", stage_batch(article_visits(1)))
    os.rename(complete.url, folder / f".{complete.package_id}.partial")
    assert PackageStore(folder).ready() == []


def test_the_store_of_a_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PACKAGES_ENV, raising=False)
    warehouse = tmp_path / "w.duckdb"
    assert package_store_url(warehouse) == str(tmp_path / "w.duckdb.packages")
    assert PackageStore.for_warehouse(warehouse).is_local
    monkeypatch.setenv(PACKAGES_ENV, str(tmp_path / "elsewhere"))
    assert PackageStore.for_warehouse(warehouse).root == str(tmp_path / "elsewhere")
    monkeypatch.setenv(PACKAGES_ENV, "memory://bucket/prefix")
    remote = PackageStore.for_warehouse(warehouse)
    assert (remote.is_local, remote.root, remote.url) == (False, "/bucket/prefix", "memory://bucket/prefix")


def test_parquet_files_are_plain_parquet(tmp_path: Path) -> None:
    """Any Parquet reader opens a package's files (nothing project-specific in them)."""
    store = PackageStore(tmp_path / "packages")
    package = store.write("run-1", stage_batch(article_visits(2)))
    table = pq.read_table(Path(package.url) / "visits.parquet")
    assert table.num_rows == 2 and "article_id" in table.column_names


def test_a_package_moved_aside_goes_back_in_the_queue(store: PackageStore) -> None:
    kept = store.write("run-1", stage_batch(article_visits(2)))
    aside = store.write("run-2", stage_batch(article_visits(3, prefix="b")))
    store.move_aside(aside.ref, "the warehouse's disk was full")
    assert store.ready() == [kept.ref]

    requeued = store.requeue(aside.package_id)
    assert (requeued.package_id, requeued.run_id, requeued.visits) == (aside.package_id, "run-2", 3)
    assert store.ready() == [kept.ref, aside.ref]  # back in its staging place
    assert store.failed() == []
    _, staged = store.read(aside.ref)  # its files as written: the sha256 checks pass
    assert staged.visits.num_rows == 3
    with pytest.raises(PackageError, match="no package .* among those moved aside"):
        store.requeue(aside.package_id)
    with pytest.raises(PackageError, match="no package"):
        store.requeue("not-a-package")


def test_leftovers_of_interrupted_writers_go_once_old(store: PackageStore) -> None:
    complete = store.write("run-1", stage_batch(article_visits(1)))
    aside = store.write("run-2", stage_batch(article_visits(1, prefix="b")))
    store.move_aside(aside.ref, "kept for a person to look at")
    half = store.write("run-3", stage_batch(article_visits(1, prefix="c")))
    if store.is_local:  # killed before its rename
        os.rename(half.url, Path(store.root) / f".{half.package_id}.partial")
    else:  # killed before its manifest
        store.fs.rm_file(f"{half.ref.location}/{MANIFEST}")
    plan = store.write_file("plans/run-9/kazinform.json", b"{}")

    assert store.remove_stale(timedelta(hours=1), side_folders=["plans"]) == []  # all too young
    removed = store.remove_stale(timedelta(0), side_folders=["plans"])
    assert len(removed) == 2 and any(half.package_id in url for url in removed)
    assert any(url.endswith("plans/run-9") for url in removed), (removed, plan)
    assert store.ready() == [complete.ref]  # a complete package is never a leftover
    assert [entry.ref.package_id for entry in store.failed()] == [aside.package_id]
    assert store.remove_stale(timedelta(0), side_folders=["plans"]) == []


def test_the_packages_command_requeues_and_cleans(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    store = PackageStore.for_warehouse(warehouse)
    aside = store.write("run-aside", stage_batch(article_visits(2)))
    store.move_aside(aside.ref, "raw.parquet does not match the sha256 in its manifest")
    store.write_file("plans/run-old/kazinform.json", b"{}")
    kazinform = str(Path(sys.executable).with_name("kazinform"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kazinform, "packages", *args, "--warehouse", str(warehouse)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    nothing = run("requeue")
    assert nothing.returncode == 2 and "(ID...), or --all" in nothing.stderr
    unknown = run("requeue", "20200101T000000000000Z-0000beef")
    assert unknown.returncode == 1 and "no package 20200101T000000000000Z-0000beef" in unknown.stderr
    done = run("requeue", "--all")
    assert done.returncode == 0, done.stderr
    assert f"requeued {aside.package_id}  run run-aside  visits 2" in done.stdout
    assert "1 packages ready" in done.stdout and store.ready() == [aside.ref]

    kept = run("clean")  # the plan is seconds old: kept
    assert kept.returncode == 0 and "removed 0 leftovers older than 24 h" in kept.stdout, kept.stdout
    cleaned = run("clean", "--older-than", "0")
    assert cleaned.returncode == 0 and "removed 1 leftovers older than 0 h" in cleaned.stdout, cleaned.stdout
    assert not (Path(store.root) / "plans" / "run-old").exists() and store.ready() == [aside.ref]
