"""Scale benchmark: a crawl of a latency-bound replica on one machine, and on 1, 2 and 4 Prefect
process workers staging load packages that one loader commits.

Method: the replica runs in this process on 127.0.0.1: Kazinform, Tengrinews and The Astana Times
(a quarter, a half and a quarter of --articles: make_replica), every answer (feeds, listings, article
pages) delayed by a seeded uniform draw in --latency-ms, waited out in the request's own thread so
concurrent requests overlap as on a real network. Every feed lists all of its site's articles, so
discovery is one request per feed. Each crawl writes a fresh DuckDB file with the per-host rate
limit lifted and --concurrency connections per host; pages = article-page visits in the warehouse
afterwards. Every process the benchmark starts runs under a small launcher that reports its own
peak RSS (benchmarks/child_usage.py); a worker's figure is the largest of the worker and the flow-run
processes it started and waited for (Linux counts reaped descendants in wait4's ru_maxrss).
(a) one machine  `kazinform crawl` of every source (loads from memory), per --concurrency value.
(b) workers      `kazinform deploy --pool P`; N × `prefect worker start --pool P --limit 1` (one
                 run at a time each, so N workers are N runs in flight); the `crawl-fanout` flow run
                 from a child of this benchmark (not on the pool: it waits for its children, and would
                 hold a worker's only slot); a loader child calling flows.loader.load_ready every
                 --loader-every seconds until the fan-out has ended, then once more. Pages/s = pages /
                 (fan-out start → last package loaded). The queue of ready packages
                 (PackageStore.ready()) is sampled every second. Loader packages/s and rows/s = what it
                 loaded / the seconds it spent inside load_ready calls that loaded something.
                 The 1-worker wall time is also set against (a) at the same concurrency: what the
                 workers' own overhead costs (stage runs one after another, a process each).
(c) packages     the added cost of going through load packages on one machine: pairs of
                 `kazinform crawl` (loads from memory) and `kazinform crawl --stage-only` followed by
                 `kazinform packages load` (the same crawl, each batch written as a package, then the
                 loader), each pair into fresh warehouses, in alternating order; cost = (stage +
                 load) / crawl − 1 per pair, the median reported; both warehouses' articles compared.

    .venv/bin/python benchmarks/scale.py [--articles 20000] [--latency-ms 100-300] [--concurrency 4]
        [--baseline-concurrency 1 4 8] [--workers 1 2 4] [--pairs 2] [--parts baseline workers packages]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.child_usage import _LAUNCHER, run_command_measured  # noqa: E402
from replica import ReplicaSite, serve  # noqa: E402
from replica.feedsite import AstanaTimesSite  # noqa: E402
from replica.site import parse_latency  # noqa: E402
from replica.tengrinews import TengrinewsSite  # noqa: E402

SPEEDUP_TARGET = 3.0  # 4 workers against 1
PACKAGE_COST_TARGET = 0.10
SEED = 2026
KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
PREFECT = str(Path(sys.executable).with_name("prefect"))
# A fan-out that has not ended by then is stopped and reported (the benchmark goes on).
FANOUT_TIMEOUT_S = 4 * 3600
WORKER_READY_TIMEOUT_S = 120.0
SIGTERM_WAIT_S = 5.0


def make_replica(articles: int, latency_ms: tuple[float, float]) -> ReplicaSite:
    """`articles` over three sources that the fan-out crawls as five stage runs, one per part that
    shares no host (flows.stage_flow.crawl_units): Kazinform a quarter (its editions share
    www.inform.kz: one run), The Astana Times a quarter, Tengrinews half (its ru, kz and en hosts
    are three runs, the replica drawing editions 5:3:2, so ~25%, ~15% and ~10%). Four workers can
    then keep four runs in flight until the end: the kz and en runs follow each other on one."""
    quarter = max(1, articles // 4)
    site = ReplicaSite.generate(n_articles=quarter, seed=SEED, latency_ms=latency_ms)
    site.mount(TengrinewsSite.generate(articles - 2 * quarter, SEED))
    site.mount(AstanaTimesSite.generate(quarter, SEED))
    site.feed_size = articles
    for mounted in site.mounts.values():
        mounted.feed_size = articles
    return site


def total_articles(site: ReplicaSite) -> dict[str, int]:
    counts = {"kazinform": len(site.articles)}
    counts.update({name: len(mounted.articles) for name, mounted in site.mounts.items()})
    return counts


def article_pages(warehouse: Path) -> dict[str, int]:
    """Article-page visits per source (feeds and listings left out)."""
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select source, count(*) from visits where article_id is not null group by source"
        ).fetchall()
    return {str(source): int(n) for source, n in rows}


def crawl_settings(articles: int, concurrency: int) -> dict[str, object]:
    """crawl-fanout's parameters (those it does not take are reported and left out)."""
    return {
        "revisit": "all",
        "max_pages": 1,  # the feeds list every article
        "rate_per_host": 0,
        "concurrency_per_host": concurrency,
        "max_links_per_page": articles,
        "load": False,  # crawl-fanout only: the loader child loads during the run
    }


# --- (a) one machine ---------------------------------------------------------------------------


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    pages: int


def crawl_command(warehouse: Path, articles: int, concurrency: int) -> list[str]:
    return [
        KAZINFORM, "crawl", "--warehouse", str(warehouse), "--revisit", "all", "--rate", "0",
        "--concurrency", str(concurrency), "--max-pages", "1", "--max-links-per-page", str(articles),
    ]  # fmt: skip


def one_machine(
    base_url: str, warehouse: Path, articles: int, concurrency: int, env: dict[str, str]
) -> Measured:
    command = crawl_command(warehouse, articles, concurrency)
    usage = run_command_measured(command, env={**env, "KAZINFORM_BASE_URL": base_url}, cwd=ROOT)
    if usage.returncode != 0:
        raise SystemExit(
            f"kazinform crawl exited with {usage.returncode}:\n{(usage.stdout + usage.stderr)[-4000:]}"
        )
    pages = sum(article_pages(warehouse).values())
    return Measured(usage.seconds, usage.peak_rss_mb, pages)


def baseline_part(
    base_url: str, scratch: Path, articles: int, concurrencies: list[int], env: dict[str, str]
) -> dict[int, Measured]:
    print("\n(a) one machine: `kazinform crawl` of every source, loading from memory")
    print(f"{'conns/host':>10} {'wall s':>8} {'pages':>7} {'pages/s':>8} {'peak MB':>8}")
    found: dict[int, Measured] = {}
    for concurrency in concurrencies:
        run = one_machine(base_url, scratch / f"one-machine-{concurrency}.duckdb", articles, concurrency, env)
        found[concurrency] = run
        print(
            f"{concurrency:>10} {run.wall_s:>8.1f} {run.pages:>7} {run.pages / run.wall_s:>8.1f} "
            f"{run.peak_rss_mb:>8.0f}",
            flush=True,
        )
    return found


# --- (b) workers ---------------------------------------------------------------------------------


class MeasuredProcess:
    """A long-running process under the launcher of benchmarks/child_usage.py: stop() ends the
    process itself (SIGTERM, then SIGKILL of its group) and returns its peak RSS in MB."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self._usage = log.with_suffix(".usage.json")
        self._log = log.open("w")
        self.launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, "exec", str(self._usage), *command],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log = log

    def _child_pid(self) -> int | None:
        try:
            children = Path(f"/proc/{self.launcher.pid}/task/{self.launcher.pid}/children").read_text()
        except OSError:
            return None
        return int(children.split()[0]) if children.split() else None

    def wait(self, timeout: float) -> int:
        return self.launcher.wait(timeout)

    def stop(self, grace_s: float = 30.0) -> float:
        child = self._child_pid()
        if self.launcher.poll() is None and child is not None:
            os.kill(child, signal.SIGTERM)  # the launcher stays, to report the child's usage
        try:
            self.launcher.wait(SIGTERM_WAIT_S)
        except subprocess.TimeoutExpired:
            # `prefect worker` answers SIGTERM by sending itself SIGINT and waiting for its runs;
            # a second signal makes it kill itself, which the launcher still reaps and measures.
            if child is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGINT)
            try:
                self.launcher.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.launcher.pid, signal.SIGKILL)
                self.launcher.wait()
        self._log.close()
        if self._usage.exists():
            return json.loads(self._usage.read_text())["peak_rss_kb"] / 1024
        return float("nan")


# The loader child: load_ready every `every` s until the stop file appears, then once more; one JSON
# line per call that loaded something.
_LOADER_LOOP = """
import json, logging, re, sys, time
from pathlib import Path
from flows.stage_flow import run_loader
from flows.stage_plans import package_store
warehouse, stop_file, every = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
logger = logging.getLogger("scale-loader")
store = package_store(warehouse)

def loaded_count(report):
    return len(report.loaded)

while True:
    last = stop_file.exists()
    started = time.perf_counter()
    report = run_loader(warehouse, store, logger)
    spent = time.perf_counter() - started
    count = loaded_count(report)
    if count:
        print(json.dumps({"at": time.time(), "packages": count, "seconds": spent}), flush=True)
    if last:
        break
    time.sleep(max(0.0, every - spent))
"""

# The fan-out child; load=False: the loader child loads while the stage runs go on.
_FANOUT = """
import asyncio, json, sys
from flows.stage_flow import crawl_fanout
warehouse, sources, settings = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
report = asyncio.run(crawl_fanout(warehouse, sources, **settings))
for run in report.runs:
    print("stage run", run.describe(), flush=True)
"""


@dataclass
class WorkersRun:
    workers: int
    fanout_s: float  # fan-out flow run, start to end
    until_loaded_s: float  # fan-out start → the last package loaded
    pages: int
    packages: int
    loader_busy_s: float
    rows: int
    queue: list[tuple[float, int]] = field(default_factory=list)  # (s since start, ready packages)
    peaks_mb: dict[str, float] = field(default_factory=dict)


def ready_count(warehouse: Path, packages: Path) -> int:
    from flows.stage_plans import package_store

    try:
        return len(package_store(str(warehouse), str(packages)).ready())
    except FileNotFoundError:
        return 0


def loaded_packages(warehouse: Path) -> tuple[int, int]:
    """(packages recorded in load_packages, visits in the warehouse)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (packages,) = connection.execute("select count(*) from load_packages").fetchone()
        (visits,) = connection.execute("select count(*) from visits").fetchone()
    return int(packages), int(visits)


def wait_for_workers(pool: str, count: int, processes: list[MeasuredProcess]) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            online = [w for w in client.read_workers_for_work_pool(pool) if str(w.status).endswith("ONLINE")]
            if len(online) >= count:
                return
            if any(p.launcher.poll() is not None for p in processes):
                break
            time.sleep(0.5)
    logs = "\n".join(p.log.read_text()[-2000:] for p in processes)
    raise SystemExit(f"{count} worker(s) did not come online on {pool}:\n{logs}")


def workers_run(
    base_url: str, scratch: Path, articles: int, concurrency: int, workers: int, loader_every: float,
    env: dict[str, str],
) -> WorkersRun:  # fmt: skip
    folder = scratch / f"workers-{workers}"
    folder.mkdir()
    warehouse = folder / "warehouse.duckdb"
    pool = f"scale-bench-{uuid.uuid4().hex[:8]}"
    run_env = {
        **env,
        "KAZINFORM_BASE_URL": base_url,
        "KAZINFORM_PACKAGES": str(folder / "packages"),
        "KAZINFORM_WAREHOUSE": str(warehouse),
    }
    deployed = subprocess.run(
        [KAZINFORM, "deploy", "--pool", pool, "--warehouse", str(warehouse)],
        cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if deployed.returncode != 0:
        raise SystemExit(
            f"kazinform deploy exited with {deployed.returncode}:\n{deployed.stdout}{deployed.stderr}"
        )
    processes = [
        MeasuredProcess(
            [PREFECT, "worker", "start", "--pool", pool, "--limit", "1", "--name", f"{pool}-{n}"],
            run_env,
            folder / f"worker-{n}.log",
        )
        for n in range(workers)
    ]
    peaks: dict[str, float] = {}
    try:
        wait_for_workers(pool, workers, processes)
        stop_file = folder / "stop-loading"
        loader = MeasuredProcess(
            [sys.executable, "-c", _LOADER_LOOP, str(warehouse), str(stop_file), str(loader_every)],
            run_env,
            folder / "loader.log",
        )
        queue: list[tuple[float, int]] = []
        started, started_at = time.monotonic(), time.time()
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                queue.append((time.monotonic() - started, ready_count(warehouse, folder / "packages")))
                sampling.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        settings = json.dumps(crawl_settings(articles, concurrency))
        fanout = MeasuredProcess(
            [sys.executable, "-c", _FANOUT, str(warehouse), json.dumps([]), settings],
            run_env,
            folder / "fanout.log",
        )
        status = fanout.wait(FANOUT_TIMEOUT_S)
        fanout_s = time.monotonic() - started
        peaks["fan-out"] = fanout.stop()
        if status != 0:
            print(f"the fan-out exited with {status}:\n{fanout.log.read_text()[-4000:]}")
        stop_file.touch()
        loader.wait(FANOUT_TIMEOUT_S)
        sampling.set()
        sampler.join()
        peaks["loader"] = loader.stop()
        calls = [json.loads(line) for line in loader.log.read_text().splitlines() if line.startswith("{")]
    finally:
        for number, process in enumerate(processes):
            peaks[f"worker {number + 1}"] = process.stop()
    last_loaded = max((call["at"] for call in calls), default=started_at)
    until_loaded = max(fanout_s, last_loaded - started_at)
    packages, rows = loaded_packages(warehouse)
    return WorkersRun(
        workers=workers,
        fanout_s=fanout_s,
        until_loaded_s=until_loaded,
        pages=sum(article_pages(warehouse).values()),
        packages=packages,
        loader_busy_s=sum(call["seconds"] for call in calls),
        rows=rows,
        queue=queue,
        peaks_mb=peaks,
    )


def describe_queue(queue: list[tuple[float, int]]) -> str:
    if not queue:
        return "queue of ready packages: not sampled"
    counts = [n for _, n in queue]
    half = len(counts) // 2 or 1
    first, second = statistics.mean(counts[:half]), statistics.mean(counts[half:] or counts)
    verdict = "grew" if second > first + 1 else "did not grow"
    points = ", ".join(f"{t:.0f}s:{n}" for t, n in queue[:: max(1, len(queue) // 12)])
    return (
        f"queue of ready packages (sampled each second): max {max(counts)}, mean of first half "
        f"{first:.1f}, of second half {second:.1f}: {verdict}; samples {points}"
    )


def workers_part(
    base_url: str, scratch: Path, articles: int, concurrency: int, counts: list[int], loader_every: float,
    baseline: Measured | None, env: dict[str, str],
) -> None:  # fmt: skip
    print(f"\n(b) Prefect process workers, {concurrency} connections per host in each stage run")
    runs: dict[int, WorkersRun] = {}
    for workers in counts:
        run = workers_run(base_url, scratch, articles, concurrency, workers, loader_every, env)
        runs[workers] = run
        rate = run.pages / run.until_loaded_s
        peaks = ", ".join(f"{name} {mb:.0f}" for name, mb in run.peaks_mb.items())
        print(
            f"{workers} worker(s): {run.pages} pages, fan-out {run.fanout_s:.1f} s, until loaded "
            f"{run.until_loaded_s:.1f} s = {rate:.1f} pages/s; {run.packages} packages, {run.rows} rows "
            f"loaded in {run.loader_busy_s:.1f} s of load_ready"
            + (
                f" = {run.packages / run.loader_busy_s:.2f} packages/s, "
                f"{run.rows / run.loader_busy_s:.0f} rows/s"
                if run.loader_busy_s
                else ""
            ),
            flush=True,
        )
        print(f"  {describe_queue(run.queue)}")
        print(f"  peak RSS MB: {peaks}")
    if 1 in runs and 4 in runs:
        speedup = (runs[4].pages / runs[4].until_loaded_s) / (runs[1].pages / runs[1].until_loaded_s)
        verdict = "met" if speedup >= SPEEDUP_TARGET else "NOT met"
        print(f"4 workers / 1 worker pages/s: {speedup:.2f}× (target >= {SPEEDUP_TARGET:g}×: {verdict})")
    if 1 in runs and baseline is not None:
        cost = runs[1].until_loaded_s / baseline.wall_s - 1
        print(
            f"1 worker against one machine: {runs[1].until_loaded_s:.1f} s against `kazinform crawl` "
            f"{baseline.wall_s:.1f} s at the same concurrency = {cost:+.1%} (the stage runs one after "
            "another, each a process of its own, and the loader beside them; packages alone: (c))"
        )


# --- (c) packages on one machine ---------------------------------------------------------------------


@dataclass
class PackagesPair:
    memory: Measured  # `kazinform crawl`
    stage: Measured  # `kazinform crawl --stage-only`
    load_s: float  # `kazinform packages load`
    load_peak_mb: float
    same_articles: bool

    @property
    def cost(self) -> float:
        return (self.stage.wall_s + self.load_s) / self.memory.wall_s - 1


def through_packages(
    base_url: str, scratch: Path, articles: int, concurrency: int, env: dict[str, str], name: str
) -> tuple[Measured, float, float, Path]:
    """`kazinform crawl --stage-only`, then `kazinform packages load`: (stage, load s, load MB, warehouse)."""
    warehouse = scratch / f"{name}.duckdb"
    run_env = {**env, "KAZINFORM_BASE_URL": base_url}
    stage_command = [*crawl_command(warehouse, articles, concurrency), "--stage-only"]
    stage = run_command_measured(stage_command, env=run_env, cwd=ROOT)
    load = run_command_measured(
        [KAZINFORM, "packages", "load", "--warehouse", str(warehouse)], env=run_env, cwd=ROOT
    )
    for what, usage in (("crawl --stage-only", stage), ("packages load", load)):
        if usage.returncode != 0:
            raise SystemExit(
                f"kazinform {what} exited with {usage.returncode}:\n{(usage.stdout + usage.stderr)[-4000:]}"
            )
    pages = sum(article_pages(warehouse).values())
    return Measured(stage.seconds, stage.peak_rss_mb, pages), load.seconds, load.peak_rss_mb, warehouse


def article_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select source, article_id, title, body from articles order by 1, 2"
        ).fetchall()


def packages_part(
    base_url: str, scratch: Path, articles: int, concurrency: int, pairs: int, env: dict[str, str]
) -> None:
    """Pairs in alternating order (memory first, then packages first), so that a drift of the
    machine's load falls on both sides."""
    print(
        f"\n(c) packages on one machine, {concurrency} connections per host: `kazinform crawl` against "
        "`kazinform crawl --stage-only` + `kazinform packages load` (the same crawl, through package files)"
    )
    print(
        f"{'pair':>4} {'memory s':>9} {'stage s':>8} {'load s':>7} {'cost':>7} "
        f"{'memory MB':>10} {'stage MB':>9} {'load MB':>8}"
    )
    found: list[PackagesPair] = []
    for number in range(pairs):
        memory_warehouse = scratch / f"memory-{number}.duckdb"
        if number % 2 == 0:
            plain = one_machine(base_url, memory_warehouse, articles, concurrency, env)
            stage, load_s, load_mb, staged_warehouse = through_packages(
                base_url, scratch, articles, concurrency, env, f"packages-{number}"
            )
        else:
            stage, load_s, load_mb, staged_warehouse = through_packages(
                base_url, scratch, articles, concurrency, env, f"packages-{number}"
            )
            plain = one_machine(base_url, memory_warehouse, articles, concurrency, env)
        same = article_rows(memory_warehouse) == article_rows(staged_warehouse)
        pair = PackagesPair(plain, stage, load_s, load_mb, same)
        found.append(pair)
        print(
            f"{number + 1:>4} {plain.wall_s:>9.1f} {stage.wall_s:>8.1f} {load_s:>7.1f} {pair.cost:>+7.1%} "
            f"{plain.peak_rss_mb:>10.0f} {stage.peak_rss_mb:>9.0f} {load_mb:>8.0f}"
            + ("" if pair.same_articles else "  (the two warehouses differ!)"),
            flush=True,
        )
    costs = [pair.cost for pair in found]
    median = statistics.median(costs)
    verdict = "met" if median <= PACKAGE_COST_TARGET else "NOT met"
    print(
        f"packages' added cost on one machine: median {median:+.1%} [{min(costs):+.1%} … {max(costs):+.1%}] "
        f"over {len(found)} pairs (target <= {PACKAGE_COST_TARGET:.0%}: {verdict}); "
        f"same articles in both warehouses: {all(pair.same_articles for pair in found)}"
    )


def main(argv: list[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=20_000)
    options.add_argument("--latency-ms", type=parse_latency, default=(100.0, 300.0), metavar="LOW-HIGH")
    options.add_argument("--concurrency", type=int, default=4, help="(b) connections per host per run")
    options.add_argument("--baseline-concurrency", type=int, nargs="+", default=[1, 4, 8], help="(a)")
    options.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="(b) worker counts")
    options.add_argument("--loader-every", type=float, default=2.0, help="(b) s between load_ready calls")
    options.add_argument("--pairs", type=int, default=2, help="(c) memory/packages pairs")
    options.add_argument(
        "--parts",
        nargs="+",
        choices=["baseline", "workers", "packages"],
        default=["baseline", "workers", "packages"],
    )
    args = options.parse_args(argv)

    from flows.prefect_api import ensure_prefect_api

    print(__doc__.split("\n\n")[1])
    load1, load5, load15 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} {load5:.2f} {load15:.2f} at the start")
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    env = dict(os.environ)
    site = make_replica(args.articles, args.latency_ms)
    per_source = total_articles(site)
    low, high = args.latency_ms
    print(
        f"replica: {sum(per_source.values())} articles ("
        + ", ".join(f"{name} {n}" for name, n in per_source.items())
        + f"), latency {low:g}–{high:g} ms per answer"
    )
    with tempfile.TemporaryDirectory(prefix="kazinform-scale-") as folder, serve(site) as base_url:
        scratch = Path(folder)
        baseline: dict[int, Measured] = {}
        if "baseline" in args.parts:
            concurrencies = sorted(
                set(args.baseline_concurrency) | ({args.concurrency} if "workers" in args.parts else set())
            )
            baseline = baseline_part(base_url, scratch, args.articles, concurrencies, env)
        if "workers" in args.parts:
            workers_part(
                base_url, scratch, args.articles, args.concurrency, args.workers, args.loader_every,
                baseline.get(args.concurrency), env,
            )  # fmt: skip
        if "packages" in args.parts:
            packages_part(base_url, scratch, args.articles, args.concurrency, args.pairs, env)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
