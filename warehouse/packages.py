"""Load packages: staged batches kept in a package store until the one loader commits them.

The stage side (a crawl or ingest on any machine) writes each staged batch
(warehouse.stage.StagedBatch) as a package; the loader (flows.loader, or the next writer on one
machine: flows.pipeline) loads the packages waiting, in the order they were staged, each in its own
transaction. dlt's split of extract/normalize from load is the model.

A package is a folder `<store>/<package id>/`: one Parquet file per staged table (visits, versions,
raw) and `manifest.json` (package id, run id, source, when staged, host, format version, counts,
sha256 of each file). Package ids begin with the staging time (UTC, microseconds), so they sort in
staging order; a random suffix keeps ids from two machines apart.

Where: `$KAZINFORM_PACKAGES`, else `<warehouse file>.packages` beside the warehouse. Either is a
local folder or any fsspec URL (`s3://bucket/prefix`, `gs://…`, `memory://…`), so workers on other
machines write where the loader reads.

Never half seen:
- a local folder: the package is written under a hidden temporary name (`.<id>.partial`) and
  renamed when complete (one atomic rename on one filesystem);
- an object store (no rename there): the data files are written first and `manifest.json` last;
  only a package with its manifest is ready, and reading checks every file against its sha256.

A package's `load_packages` row commits in the same transaction as its visits (warehouse.load), so
a package already loaded is only removed, never loaded twice; one that cannot be read or loaded is
moved to `failed/<id>/` with `reason.txt`, and the loader goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.load import LoadResult, PackageRecord, load_batch
from warehouse.stage import StagedBatch, in_row_groups

PACKAGES_ENV = "KAZINFORM_PACKAGES"
FORMAT_VERSION = 1  # of the staged tables' layout; a package of another format is moved aside
MANIFEST = "manifest.json"
REASON = "reason.txt"
FAILED_FOLDER = "failed"
TABLES = ("visits", "versions", "raw")
_PARTIAL_PREFIX = "."
_PARTIAL_SUFFIX = ".partial"
# `<staged_at as %Y%m%dT%H%M%S%fZ>-<8 hex>`: anything else in the store (failed/, a crawl plan, a
# half-written local package) is not a package.
PACKAGE_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
ALREADY_LOADED = "SELECT count(*) FROM load_packages WHERE package_id = ?"
_READ_CHUNK = 1 << 20


class PackageError(Exception):
    """A package cannot be read: incomplete, altered, or of another format."""


@dataclass(frozen=True, slots=True)
class PackageRef:
    """A package in a store: its id and its folder in the store's filesystem."""

    package_id: str
    location: str


@dataclass(frozen=True, slots=True)
class Package:
    """A package as its manifest describes it."""

    ref: PackageRef
    url: str  # where it is, as a person would type it (a local path, or the store's URL scheme)
    run_id: str
    source: str | None
    staged_at: datetime
    visits: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def package_id(self) -> str:
        return self.ref.package_id


@dataclass(frozen=True, slots=True)
class FailedPackage:
    """A package moved aside: its reason, and what its manifest says when it can be read."""

    ref: PackageRef
    reason: str
    package: Package | None


def package_store_url(warehouse_path: Path | str) -> str:
    """Where the packages of `warehouse_path` wait: $KAZINFORM_PACKAGES, else beside the warehouse."""
    configured = os.environ.get(PACKAGES_ENV)
    if configured:
        return configured if "://" in configured else str(Path(configured).expanduser().absolute())
    path = Path(warehouse_path).expanduser().absolute()
    return str(path.with_name(path.name + ".packages"))


_last_id_time = datetime.min.replace(tzinfo=UTC)
_id_lock = threading.Lock()


def _staging_time() -> datetime:
    """Now, strictly after the last id this process made: one process's packages sort in the
    order it staged them even when two come within a microsecond or the clock steps back."""
    global _last_id_time
    with _id_lock:
        now = max(datetime.now(UTC), _last_id_time + timedelta(microseconds=1))
        _last_id_time = now
        return now


class _HashingWriter:
    """A binary file that hashes what goes through it: the sha256 is known once the file is
    written, with no second read (on an object store, a second read is a second download)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._written = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self._handle.write(data)
        self._digest.update(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:  # the owner closes the real file
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class PackageStore:
    """The load packages of a warehouse, on a local folder or any fsspec URL (module docstring)."""

    def __init__(self, url: str | Path) -> None:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        self.url = str(url)
        # storage options (credentials, endpoint) come from the filesystem's usual environment
        self.fs, root = url_to_fs(self.url)
        self.root = root.rstrip("/") or root
        self.is_local = isinstance(self.fs, LocalFileSystem)

    @classmethod
    def for_warehouse(cls, warehouse_path: Path | str) -> PackageStore:
        return cls(package_store_url(warehouse_path))

    def __repr__(self) -> str:
        return f"PackageStore({self.url!r})"

    # --- where things are ---------------------------------------------------------------------

    def _join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def url_of(self, location: str) -> str:
        """`location` as a person would type it: a local path, or the store's URL."""
        return location if self.is_local else self.fs.unstrip_protocol(location)

    def _ref(self, package_id: str) -> PackageRef:
        return PackageRef(package_id, self._join(package_id))

    # --- writing ------------------------------------------------------------------------------

    def write(self, run_id: str, staged: StagedBatch, source: str | None = None) -> Package:
        """Write `staged` as a package of `run_id`; it is complete (and ready) once this returns."""
        staged_at = _staging_time()
        package_id = f"{staged_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
        final = self._join(package_id)
        target = self._join(f"{_PARTIAL_PREFIX}{package_id}{_PARTIAL_SUFFIX}") if self.is_local else final
        self.fs.makedirs(target, exist_ok=True)
        files: dict[str, str] = {}
        try:
            for name in TABLES:
                file_name = f"{name}.parquet"
                with self.fs.open(f"{target}/{file_name}", "wb") as handle:
                    hashing = _HashingWriter(handle)
                    pq.write_table(getattr(staged, name), hashing, compression="zstd")
                files[file_name] = hashing.hexdigest()
            counts = {name: getattr(staged, name).num_rows for name in TABLES}
            manifest = {
                "package_id": package_id,
                "run_id": run_id,
                "source": source,
                "staged_at": staged_at.isoformat(),
                "host": socket.gethostname(),
                "format_version": FORMAT_VERSION,
                "rounds": staged.rounds,
                "counts": counts,
                "files": files,
            }
            # the manifest last: on an object store, its presence is what makes the package ready
            self.fs.pipe_file(f"{target}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
            if self.is_local:
                os.rename(target, final)
        except BaseException:
            self._remove_quietly(target)
            raise
        package = self._package_from(self._ref(package_id), manifest)
        return package

    def _remove_quietly(self, location: str) -> None:
        try:
            if self.fs.exists(location):
                self.fs.rm(location, recursive=True)
        except Exception:  # the writer's own error matters more; a leftover is never ready
            pass

    # --- the queue ----------------------------------------------------------------------------

    def ready(self) -> list[PackageRef]:
        """Complete packages waiting, oldest first (one listing of the store)."""
        if not self.fs.exists(self.root):
            return []
        found = self.fs.glob(self._join("*", MANIFEST))
        ids = {path.rstrip("/").split("/")[-2] for path in found}
        return [self._ref(package_id) for package_id in sorted(ids) if PACKAGE_ID.match(package_id)]

    def manifest(self, ref: PackageRef) -> Package:
        """What the manifest says (its files are not read: see `read`)."""
        return self._package_from(ref, self._read_manifest(ref.location))

    def read(self, ref: PackageRef) -> tuple[Package, StagedBatch]:
        """The package and its staged tables, each file checked against its manifest's sha256."""
        manifest = self._read_manifest(ref.location)
        try:
            tables: dict[str, pa.Table] = {}
            for name in TABLES:
                file_name = f"{name}.parquet"
                # the bytes checked are the bytes parsed: no second read that could differ
                data = self.fs.cat_file(f"{ref.location}/{file_name}")
                if hashlib.sha256(data).hexdigest() != manifest["files"][file_name]:
                    raise PackageError(f"{file_name} does not match the sha256 in its manifest")
                tables[name] = in_row_groups(pq.read_table(pa.BufferReader(data)))
                del data
            for name in TABLES:
                if tables[name].num_rows != int(manifest["counts"][name]):
                    found, expected = tables[name].num_rows, manifest["counts"][name]
                    raise PackageError(f"{name} has {found} rows, its manifest says {expected}")
            package = self._package_from(ref, manifest)
            staged = StagedBatch(tables["visits"], tables["versions"], tables["raw"], int(manifest["rounds"]))
        except PackageError:
            raise
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
            raise PackageError(f"unreadable package ({type(error).__name__}: {error})") from error
        return package, staged

    def _read_manifest(self, location: str) -> dict[str, Any]:
        try:
            manifest = json.loads(self.fs.cat_file(f"{location}/{MANIFEST}"))
        except (OSError, ValueError) as error:
            raise PackageError(f"unreadable manifest ({type(error).__name__}: {error})") from error
        if not isinstance(manifest, dict):
            raise PackageError("unreadable manifest (not a JSON object)")
        if manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version")
            raise PackageError(f"format {found!r}, this release reads {FORMAT_VERSION}")
        if manifest.get("package_id") != location.rstrip("/").split("/")[-1]:
            raise PackageError(f"its manifest names another package ({manifest.get('package_id')!r})")
        return manifest

    def _package_from(self, ref: PackageRef, manifest: dict[str, Any]) -> Package:
        try:
            counts = {name: int(count) for name, count in manifest["counts"].items()}
            return Package(
                ref=ref,
                url=self.url_of(ref.location),
                run_id=str(manifest["run_id"]),
                source=manifest.get("source"),
                staged_at=datetime.fromisoformat(manifest["staged_at"]),
                visits=counts["visits"],
                counts=counts,
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise PackageError(f"unreadable manifest ({type(error).__name__}: {error})") from error

    # --- taking packages out of the queue ---------------------------------------------------

    def remove(self, ref: PackageRef) -> None:
        """Delete a loaded package. The manifest goes first: a removal cut short leaves files that
        are never ready again (and a package already loaded would only be removed anyway)."""
        manifest = f"{ref.location}/{MANIFEST}"
        if self.fs.exists(manifest):
            self.fs.rm_file(manifest)
        if self.fs.exists(ref.location):
            self.fs.rm(ref.location, recursive=True)

    def move_aside(self, ref: PackageRef, reason: str) -> str:
        """Take a package that cannot be loaded out of the queue, with the reason beside it; returns
        where it went."""
        failed = self._join(FAILED_FOLDER)
        target = f"{failed}/{ref.package_id}"
        if self.is_local:
            Path(failed).mkdir(parents=True, exist_ok=True)
            if Path(target).exists():  # moved aside before, then written again: keep the newest
                import shutil

                shutil.rmtree(target)
            os.rename(ref.location, target)
        else:
            # no rename on an object store: copy, then remove the original (manifest first)
            self.fs.makedirs(target, exist_ok=True)
            for path in self.fs.find(ref.location):
                self.fs.copy(path, f"{target}/{path[len(ref.location) + 1 :]}")
            self.remove(ref)
        self.fs.pipe_file(f"{target}/{REASON}", (reason + "\n").encode())
        return self.url_of(target)

    def failed(self) -> list[FailedPackage]:
        """Packages moved aside, oldest first, with their reasons."""
        failed = self._join(FAILED_FOLDER)
        if not self.fs.exists(failed):
            return []
        entries: list[FailedPackage] = []
        for location in sorted(self.fs.ls(failed, detail=False)):
            location = location.rstrip("/")
            ref = PackageRef(location.split("/")[-1], location)
            try:
                reason = self.fs.cat_file(f"{location}/{REASON}").decode(errors="replace").strip()
            except OSError:
                reason = "(no reason recorded)"
            try:
                package: Package | None = self._package_from(ref, self._read_manifest(location))
            except PackageError:
                package = None
            entries.append(FailedPackage(ref, reason, package))
        return entries

    def requeue(self, package_id: str) -> Package:
        """Put a package moved aside back in the queue (after what failed it was fixed): its reason
        goes, its files stay as they were; the loader checks them again."""
        source = f"{self._join(FAILED_FOLDER)}/{package_id}"
        if not PACKAGE_ID.match(package_id) or not self.fs.exists(f"{source}/{MANIFEST}"):
            raise PackageError(f"no package {package_id} among those moved aside (kazinform packages)")
        ref = self._ref(package_id)
        if self.fs.exists(ref.location):
            raise PackageError(f"package {package_id} is already in the queue")
        manifest = self._read_manifest(source)  # one that cannot be read would only fail again
        if self.fs.exists(f"{source}/{REASON}"):
            self.fs.rm_file(f"{source}/{REASON}")
        if self.is_local:
            os.rename(source, ref.location)
        else:  # the data files first, the manifest last: ready only when whole
            files = sorted(self.fs.find(source), key=lambda path: path.endswith(f"/{MANIFEST}"))
            for path in files:
                self.fs.copy(path, f"{ref.location}/{path[len(source) + 1 :]}")
            self.fs.rm(source, recursive=True)
        return self._package_from(ref, manifest)

    def remove_stale(self, older_than: timedelta, side_folders: Sequence[str] = ()) -> list[str]:
        """Remove what interrupted writers left, once older than `older_than`: hidden `.partial`
        files and folders (a local store), package folders without a manifest (an object store),
        and entries of `side_folders` (e.g. the plans of fan-outs that never came back). Returns
        what was removed, as URLs. A writer still at work is younger than any sensible cutoff."""
        if not self.fs.exists(self.root):
            return []
        cutoff = datetime.now(UTC) - older_than
        candidates: list[str] = []
        for entry in self.fs.ls(self.root, detail=False):
            name = entry.rstrip("/").split("/")[-1]
            partial = name.startswith(_PARTIAL_PREFIX) and name.endswith(_PARTIAL_SUFFIX)
            headless = PACKAGE_ID.match(name) and not self.fs.exists(f"{entry}/{MANIFEST}")
            if partial or headless:
                candidates.append(entry.rstrip("/"))
        for folder in side_folders:
            location = self._join(folder)
            if self.fs.exists(location):
                candidates += [entry.rstrip("/") for entry in self.fs.ls(location, detail=False)]
        removed: list[str] = []
        for location in candidates:
            modified = self._last_modified(location)
            if modified is not None and modified < cutoff:
                self._remove_quietly(location)
                removed.append(self.url_of(location))
        return removed

    def _last_modified(self, location: str) -> datetime | None:
        """The newest modification time of a file or of any file under a folder; None when the
        filesystem does not say."""
        paths = self.fs.find(location) if self.fs.isdir(location) else [location]
        times: list[datetime] = []
        for path in paths or [location]:
            try:
                modified = self.fs.modified(path)
            except (NotImplementedError, OSError, ValueError):
                return None
            times.append(modified if modified.tzinfo else modified.replace(tzinfo=UTC))
        return max(times) if times else None

    # --- small side files (a crawl plan handed to workers) ------------------------------------

    def write_file(self, name: str, data: bytes) -> str:
        """Write `data` at `name` under the store (whole: temporary name + rename on a local
        folder; an object store writes an object whole); returns its URL."""
        location = self._join(name)
        parent = location.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.is_local:
            partial = f"{parent}/{_PARTIAL_PREFIX}{uuid.uuid4().hex}{_PARTIAL_SUFFIX}"
            Path(partial).write_bytes(data)
            os.rename(partial, location)
        else:
            self.fs.pipe_file(location, data)
        return self.url_of(location)

    def read_file(self, name: str) -> bytes:
        return self.fs.cat_file(self._join(name))


@dataclass(frozen=True, slots=True)
class PackageOutcome:
    """What came of one package: loaded (`result`), already loaded before, or moved aside."""

    ref: PackageRef
    package: Package | None = None  # its manifest, when it could be read
    result: LoadResult | None = None
    already_loaded: bool = False
    moved_aside: str | None = None  # the reason


def load_waiting_packages(
    conn: duckdb.DuckDBPyConnection, store: PackageStore, log: Callable[[str], None] = print
) -> list[LoadResult]:
    """Load every package waiting in `store` with the writer connection `conn` (held by the
    caller), oldest first, each in its own transaction (`load_one_package`). Used by a writer on
    one machine before its own batch (flows.pipeline); the loader (flows.loader) does the same,
    reporting each package."""
    results: list[LoadResult] = []
    for ref in store.ready():
        outcome = load_one_package(conn, store, ref, log)
        if outcome.result is not None:
            results.append(outcome.result)
    return results


def load_one_package(
    conn: duckdb.DuckDBPyConnection, store: PackageStore, ref: PackageRef, log: Callable[[str], None] = print
) -> PackageOutcome:
    """Load one package in its own transaction and remove it once committed. A package already
    recorded in `load_packages` is only removed; one that cannot be read or loaded is moved aside
    with its reason. A fault of the warehouse itself (duckdb.IOException, FatalException: a full
    disk, a broken file) is raised with the package left ready: it is not the package's fault."""
    package: Package | None = None
    try:
        package = store.manifest(ref)
        if conn.execute(ALREADY_LOADED, [package.package_id]).fetchone()[0]:
            store.remove(ref)
            log(f"load package {ref.package_id} was loaded before: removed")
            return PackageOutcome(ref, package, already_loaded=True)
        package, staged = store.read(ref)
    except PackageError as error:
        return _set_aside(store, ref, package, str(error), log)
    try:
        result = load_batch(
            conn, package.run_id, staged, package=PackageRecord(package.package_id, package.staged_at)
        )
    except (duckdb.IOException, duckdb.FatalException):
        raise
    except Exception as error:  # noqa: BLE001 — one package's bad data never stops the loader
        return _set_aside(store, ref, package, f"the load failed ({type(error).__name__}: {error})", log)
    del staged
    store.remove(ref)
    log(f"loaded package {package.package_id} of run {package.run_id}: {package.visits} visits")
    return PackageOutcome(ref, package, result=result)


def _set_aside(
    store: PackageStore, ref: PackageRef, package: Package | None, reason: str, log: Callable[[str], None]
) -> PackageOutcome:
    try:
        store.move_aside(ref, reason)
    except FileNotFoundError:  # gone meanwhile (another loader took it): nothing to set aside
        log(f"load package {ref.package_id} is gone from the store: left alone")
        return PackageOutcome(ref, package)
    log(f"load package {ref.package_id} moved aside: {reason}")
    return PackageOutcome(ref, package, moved_aside=reason)
