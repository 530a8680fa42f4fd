"""The one loader: every ready load package of a warehouse's package store, committed in the order
the packages were staged (warehouse.packages).

`load_ready` is plain Python; the Prefect flow `load-packages` runs it (deployment `load-packages`
in flows/serve.py: started by a `kazinform.package.ready` event of this warehouse, and every few
minutes as a catch-up for events that were lost while the API was down).

- Each package is its own transaction (warehouse.load.load_batch with its PackageRecord: the
  package's `load_packages` row commits with its visits), so a loader killed in the middle of a
  package leaves nothing of it, and the next run loads it once.
- Writes go through the one-writer gate (flows.writer: the `duckdb-writer` slot, then the file
  lock). The gate is held for a run of packages up to HOLD_WRITER_S, then let go so a crawl or
  ingest waiting for it gets its turn.
- A package already in `load_packages` is only removed; one that cannot be read or loaded is moved
  aside with its reason and the loader goes on; a fault of the warehouse itself stops the run with
  the package left ready.
- The store is listed again once a listing is done: packages staged while the loader worked are
  loaded by the same run (the deployment runs one run at a time; an event that comes during a run
  does not queue another). A run starts no new listing after `max_duration_s`.
- After the loads, the outbox is flushed (flows.events) so the articles' events go out, and what
  interrupted writers left in the store (half-written packages, plans of fan-outs that never came
  back) is removed once older than STALE_AFTER.

`announce_package` is what the stage side calls once a package is written: the
`kazinform.package.ready` event that starts the loader.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from flows.events import FlushResult, event_dict, flush_outbox, send_events, warehouse_label
from flows.writer import open_gated_writer
from warehouse.db import WarehouseLockedError
from warehouse.packages import Package, PackageRef, PackageStore, load_one_package

Logger = logging.Logger | logging.LoggerAdapter

PACKAGE_READY_EVENT = "kazinform.package.ready"
# The writer gate is let go after this long and taken again for the rest: a crawl's batch waits at
# most about this long behind a loader with a long queue (a package loads in well under a second to
# a few seconds), and the slot and file are opened once per 30 s rather than once per package.
HOLD_WRITER_S = 30.0
# A run starts no new listing of the store after this long: a stream of packages faster than the
# loader must not keep one run going for ever (the next event or the catch-up schedule goes on).
MAX_RUN_S = 15 * 60.0
# `announce_package` waits this long for the API: a worker's run must not hang on a missing server
# (the catch-up schedule loads the package anyway).
ANNOUNCE_DEADLINE_S = 5.0

# Leftovers of interrupted writers are removed after a day: longer than any stage run or fan-out
# waits (6 h), so nothing still being written or still to be read by a queued run goes.
STALE_AFTER = timedelta(hours=24)

_log = logging.getLogger("kazinform.loader")


@dataclass(slots=True)
class LoadedPackage:
    package_id: str
    run_id: str
    source: str | None
    visits: int
    seconds: float


@dataclass(slots=True)
class LoaderReport:
    """What one loader run did."""

    store: str
    loaded: list[LoadedPackage] = field(default_factory=list)
    moved_aside: list[tuple[str, str]] = field(default_factory=list)  # (package id, reason)
    already_loaded: list[str] = field(default_factory=list)
    left: int = 0  # ready packages the run did not get to (the warehouse was held, or time ran out)
    error: str | None = None  # why the run stopped short, in words
    flush: FlushResult | None = None
    elapsed_s: float = 0.0
    removed_stale: list[str] = field(default_factory=list)  # leftovers of interrupted writers
    taken_by_another: int = 0  # listed, then loaded by another loader before this one had the gate

    @property
    def visits(self) -> int:
        return sum(package.visits for package in self.loaded)

    def to_text(self) -> str:
        lines = [
            f"loaded {len(self.loaded)} packages ({self.visits} visits) from {self.store} "
            f"in {self.elapsed_s:.1f} s",
        ]
        for package in self.loaded:
            source = f", {package.source}" if package.source else ""
            lines.append(
                f"  {package.package_id}  run {package.run_id}{source}: {package.visits} visits "
                f"in {package.seconds:.2f} s"
            )
        if self.already_loaded:
            lines.append(f"skipped {len(self.already_loaded)} already loaded (removed)")
        if self.taken_by_another:
            lines.append(f"skipped {self.taken_by_another} another loader had loaded meanwhile")
        for package_id, reason in self.moved_aside:
            lines.append(f"moved aside {package_id}: {reason}")
        if self.left:
            lines.append(f"left for the next run: {self.left} packages")
        if self.error:
            lines.append(f"stopped: {self.error}")
        if self.flush is not None and (self.flush.emitted or self.flush.error):
            lines.append(f"events: {self.flush.emitted} emitted, {self.flush.remaining} waiting")
        if self.removed_stale:
            leftovers = len(self.removed_stale)
            lines.append(f"removed {leftovers} leftovers of interrupted writers (older than a day)")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        rows = [
            "| package | run | source | visits | seconds |",
            "|---|---|---|---:|---:|",
            *(
                f"| {p.package_id} | {p.run_id} | {p.source or ''} | {p.visits} | {p.seconds:.2f} |"
                for p in self.loaded
            ),
        ]
        parts = [f"# Load packages\n\n{len(self.loaded)} loaded ({self.visits} visits) from `{self.store}`"]
        if self.loaded:
            parts.append("\n".join(rows))
        if self.already_loaded:
            parts.append(f"{len(self.already_loaded)} already loaded (removed).")
        if self.moved_aside:
            parts.append("Moved aside:\n\n" + "\n".join(f"- `{pid}`: {why}" for pid, why in self.moved_aside))
        if self.left or self.error:
            parts.append(f"Left for the next run: {self.left}. {self.error or ''}".strip())
        return "\n\n".join(parts)


def load_ready(
    warehouse_path: Path | str,
    store: PackageStore | None = None,
    logger: Logger | None = None,
    *,
    max_duration_s: float = MAX_RUN_S,
    flush: bool = True,
) -> LoaderReport:
    """Load every ready package of `store` (default: the warehouse's) into `warehouse_path`, oldest
    first, each in its own transaction under the one-writer gate (module docstring)."""
    log = logger or _log
    store = store or PackageStore.for_warehouse(warehouse_path)
    report = LoaderReport(store=store.url)
    started = time.monotonic()
    handled: set[str] = set()  # never twice in one run, even when a package cannot be taken out
    while True:
        queue = [ref for ref in store.ready() if ref.package_id not in handled]
        if not queue:
            break
        if time.monotonic() - started > max_duration_s:
            report.left = len(queue)
            report.error = f"the run's {max_duration_s:.0f} s were up"
            break
        try:
            _load_queue(warehouse_path, store, queue, handled, report, log)
        except WarehouseLockedError as error:
            report.error = f"the warehouse could not be written ({error})"
        except (duckdb.IOException, duckdb.FatalException) as error:
            report.error = f"the warehouse failed ({type(error).__name__}: {error}); the package stays ready"
        if report.error:
            report.left = len([ref for ref in store.ready() if ref.package_id not in handled])
            break
    if flush and report.loaded:
        report.flush = flush_outbox(warehouse_path, logger=log)
    report.removed_stale = remove_stale(store, log)
    report.elapsed_s = time.monotonic() - started
    if report.error:
        log.warning("loader: %s; %d packages left for the next run", report.error, report.left)
    log.info(
        "loader: %d packages (%d visits) loaded, %d already loaded, %d moved aside, in %.1f s",
        len(report.loaded), report.visits, len(report.already_loaded), len(report.moved_aside),
        report.elapsed_s,
    )  # fmt: skip
    return report


def remove_stale(store: PackageStore, log: Logger, older_than: timedelta = STALE_AFTER) -> list[str]:
    """Housekeeping of the store; it never fails a loader run."""
    from flows.stage_plans import PLANS_FOLDER

    try:
        removed = store.remove_stale(older_than, side_folders=[PLANS_FOLDER])
    except OSError as error:
        log.warning("loader: leftovers in %s not removed: %s", store.url, error)
        return []
    for location in removed:
        log.info("loader: removed %s, left by an interrupted writer", location)
    return removed


def _load_queue(
    warehouse_path: Path | str,
    store: PackageStore,
    queue: list[PackageRef],
    handled: set[str],
    report: LoaderReport,
    log: Logger,
) -> None:
    """Load `queue` in order, taking the gate again every HOLD_WRITER_S."""
    position = 0
    while position < len(queue):
        with open_gated_writer(warehouse_path, logger=log) as connection:
            held_since = time.monotonic()
            # Listed before the gate: another loader (the `load-packages` trigger beside a fan-out's
            # own load) may have committed and removed some since. Under the gate nothing changes.
            still_ready = {ref.package_id for ref in store.ready()}
            while position < len(queue) and time.monotonic() - held_since < HOLD_WRITER_S:
                ref = queue[position]
                handled.add(ref.package_id)
                position += 1
                if ref.package_id not in still_ready:
                    report.taken_by_another += 1
                    continue
                package_started = time.monotonic()
                outcome = load_one_package(connection, store, ref, log.info)
                if outcome.result is not None:
                    source = outcome.package.source if outcome.package else None
                    report.loaded.append(
                        LoadedPackage(
                            ref.package_id, outcome.result.run_id, source,
                            len(outcome.result.outcomes), time.monotonic() - package_started,
                        )
                    )  # fmt: skip
                elif outcome.already_loaded:
                    report.already_loaded.append(ref.package_id)
                elif outcome.moved_aside is not None:
                    report.moved_aside.append((ref.package_id, outcome.moved_aside))


def announce_package(package: Package, warehouse_path: Path | str) -> bool:
    """Emit `kazinform.package.ready` for a package just written (it starts `load-packages`). True
    when the API took it; never raises: with the API down, the catch-up schedule loads it."""
    label = warehouse_label(warehouse_path)
    resource = {
        "prefect.resource.id": f"kazinform.package.{package.package_id}",
        "kazinform.warehouse": label,
        "kazinform.source": package.source or "",
        "kazinform.run": package.run_id,
    }
    payload = {
        "counts": dict(package.counts),
        "visits": package.visits,
        "staged_at": package.staged_at.isoformat(),
        "url": package.url,
    }
    try:
        related = _related_flow_run()
        event = event_dict(PACKAGE_READY_EVENT, resource, payload, related, datetime.now(UTC), uuid.uuid4())
        accepted, error = send_events([event], time.monotonic() + ANNOUNCE_DEADLINE_S)
    except Exception as failure:  # noqa: BLE001 — an announcement never fails a stage run
        accepted, error = 0, str(failure)
    if not accepted:
        _log.warning(
            "package %s is ready but could not be announced (%s); the loader's schedule takes it",
            package.package_id, error,
        )  # fmt: skip
    return bool(accepted)


def package_ready_trigger(warehouse_path: Path | str) -> DeploymentEventTrigger:
    """Run `load-packages` on each `kazinform.package.ready` event of this warehouse (resource label
    `kazinform.warehouse`); a run loads every ready package, not only the one announced."""
    label = warehouse_label(warehouse_path)
    return DeploymentEventTrigger(
        name=f"load-packages on package.ready ({label})",
        description=f"Loads the packages staged for the warehouse {label}",
        expect={PACKAGE_READY_EVENT},
        match={"prefect.resource.id": "kazinform.package.*", "kazinform.warehouse": label},
        posture="Reactive",
        threshold=1,
        within=timedelta(0),
        parameters={"warehouse_path": label},
    )


def _related_flow_run() -> list[dict[str, str]]:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    if not run_id:
        return []
    return [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}]


# --- the Prefect flow -------------------------------------------------------------------------------


@flow(name="load-packages", log_prints=False)
def load_packages(warehouse_path: str) -> LoaderReport:
    """Load the ready packages of the warehouse's package store (`load_ready`); the summary is the
    run's artifact `load-packages`."""
    from flows.run_guard import report_artifact

    logger = get_run_logger()
    report = load_ready(warehouse_path, logger=logger)
    markdown = report.to_markdown()
    report_artifact(
        lambda: create_markdown_artifact(markdown, key="load-packages", description="Load packages")
    )
    return report
