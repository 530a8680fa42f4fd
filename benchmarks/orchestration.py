"""Orchestration benchmark: what Prefect (flow, tasks, events) costs a crawl, how soon an event starts
its downstream run, and what writing events costs a large first load under the write lock.

Method:
(a) crawl   The same crawl of an N-article replica (real-size pages, 100–300 KB; its feeds list every
            article; per-host rate limit lifted; fresh DuckDB file each run), run two ways, each in
            a child of a small launcher so that its wall time and peak RSS are its own
            (benchmarks/child_usage.py):
              with Prefect     the real command `kazinform crawl --revisit all --rate 0` against the
                               local Prefect server: flow run, task runs, the duckdb-writer slot per
                               load, the outbox emitted as events, run.completed, artifacts;
              without Prefect  flows.crawl_pipeline.crawl_without_prefect: the same loop and the same
                               functions called directly (file lock only, no events sent, no
                               artifacts; each batch still writes its outbox rows, the load's own work).
            Wall time is the whole child, interpreter start and imports included. Prefect's share is
            (with − without) / with, per pair of runs; pairs run in alternating order (with first,
            then without first, …) and the headline is the median share with its range.
(b) events  The change-report deployment served for a warehouse holding N real changed articles
            (a replica crawled, every article's title edited, crawled again), with its real trigger
            (flows.change_report.change_report_trigger; window given below) and
            PREFECT_RUNNER_POLL_FREQUENCY as given below. One `kazinform.article.changed` event per
            article is sent the way the flows send them (flows.events.send_events: POST /events),
            each more than the trigger's window after the one before, so every event starts its own
            run. Latency = the run's start_time (API) − the event's `occurred`. Each run's state
            history splits it: automation (event → run created), runner (created → Pending: the
            runner's poll), process (Pending → Running: a new Python process, imports, flow start).
(c) load    A first load of N generated articles (benchmarks/load.py's records, with their raw text
            copies), staged once, cut into loads by the flows' own LoadBuffer (memory-capped), each
            load written as the flows do (open_writer → load_batch → close); the lock held is the
            sum over loads of open_writer → close. With events: as shipped (the outbox rows written
            in each load's transaction, warehouse.outbox.write_outbox, timed on its own as well).
            Without: the same load with `warehouse.load.write_outbox` replaced by a no-op in this
            process only (a switch of the benchmark's; nothing in the project changes). Rounds
            alternate the order, fresh warehouse each; the headline is the median of each round's
            ratio with / without.

    .venv/bin/python benchmarks/orchestration.py [--articles 2000] [--pairs 3] [--events 20]
        [--event-window 10] [--poll 2] [--rows 100000] [--rounds 3] [--parts crawl events load]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.child_usage import run_command_measured  # noqa: E402

PREFECT_SHARE_TARGET = 0.10
EVENT_LATENCY_TARGET_S = 5.0
EVENTS_COST_TARGET = 0.05
# A run not started this long after its event counts as lost (printed, the benchmark goes on).
RUN_START_TIMEOUT_S = 90.0
SEED = 2026

# The crawl's closing line, from the flow's log or the direct child's print: "crawl stages: fetch and
# parse 9.1 s (2000 inputs); stage 1.2 s; write 2.3 s (2000 visits in 1 loads, largest 2000); whole
# run 14.0 s"
_STAGES = re.compile(
    r"stages: fetch and parse (?P<fetch_parse>[\d.]+) s \((?P<inputs>\d+) inputs\); "
    r"stage (?P<stage>[\d.]+) s; write (?P<write>[\d.]+) s \((?P<visits>\d+) visits in (?P<loads>\d+) "
    r"loads.*whole run (?P<whole>[\d.]+) s"
)


def median_range(values: list[float], fmt: str = "{:.1f}") -> str:
    return (
        f"median {fmt.format(statistics.median(values))} "
        f"[{fmt.format(min(values))} to {fmt.format(max(values))}] of {len(values)}"
    )


# --- (a) the crawl with and without Prefect ------------------------------------------------------


@dataclass
class CrawlRun:
    wall_s: float
    peak_rss_mb: float
    stages: dict[str, float]
    article_pages: int  # article-page visits in the warehouse after the run


def _crawl_command(
    with_prefect: bool, base_url: str, warehouse: Path, articles: int, concurrency: int
) -> list[str]:
    max_pages, max_links = articles // 24 + 2, articles
    if with_prefect:
        return [
            str(Path(sys.executable).with_name("kazinform")), "crawl", "kazinform",
            "--warehouse", str(warehouse), "--revisit", "all", "--rate", "0",
            "--concurrency", str(concurrency), "--max-pages", str(max_pages),
            "--max-links-per-page", str(max_links),
        ]  # fmt: skip
    return [
        sys.executable, str(Path(__file__).resolve()), "--direct-crawl",
        str(warehouse), str(max_pages), str(max_links), str(concurrency),
    ]  # fmt: skip


def direct_crawl(warehouse: str, max_pages: str, max_links: str, concurrency: str) -> None:
    """The child of the run without Prefect: the crawl's functions called directly."""
    from flows.crawl_pipeline import CrawlOptions, crawl_without_prefect

    options = CrawlOptions(
        revisit="all",
        max_pages=int(max_pages),
        rate_per_host=0,
        concurrency_per_host=int(concurrency),
        max_links_per_page=int(max_links),
    )
    summary, times = crawl_without_prefect(["kazinform"], warehouse, str(uuid.uuid4()), options)
    print(f"crawl {times.describe('fetch and parse')}; whole run {summary.elapsed_s:.1f} s")


def article_pages(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (count,) = connection.execute(
            "select count(*) from visits where article_id is not null and outcome = 'created'"
        ).fetchone()
    return int(count)


def run_crawl_measured(
    with_prefect: bool, base_url: str, warehouse: Path, articles: int, concurrency: int
) -> CrawlRun:
    command = _crawl_command(with_prefect, base_url, warehouse, articles, concurrency)
    usage = run_command_measured(command, env={**os.environ, "KAZINFORM_BASE_URL": base_url}, cwd=ROOT)
    output = usage.stdout + "\n" + usage.stderr
    if usage.returncode != 0:
        raise SystemExit(f"the crawl ({command[1]}) exited with status {usage.returncode}:\n{output[-4000:]}")
    found = _STAGES.search(output)
    stages = {key: float(value) for key, value in found.groupdict().items()} if found else {}
    run = CrawlRun(usage.seconds, usage.peak_rss_mb, stages, article_pages(warehouse))
    for leftover in (warehouse, Path(f"{warehouse}.wal")):
        leftover.unlink(missing_ok=True)
    return run


def crawl_part(articles: int, concurrency: int, pairs: int) -> None:
    from replica import ReplicaSite, serve

    print(f"\n(a) crawl of {articles} replica articles, real-size pages, {concurrency} connections per host")
    site = ReplicaSite.generate(n_articles=articles, seed=SEED, page_size="real")
    site.feed_size = articles  # every article discoverable from the feeds
    print(
        f"{'pair':>4} {'run':<16} {'wall s':>7} {'peak MB':>8} {'pages':>6} {'fetch+parse s':>13} "
        f"{'stage s':>8} {'write s':>8} {'flow/loop s':>11}"
    )
    shares: list[float] = []
    walls: dict[str, list[float]] = {"with Prefect": [], "without Prefect": []}
    peaks: dict[str, list[float]] = {"with Prefect": [], "without Prefect": []}
    with tempfile.TemporaryDirectory(prefix="kazinform-orchestration-") as scratch, serve(site) as base_url:
        for pair in range(pairs):
            order = [True, False] if pair % 2 == 0 else [False, True]
            runs: dict[bool, CrawlRun] = {}
            for with_prefect in order:
                warehouse = Path(scratch) / f"crawl-{pair}-{with_prefect}.duckdb"
                runs[with_prefect] = run_crawl_measured(
                    with_prefect, base_url, warehouse, articles, concurrency
                )
            for with_prefect in (True, False):
                run, name = runs[with_prefect], "with Prefect" if with_prefect else "without Prefect"
                walls[name].append(run.wall_s)
                peaks[name].append(run.peak_rss_mb)
                s = run.stages
                print(
                    f"{pair + 1:>4} {name:<16} {run.wall_s:>7.1f} {run.peak_rss_mb:>8.0f} "
                    f"{run.article_pages:>6} "
                    f"{s.get('fetch_parse', float('nan')):>13.1f} {s.get('stage', float('nan')):>8.1f} "
                    f"{s.get('write', float('nan')):>8.1f} {s.get('whole', float('nan')):>11.1f}"
                )
            shares.append((runs[True].wall_s - runs[False].wall_s) / runs[True].wall_s)
            sys.stdout.flush()
    for name in walls:
        print(
            f"{name}: wall s {median_range(walls[name])}; peak RSS MB {median_range(peaks[name], '{:.0f}')}"
        )
    share = statistics.median(shares)
    verdict = "met" if share <= PREFECT_SHARE_TARGET else "NOT met"
    print(
        f"Prefect's share of the crawl's wall time (flow, tasks, events): median {share:.1%} of "
        f"{len(shares)} pair(s) [{min(shares):.1%} to {max(shares):.1%}] "
        f"(target <= {PREFECT_SHARE_TARGET:.0%}: {verdict})"
    )


# --- (b) event → change-report run ----------------------------------------------------------------


def changed_warehouse(warehouse: Path, articles: int) -> list[tuple[str, str, int]]:
    """A warehouse where each of `articles` replica articles has a second version (title edited):
    two crawls without Prefect. Returns the changes (source, article_id, new version)."""
    import duckdb

    from flows.crawl_pipeline import CrawlOptions, crawl_without_prefect
    from replica import ReplicaSite, serve

    site = ReplicaSite.generate(n_articles=articles, seed=SEED + 1, page_size="real")
    site.feed_size = articles
    options = CrawlOptions(
        revisit="all", max_pages=articles // 24 + 2, rate_per_host=0, max_links_per_page=articles
    )
    with serve(site) as base_url, _environ("KAZINFORM_BASE_URL", base_url):
        crawl_without_prefect(["kazinform"], str(warehouse), str(uuid.uuid4()), options)
        for article_id in list(site.articles):
            site.edit(article_id, title=site.articles[article_id].title + " (обновлено)")
        crawl_without_prefect(["kazinform"], str(warehouse), str(uuid.uuid4()), options)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select v.source, v.article_id, a.version from visits v join article_versions a using (visit_id) "
            "where v.outcome = 'changed' order by v.article_id"
        ).fetchall()
    return [(str(source), str(article_id), int(version)) for source, article_id, version in rows]


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def serve_change_report(warehouse: str, name: str, window: str) -> None:
    """The child that serves the deployment (as `kazinform serve` does for its change-report)."""
    from flows.change_report import change_report, change_report_trigger, warehouse_label

    change_report.serve(
        name=name,
        triggers=[change_report_trigger(warehouse, within_seconds=float(window))],
        parameters={"warehouse_path": warehouse_label(warehouse)},
    )


def _wait_for_deployment(name: str, server: subprocess.Popen, log_path: Path) -> Any:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                deployment = client.read_deployment_by_name(f"change-report/{name}")
                if client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"):
                    return deployment
            except Exception:  # not registered yet
                pass
            time.sleep(0.5)
    raise SystemExit(f"the change-report deployment was not served:\n{log_path.read_text()[-3000:]}")


@dataclass
class EventTiming:
    to_start_s: float | None  # None: no run started within RUN_START_TIMEOUT_S
    to_created_s: float | None = None
    created_to_pending_s: float | None = None
    pending_to_running_s: float | None = None


def _run_for(client: Any, deployment_id: Any, article_id: str) -> Any | None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )
    mine = [run for run in runs if run.parameters.get("article_id") == article_id]
    return mine[0] if mine else None


def _timing(client: Any, run: Any, occurred: Any) -> EventTiming:
    states = {state.type.value: state.timestamp for state in client.read_flow_run_states(run.id)}
    pending, running = states.get("PENDING"), states.get("RUNNING")
    return EventTiming(
        to_start_s=(run.start_time - occurred).total_seconds(),
        to_created_s=(run.created - occurred).total_seconds(),
        created_to_pending_s=(pending - run.created).total_seconds() if pending else None,
        pending_to_running_s=(running - pending).total_seconds() if pending and running else None,
    )


def measure_events(
    deployment_id: Any, label: str, changes: list[tuple[str, str, int]], spacing_s: float
) -> list[EventTiming]:
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client

    from flows.events import event_dict, send_events

    timings: list[EventTiming] = []
    with get_client(sync_client=True) as client:
        for source, article_id, version in changes:
            event = event_dict(
                "kazinform.article.changed",
                {
                    "prefect.resource.id": f"kazinform.article.{source}.{article_id}",
                    "kazinform.source": source,
                    "kazinform.language": "ru",
                    "kazinform.article_id": article_id,
                    "kazinform.warehouse": label,
                },
                {"fields": ["title"], "old_version": version - 1, "new_version": version, "url": ""},
                [],
                datetime.now(UTC),
                uuid.uuid4(),
            )
            sent_at = time.monotonic()
            accepted, error = send_events([event], sent_at + 10)
            if accepted != 1:
                raise SystemExit(f"the event was not accepted: {error}")
            occurred = datetime.fromisoformat(event["occurred"])
            timing = EventTiming(None)
            while time.monotonic() < sent_at + RUN_START_TIMEOUT_S:
                run = _run_for(client, deployment_id, article_id)
                if run is not None and run.start_time is not None:
                    timing = _timing(client, run, occurred)
                    break
                time.sleep(0.2)
            timings.append(timing)
            # the next event falls outside this one's trigger window, so it starts a run of its own
            time.sleep(max(0.0, sent_at + spacing_s - time.monotonic()))
    return timings


def events_part(events: int, window: float, poll: int) -> None:
    print(
        f"\n(b) event → change-report run: {events} changed articles, trigger window {window:g} s, "
        f"PREFECT_RUNNER_POLL_FREQUENCY={poll}, events {window + 1:g} s apart"
    )
    from flows.change_report import warehouse_label

    with tempfile.TemporaryDirectory(prefix="kazinform-orchestration-") as scratch:
        warehouse = Path(scratch) / "changed.duckdb"
        changes = changed_warehouse(warehouse, events)
        print(f"warehouse: {len(changes)} articles with a second version (title edited), from the replica")
        name = f"change-report-bench-{uuid.uuid4().hex[:8]}"
        log_path = Path(scratch) / "serve.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve-change-report",
                 str(warehouse), name, str(window)],
                cwd=ROOT, env={**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": str(poll)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                deployment = _wait_for_deployment(name, server, log_path)
                time.sleep(6)  # the server reconciles automations every 5 s: one round
                timings = measure_events(deployment.id, warehouse_label(warehouse), changes, window + 1)
            finally:
                os.killpg(server.pid, signal.SIGTERM)  # the serve process and its run processes
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
    started = [t.to_start_s for t in timings if t.to_start_s is not None]
    missing = len(timings) - len(started)
    if not started:
        print(f"no run started within {RUN_START_TIMEOUT_S:g} s of its event")
        return
    median = statistics.median(started)
    verdict = "met" if median <= EVENT_LATENCY_TARGET_S else "NOT met"
    print(
        f"event → run start (flow run start_time − event occurred): median {median:.2f} s, "
        f"max {max(started):.2f} s, min {min(started):.2f} s over {len(started)} runs"
        + (f"; {missing} event(s) started no run within {RUN_START_TIMEOUT_S:g} s" if missing else "")
        + f" (target: median <= {EVENT_LATENCY_TARGET_S:g} s: {verdict})"
    )
    parts: list[tuple[str, Callable[[EventTiming], float | None]]] = [
        ("automation: event → run created", lambda t: t.to_created_s),
        ("runner poll: created → Pending", lambda t: t.created_to_pending_s),
        ("process start: Pending → Running", lambda t: t.pending_to_running_s),
    ]
    for what, get in parts:
        values = [v for v in (get(t) for t in timings) if v is not None]
        if values:
            print(f"  {what}: median {statistics.median(values):.2f} s, max {max(values):.2f} s")


# --- (c) a first load with and without its outbox rows ------------------------------------------


def load_part(rows: int, rounds: int) -> None:
    from datetime import UTC, datetime

    import duckdb

    import warehouse.load as load_module
    from benchmarks.load import make_records, make_visits, settle
    from flows.batching import LoadBuffer
    from warehouse.db import open_writer
    from warehouse.outbox import CREATED_EVENTS_PER_BATCH, write_outbox
    from warehouse.stage import stage_batch

    print(f"\n(c) first load of {rows:,} articles with and without the outbox rows, {rounds} round(s)")
    visits = make_visits(make_records(rows), datetime(2025, 11, 12, 12, 0, tzinfo=UTC), True)
    buffer = LoadBuffer()  # the flows' own caps: count, raw bytes and held memory
    batches = [ready for visit in visits for ready in buffer.add([visit])] + list(buffer.flush())
    del visits
    staged = [stage_batch(batch) for batch in batches]
    print(
        f"{len(staged)} loads of up to {max(len(b) for b in batches):,} visits (flows.batching.LoadBuffer); "
        f"above {CREATED_EVENTS_PER_BATCH:,} created in a load, one summary event per source and language"
    )
    del batches
    outbox_s = [0.0]

    def timed_outbox(*args: Any) -> None:
        started = time.perf_counter()
        write_outbox(*args)
        outbox_s[0] += time.perf_counter() - started

    def no_outbox(*args: Any) -> None:
        return None

    def held(path: Path, with_events: bool) -> tuple[float, float, int]:
        with open_writer(path):
            pass  # the schema, made before the clock starts (as benchmarks/load.py does)
        load_module.write_outbox = timed_outbox if with_events else no_outbox  # type: ignore[attr-defined]
        outbox_s[0] = 0.0
        settle()
        total = 0.0
        try:
            for batch in staged:
                started = time.perf_counter()
                with open_writer(path) as conn:
                    load_module.load_batch(conn, "bench-first-load", batch)
                total += time.perf_counter() - started
        finally:
            load_module.write_outbox = write_outbox  # type: ignore[attr-defined]
        with duckdb.connect(str(path), read_only=True) as connection:
            (outbox_rows,) = connection.execute("select count(*) from event_outbox").fetchone()
        return total, outbox_s[0], int(outbox_rows)

    with_s: list[float] = []
    without_s: list[float] = []
    own_s: list[float] = []
    ratios: list[float] = []
    outbox_rows = 0
    with tempfile.TemporaryDirectory(prefix="kazinform-orchestration-") as scratch:
        for number in range(rounds):
            order = [True, False] if number % 2 == 0 else [False, True]
            results: dict[bool, float] = {}
            for with_events in order:
                path = Path(scratch) / f"load-{number}-{with_events}.duckdb"
                seconds, own, written = held(path, with_events)
                results[with_events] = seconds
                if with_events:
                    own_s.append(own)
                    outbox_rows = written
                elif written:
                    raise SystemExit("the load without events wrote outbox rows: the switch did not hold")
                path.unlink()
                Path(f"{path}.wal").unlink(missing_ok=True)
            with_s.append(results[True])
            without_s.append(results[False])
            ratios.append(results[True] / results[False] - 1)
            print(
                f"round {number + 1}: lock held with events {results[True]:.2f} s, "
                f"without {results[False]:.2f} s, "
                f"write_outbox itself {own_s[-1]:.3f} s"
            )
            sys.stdout.flush()
    print(f"outbox rows written by the first load: {outbox_rows:,} (the events it becomes)")
    print(f"lock held with events: {median_range(with_s, '{:.2f}')} s")
    print(f"lock held without events: {median_range(without_s, '{:.2f}')} s")
    own_share = statistics.median(own_s) / statistics.median(with_s)
    print(
        f"write_outbox's own time inside the loads: {median_range(own_s, '{:.3f}')} s = "
        f"{own_share:.2%} of the lock held"
    )
    added = statistics.median(ratios)
    verdict = "met" if added <= EVENTS_COST_TARGET else "NOT met"
    print(
        f"events add to the lock held: median {added:+.1%} of {len(ratios)} round(s) "
        f"[{min(ratios):+.1%} to {max(ratios):+.1%}] (target <= {EVENTS_COST_TARGET:.0%}: {verdict})"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--articles", type=int, default=2000, help="(a) replica articles crawled")
    options.add_argument("--concurrency", type=int, default=8, help="(a) connections per host")
    options.add_argument("--pairs", type=int, default=3, help="(a) pairs of runs with and without Prefect")
    options.add_argument("--events", type=int, default=20, help="(b) changed events, one article each")
    options.add_argument(
        "--event-window", type=float, default=None, help="(b) trigger window, s (default: the real one)"
    )
    options.add_argument(
        "--poll", type=int, default=2, help="(b) PREFECT_RUNNER_POLL_FREQUENCY of the server, s"
    )
    options.add_argument("--rows", type=int, default=100_000, help="(c) articles of the first load")
    options.add_argument("--rounds", type=int, default=3, help="(c) rounds of loads with and without events")
    options.add_argument(
        "--parts", nargs="+", choices=["crawl", "events", "load"], default=["crawl", "events", "load"]
    )
    options.add_argument("--direct-crawl", nargs=4, help=argparse.SUPPRESS)
    options.add_argument("--serve-change-report", nargs=3, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.direct_crawl:
        direct_crawl(*args.direct_crawl)
        return
    if args.serve_change_report:
        serve_change_report(*args.serve_change_report)
        return

    from flows.prefect_api import ensure_prefect_api

    print(__doc__.split("\n\n")[1])
    load1, load5, load15 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} {load5:.2f} {load15:.2f} at the start")
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    if "crawl" in args.parts:
        crawl_part(args.articles, args.concurrency, args.pairs)
    if "events" in args.parts:
        # imported once PREFECT_API_URL is set: Prefect reads its settings when first imported
        from flows.change_report import CHANGE_REPORT_WINDOW_SECONDS

        window = CHANGE_REPORT_WINDOW_SECONDS if args.event_window is None else args.event_window
        events_part(args.events, window, args.poll)
    if "load" in args.parts:
        load_part(args.rows, args.rounds)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
