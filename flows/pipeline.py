"""The file ingest as plain Python: read and parse a batch, stage and load a gathered batch, and the
clocks of each stage. No Prefect here: the flow (flows.ingest) hands `run_pipeline` its tasks, and
`ingest_without_prefect` hands it the same functions called directly, so the ingest benchmark
measures Prefect's share of a run (its import included) against the very same work.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flows import stop
from flows.batching import LoadBuffer
from flows.progress import progress_bar
from flows.read import expand_inputs, read_visits, unreadable_visits
from flows.summary import RunSummary
from flows.writer import open_gated_writer
from parsers.registry import get_source
from warehouse.db import WarehouseLockedError, open_reader, open_writer, writer_wait_seconds
from warehouse.load import load_batch
from warehouse.packages import Package, PackageStore, load_waiting_packages
from warehouse.stage import StagedBatch, stage_batch
from warehouse.state import FileRead, known_tags, last_file_reads
from warehouse.visit import VisitInput

# Files per parse task. Each task run costs the command ~25 ms and the local Prefect server ~10 ms
# of CPU on the same cores (its events and logs); 1,250 text copies parse in ~0.6 s. Against 500
# per task, 10,000 text copies took ~0.8 s less (3 pairs: server CPU 1.2 → 0.8 s). Two such batches
# fill a load (flows.batching), so a stop asked while one is parsed finds the other still unloaded.
DEFAULT_BATCH_SIZE = 1_250
# Bytes of files per parse batch: a batch holds its files' bytes and records at once, so 1,250 large
# pages (300 KB each) would hold ~1 GB; 32 MB is ~4,000 text copies or ~100 large pages.
MAX_BATCH_FILE_BYTES = 32 * 1024 * 1024

# The outcome reported for a visit whose batch was kept as a load package (not in the warehouse yet).
PENDING = "pending"

_log = logging.getLogger("kazinform.pipeline")


class ParsedBatch:
    """Visits parsed from one batch of files, with the time it took. A plain class, not a
    collection: Prefect links a task's result to its state one level deep (flows.tasks), and this is
    one object however many visits it holds."""

    __slots__ = ("visits", "files", "seconds")

    def __init__(self, visits: list[VisitInput], files: int, seconds: float) -> None:
        self.visits = visits
        self.files = files
        self.seconds = seconds


@dataclass(slots=True)
class LoadReport:
    outcomes: list[str]  # aligned with the visits loaded
    stage_s: float  # Arrow tables, hashes, compression (no database)
    write_s: float  # the writer connection: waiting packages, then the transaction


@dataclass(slots=True)
class StageTimes:
    """Where a run's time went, summed over its batches (the steps' own clocks, not Prefect's)."""

    read_parse_s: float = 0.0
    files: int = 0
    stage_s: float = 0.0
    write_s: float = 0.0
    visits_loaded: int = 0
    loads: int = 0
    largest_load: int = 0
    # the file ingest's look-up of each path's last read (known_before_reading); None: not made
    lookup_s: float | None = None
    paths_read_before: int = 0

    def add_parsed(self, parsed: ParsedBatch) -> None:
        self.read_parse_s += parsed.seconds
        self.files += parsed.files

    def add_load(self, report: LoadReport) -> None:
        self.stage_s += report.stage_s
        self.write_s += report.write_s
        self.visits_loaded += len(report.outcomes)
        self.loads += 1
        self.largest_load = max(self.largest_load, len(report.outcomes))

    def describe(self, first_step: str = "read and parse") -> str:
        looked_up = (
            f"look-up of earlier reads {self.lookup_s:.1f} s ({self.paths_read_before} paths read before); "
            if self.lookup_s is not None
            else ""
        )
        return (
            f"stages: {looked_up}{first_step} {self.read_parse_s:.1f} s ({self.files} inputs); "
            f"stage {self.stage_s:.1f} s; write {self.write_s:.1f} s "
            f"({self.visits_loaded} visits in {self.loads} loads, largest {self.largest_load})"
        )


Logger = logging.Logger | logging.LoggerAdapter
# (paths, known tags, the paths' last reads): the source is bound by the caller
ParseStep = Callable[[list[Path], frozenset[str], Mapping[str, FileRead]], ParsedBatch]
LoadStep = Callable[[Path, str, list[VisitInput]], LoadReport]


def read_and_parse(
    paths: list[Path],
    tags_seen: frozenset[str],
    source_name: str | None = None,
    read_before: Mapping[str, FileRead] | None = None,
) -> ParsedBatch:
    """Read and parse a batch; `source_name` (`ingest --source`) overrides what addresses say;
    a file with the bytes of its path's last read (`read_before`) is not parsed (flows.read)."""
    started = time.perf_counter()
    source = get_source(source_name) if source_name else None
    visits = read_visits(paths, known_tags=tags_seen, source=source, read_before=read_before)
    return ParsedBatch(visits, len(paths), time.perf_counter() - started)


def stage_and_load(
    warehouse_path: Path, run_id: str, visits: Sequence[VisitInput], logger: Logger, *, gated: bool = True
) -> LoadReport:
    """One transaction per batch. Staging builds the light columns and each raw body's sha256 before
    the writer connection opens; the load builds version rows, field hashes and compressed bodies
    inside the lock, only for what its comparison finds new (warehouse.load).

    Packages kept by earlier runs are loaded first, in the order they were staged. When the
    warehouse stays locked past the writer's wait (warehouse.db), the staged batch is kept as a
    load package for the next writer and every visit of it is reported `pending`.

    `gated`: the writer queues for the Prefect `duckdb-writer` slot first (flows.writer); without
    it, only the file lock orders writers (the ingest without Prefect, which measures the work alone)."""
    started = time.perf_counter()
    staged = stage_batch(visits)
    stage_s = time.perf_counter() - started
    store = PackageStore.for_warehouse(warehouse_path)

    def still_waiting(waited: float, allowed: float) -> None:
        message = "warehouse %s is held by another process; waited %.0f s of %.0f s"
        logger.warning(message, warehouse_path, waited, allowed)

    started = time.perf_counter()
    try:
        writer = (
            open_gated_writer(warehouse_path, logger=logger, on_wait=still_waiting)
            if gated
            else open_writer(warehouse_path, on_wait=still_waiting)
        )
        with writer as connection:
            load_waiting_packages(connection, store, log=logger.info)
            outcomes: list[str] = list(load_batch(connection, run_id, staged).outcomes)
    except WarehouseLockedError as error:
        package, _ = write_package(store, run_id, visits, staged)
        logger.warning("%s; %d visits kept as load package %s", error, len(visits), package.url)
        outcomes = [PENDING] * len(visits)
    write_s = time.perf_counter() - started
    logger.info("staged %d visits in %.2f s, wrote them in %.2f s", len(visits), stage_s, write_s)
    return LoadReport(outcomes, stage_s, write_s)


def write_package(
    store: PackageStore,
    run_id: str,
    visits: Sequence[VisitInput],
    staged: StagedBatch | None = None,
    source: str | None = None,
) -> tuple[Package, LoadReport]:
    """The batch staged (unless it is already) and written as a load package for the loader; every
    visit is `pending` until a writer commits it. `source` None: the visits' own when they share one
    (the manifest names it). The one way a batch becomes a package: a stopped run, a warehouse
    held past the writer's wait, and a stage-only run (flows.package_step) all come here."""
    started = time.perf_counter()
    staged = stage_batch(visits) if staged is None else staged
    stage_s = time.perf_counter() - started
    started = time.perf_counter()
    package = store.write(run_id, staged, source=source or only_source(visits))
    return package, LoadReport([PENDING] * len(visits), stage_s, time.perf_counter() - started)


def keep_as_package(warehouse_path: Path, run_id: str, visits: Sequence[VisitInput]) -> LoadReport:
    """A batch of a run asked to stop (flows.stop): kept as a load package for the next writer,
    without waiting for the warehouse."""
    package, report = write_package(PackageStore.for_warehouse(warehouse_path), run_id, visits)
    _log.warning("stopping: %d visits kept as load package %s", len(visits), package.url)
    return report


def load_kept_packages(warehouse_path: Path, logger: Logger, *, gated: bool = True) -> int:
    """Load the packages earlier runs kept (stopped, or the warehouse held), before a crawl plans:
    what they hold is then known, and not fetched again. Returns the visits loaded. A warehouse
    held past the writer's wait leaves them for the next writer."""
    store = PackageStore.for_warehouse(warehouse_path)
    if not store.ready():
        return 0
    try:
        writer = open_gated_writer(warehouse_path, logger=logger) if gated else open_writer(warehouse_path)
        with writer as connection:
            results = load_waiting_packages(connection, store, log=logger.info)
    except WarehouseLockedError as error:
        logger.warning("%s; the kept load packages wait for the next writer", error)
        return 0
    return sum(len(result.outcomes) for result in results)


def only_source(visits: Sequence[VisitInput]) -> str | None:
    """The source of a batch's visits when they share one (a package's manifest says it)."""
    sources = {visit.source for visit in visits}
    return sources.pop() if len(sources) == 1 else None


def tags_known_to(warehouse_path: Path) -> frozenset[str]:
    """Multi-word tags seen on HTML pages help split the run-together tag line of text copies.
    A run waits for a write in progress as long as its own writes would (warehouse.db), not the
    30 s of a person's query: runs started together all finish, one after another."""
    if not warehouse_path.exists():
        return frozenset()
    with open_reader(warehouse_path, timeout=writer_wait_seconds()) as connection:
        return frozenset(known_tags(connection))


def known_before_reading(
    warehouse_path: Path, files: Sequence[str]
) -> tuple[frozenset[str], dict[str, FileRead]]:
    """What the ingest asks the warehouse before it reads, with one reader: the known tags
    (tags_known_to) and the last read of each of `files` that the warehouse has read before
    (warehouse.state.last_file_reads; ~250 bytes held per such file until the run ends).

    While load packages wait for the warehouse, no read is looked up and every file is parsed: a
    package may hold a later read of the same path (a file edited and then put back)."""
    if not warehouse_path.exists():
        return frozenset(), {}
    look_up = not PackageStore.for_warehouse(warehouse_path).ready()
    with open_reader(warehouse_path, timeout=writer_wait_seconds()) as connection:
        # keyed as the visits hold them: the locator is the str of the Path read (flows.read)
        reads = last_file_reads(connection, (str(Path(file)) for file in files)) if look_up else {}
        return frozenset(known_tags(connection)), reads


def batched_by_size(
    files: Sequence[str | Path], max_files: int, max_bytes: int = MAX_BATCH_FILE_BYTES
) -> Iterator[list[Path]]:
    """`files` in order, in batches of at most `max_files` files and (but for a single file over it)
    `max_bytes` bytes. A file whose size cannot be read counts as empty: reading it says why."""
    batch: list[Path] = []
    batch_bytes = 0
    for path in files:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        if batch and (len(batch) >= max_files or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(Path(path))
        batch_bytes += size
    if batch:
        yield batch


def load_batches(
    batches: Iterator[list[VisitInput]],
    load: Callable[[list[VisitInput]], LoadReport],
    times: StageTimes,
    summary: RunSummary,
) -> None:
    """Load each ready batch and count it. A loop of its own, so no name keeps a loaded batch alive
    while the next one gathers (the ingest and the crawl share it)."""
    for ready in batches:
        report = load(ready)
        times.add_load(report)
        summary.add(ready, report.outcomes)


def run_pipeline(
    inputs: list[str],
    warehouse_path: Path,
    run_id: str,
    parse: ParseStep,
    load: LoadStep,
    batch_size: int = DEFAULT_BATCH_SIZE,
    source_name: str | None = None,
    keep: LoadStep = keep_as_package,
) -> tuple[RunSummary, StageTimes]:
    """Read, parse and load `inputs` batch by batch; memory is bounded by one load batch
    (flows.batching) and one parse batch, whatever the number of inputs. Once a stop is asked
    (flows.stop), no new file is read and what was read goes to `keep` instead of `load`."""
    started = time.monotonic()
    summary = RunSummary(run_id=run_id, title="Ingest of files")
    times = StageTimes()
    files, problems, summary.unmatched_inputs = expand_inputs(inputs)
    looking_up = time.perf_counter()
    tags_seen, read_before = known_before_reading(warehouse_path, files)
    times.lookup_s, times.paths_read_before = time.perf_counter() - looking_up, len(read_before)
    buffer = LoadBuffer()

    def load_or_keep(ready: list[VisitInput]) -> LoadReport:
        return (keep if stop.asked() else load)(warehouse_path, run_id, ready)

    def load_each(batches: Iterator[list[VisitInput]]) -> None:
        load_batches(batches, load_or_keep, times, summary)

    # Inputs that cannot be read (missing, a link loop, a dangling link, no permission) are visits
    # of their own, `failed` with the reason, loaded with the rest.
    load_each(buffer.add(unreadable_visits(problems, get_source(source_name) if source_name else None)))
    with progress_bar(len(files), "ingest") as advance:
        read = 0
        for batch in batched_by_size(files, batch_size):
            if stop.asked():
                summary.interrupted, summary.inputs_not_read = True, len(files) - read
                break
            read += len(batch)
            parsed = parse(batch, tags_seen, {p: read_before[p] for p in map(str, batch) if p in read_before})
            times.add_parsed(parsed)
            load_each(buffer.add(parsed.visits))
            del parsed  # the buffer holds the visits now; nothing else should
            advance(len(batch))
        load_each(buffer.flush())
    summary.interrupted = summary.interrupted or stop.asked()
    summary.elapsed_s = time.monotonic() - started
    return summary, times


def ingest_without_prefect(
    inputs: list[str],
    warehouse_path: str,
    run_id: str,
    logger: Logger | None = None,
    source_name: str | None = None,
) -> tuple[RunSummary, StageTimes]:
    """The flow's work with the same functions called directly: no flow run, no task runs."""
    log = logger or logging.getLogger("kazinform.ingest")
    return run_pipeline(
        inputs,
        Path(warehouse_path),
        run_id,
        parse=lambda paths, tags, reads: read_and_parse(paths, tags, source_name, reads),
        load=lambda path, run_id, visits: stage_and_load(path, run_id, visits, log, gated=False),
        source_name=source_name,
    )
