"""Load packages: a staged batch kept on disk until a writer can load it.

A run that cannot get the write lock in time (a long query holds the file) does not throw its parsed
work away: each staged batch (warehouse.stage.StagedBatch) is written as a package, and the next
writer loads the packages waiting, in the order they were staged, before its own batch.

A package is a folder: one Parquet file per staged table (visits, versions, raw) and `manifest.json`
(package id, run id, when staged, counts, format version, sha256 of each file). It is written under
a hidden temporary name and renamed when complete, so a half-written package is never seen. Its
`load_packages` row commits in the same transaction as its visits (warehouse.load), so a package
already loaded is only removed, never loaded twice; one that cannot be read or loaded is moved to
`failed/` beside the others with the reason, and the writer goes on.

The folder is `$KAZINFORM_PACKAGES`, else `<warehouse file>.packages` beside the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.load import LoadResult, PackageRecord, load_batch
from warehouse.stage import StagedBatch, in_row_groups

PACKAGES_ENV = "KAZINFORM_PACKAGES"
FORMAT_VERSION = 1  # of the staged tables' layout; a package of another format is moved aside
MANIFEST = "manifest.json"
FAILED_FOLDER = "failed"
_TABLES = ("visits", "versions", "raw")
_PARTIAL_PREFIX = "."
ALREADY_LOADED = "SELECT count(*) FROM load_packages WHERE package_id = ?"


class PackageError(Exception):
    """A package cannot be read: incomplete, altered, or of another format."""


@dataclass(frozen=True, slots=True)
class Package:
    path: Path
    package_id: str
    run_id: str
    staged_at: datetime
    visits: int


def package_folder(warehouse_path: Path | str) -> Path:
    """Where the packages of `warehouse_path` wait: $KAZINFORM_PACKAGES, else beside the warehouse."""
    configured = os.environ.get(PACKAGES_ENV)
    if configured:
        return Path(configured).expanduser()
    path = Path(warehouse_path)
    return path.with_name(path.name + ".packages")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_package(folder: Path, run_id: str, staged: StagedBatch) -> Package:
    """Write `staged` as a package of `run_id`; complete once this returns (atomic rename)."""
    staged_at = datetime.now(UTC)
    # Names sort in staging order: the loader takes them in that order.
    package_id = f"{staged_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{_PARTIAL_PREFIX}{package_id}.partial"
    partial.mkdir()
    files: dict[str, str] = {}
    for name in _TABLES:
        target = partial / f"{name}.parquet"
        pq.write_table(getattr(staged, name), target, compression="zstd")
        files[target.name] = _sha256(target)
    manifest = {
        "package_id": package_id,
        "run_id": run_id,
        "staged_at": staged_at.isoformat(),
        "format_version": FORMAT_VERSION,
        "rounds": staged.rounds,
        "counts": {name: getattr(staged, name).num_rows for name in _TABLES},
        "files": files,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    final = folder / package_id
    partial.rename(final)
    return Package(final, package_id, run_id, staged_at, len(staged))


def ready_packages(folder: Path) -> list[Path]:
    """Complete packages waiting in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(
        entry
        for entry in folder.iterdir()
        if entry.is_dir() and not entry.name.startswith(_PARTIAL_PREFIX) and (entry / MANIFEST).is_file()
    )


def read_package(path: Path) -> tuple[Package, StagedBatch]:
    """The package's manifest and staged tables, checked against the manifest's sha256 values."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version")
            raise PackageError(f"format {found!r}, this release reads {FORMAT_VERSION}")
        tables: dict[str, pa.Table] = {}
        for name in _TABLES:
            file = path / f"{name}.parquet"
            if _sha256(file) != manifest["files"][file.name]:
                raise PackageError(f"{file.name} does not match the sha256 in its manifest")
            tables[name] = in_row_groups(pq.read_table(file))
        package = Package(
            path,
            manifest["package_id"],
            manifest["run_id"],
            datetime.fromisoformat(manifest["staged_at"]),
            tables["visits"].num_rows,
        )
    except PackageError:
        raise
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
        raise PackageError(f"unreadable package ({type(error).__name__}: {error})") from error
    staged = StagedBatch(tables["visits"], tables["versions"], tables["raw"], int(manifest["rounds"]))
    return package, staged


def move_aside(path: Path, reason: str) -> Path:
    """Take a package that cannot be loaded out of the queue, with the reason beside it."""
    failed = path.parent / FAILED_FOLDER
    failed.mkdir(exist_ok=True)
    target = failed / path.name
    path.rename(target)
    (target / "reason.txt").write_text(reason + "\n")
    return target


def load_ready_packages(
    conn: duckdb.DuckDBPyConnection, folder: Path, log: Callable[[str], None] = print
) -> list[LoadResult]:
    """Load every package waiting in `folder`, oldest first, each in its own transaction; remove
    each once committed. A package already recorded in `load_packages` is only removed."""
    results: list[LoadResult] = []
    for path in ready_packages(folder):
        try:
            package, staged = read_package(path)
        except PackageError as error:
            log(f"load package {path.name} moved aside: {error}")
            move_aside(path, str(error))
            continue
        if conn.execute(ALREADY_LOADED, [package.package_id]).fetchone()[0]:
            shutil.rmtree(path)
            continue
        try:
            result = load_batch(
                conn, package.run_id, staged, package=PackageRecord(package.package_id, package.staged_at)
            )
        except duckdb.Error as error:
            log(f"load package {path.name} moved aside: the load failed ({error})")
            move_aside(path, f"load failed: {error}")
            continue
        shutil.rmtree(path)
        log(f"loaded package {package.package_id} of run {package.run_id}: {package.visits} visits")
        results.append(result)
    return results
