"""Ingest benchmark: `kazinform ingest` of generated text copies and HTML pages, with and without Prefect.

Method: for each kind and size, N inputs are written to a temporary folder: text copies are the seed
with a numbered title under N file names (identity is the file name), HTML pages are rendered by the
replica (distinct articles, both page layouts, ru/kz/en). Then, each in a child process of a small
launcher so that its peak RSS is its own (os.wait4 of that child):
  with Prefect     the real command, `kazinform ingest FOLDER --warehouse FILE`, against a Prefect
                   server on 127.0.0.1 (started if PREFECT_API_URL is unset), into a fresh DuckDB file;
  without Prefect  the same pipeline with the same functions called directly
                   (flows.pipeline.ingest_without_prefect: read → parse → stage → load), fresh file.
Right after each run, the same command ingests the same folder again into its warehouse ("again"):
every file is read and hashed but none is parsed, since its bytes are those of its last read
(a `not_modified` visit each; flows.read).
Wall time is the whole child, interpreter start and imports included. Prefect's share is
(with − without) / with. On a 2-core machine two runs of the same work differ by ±20%, more than
the share itself at 10,000 inputs, so each size runs in pairs (fresh warehouse each time) whose order
alternates (with first, then without first, …): every pair gives a share, and the headline is the
median of the pairs' shares with their range (`--repeat`, default 3 pairs below 50,000 inputs and
1 above, where a run lasts minutes and the fixed cost of Prefect is a small part of it).
The stage times (read and parse, stage, write) are the run's own clocks, summed over its batches;
for the command they are read from the flow's log line.

    .venv/bin/python benchmarks/ingest.py [--sizes 10000 100000] [--kinds text html]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.child_usage import run_command_measured  # noqa: E402

SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
SEED_TITLE = "Госвизит Токаева в Москву"
HTML_BASE_URL = "https://www.inform.kz"

# The flow's closing log line (flows.ingest): "ingest stages: look-up of earlier reads 0.0 s (0 paths
# read before); read and parse 33.1 s (10000 inputs); stage 2.2 s; write 2.0 s (10000 visits in 3
# loads, largest 4500); whole run 38.7 s"
_STAGES = re.compile(
    r"stages: look-up of earlier reads (?P<lookup>[\d.]+) s \((?P<read_before>\d+) paths read before\); "
    r"read and parse (?P<read_parse>[\d.]+) s \((?P<files>\d+) inputs\); "
    r"stage (?P<stage>[\d.]+) s; write (?P<write>[\d.]+) s \((?P<visits>\d+) visits in (?P<loads>\d+) loads"
)


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float
    read_parse_s: float
    stage_s: float
    write_s: float
    visits: int
    loads: int


def make_text_copies(folder: Path, count: int) -> None:
    """The seed under `count` names, each with its number in the title (so each is its own article)."""
    seed = SEED.read_text(encoding="utf-8")
    for i in range(count):
        text = seed.replace(SEED_TITLE, f"{SEED_TITLE} ({i})", 1)
        (folder / f"{i:07d}_{i:016x}.txt").write_text(text, encoding="utf-8")


def make_html_pages(folder: Path, count: int) -> None:
    """`count` distinct article pages rendered by the replica, as saved from the site."""
    from replica.catalogue import generate_articles
    from replica.render import article_page

    articles = generate_articles(count, seed=2026)
    for i, article in enumerate(articles):
        related = articles[i + 1 : i + 4]
        page = article_page(article, HTML_BASE_URL, related)
        (folder / f"{i:07d}_{article.article_id}.html").write_text(page, encoding="utf-8")


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `command` under the launcher; (wall seconds, peak RSS MB of the command, its output)."""
    child = run_command_measured(command, env=env)
    if child.returncode != 0:
        raise SystemExit(f"{command[:2]} failed ({child.returncode}):\n{child.stderr[-3000:]}")
    return child.seconds, child.peak_rss_mb, child.stdout + child.stderr


def stage_figures(output: str) -> dict[str, float]:
    found = _STAGES.search(output)
    if not found:
        raise SystemExit(f"no stage times in the output:\n{output[-3000:]}")
    return {key: float(value) for key, value in found.groupdict().items()}


def run_with_prefect(folder: Path, warehouse: Path) -> Run:
    command = [
        str(Path(sys.executable).with_name("kazinform")),
        "ingest",
        str(folder),
        "--warehouse",
        str(warehouse),
    ]
    wall, peak, output = measured(command, dict(os.environ))
    return _run(wall, peak, stage_figures(output))


def run_without_prefect(folder: Path, warehouse: Path) -> Run:
    command = [sys.executable, str(Path(__file__).resolve()), "--direct", str(folder), str(warehouse)]
    wall, peak, output = measured(command, dict(os.environ))
    return _run(wall, peak, stage_figures(output))


def _run(wall: float, peak: float, stages: dict[str, float]) -> Run:
    return Run(
        wall,
        peak,
        stages["read_parse"],
        stages["stage"],
        stages["write"],
        int(stages["visits"]),
        int(stages["loads"]),
    )


def direct(folder: str, warehouse: str) -> None:
    """The child of `run_without_prefect`: the pipeline without Prefect, its stage line printed."""
    import uuid

    from flows.pipeline import ingest_without_prefect

    summary, times = ingest_without_prefect([folder], warehouse, run_id=str(uuid.uuid4()))
    print(f"ingest {times.describe()}; whole run {summary.elapsed_s:.1f} s")


LARGE_RUN = 50_000  # inputs from which one pair of runs is the default


def _measure_pair(kind: str, size: int, folder: Path, scratch: Path, pair: int) -> float:
    """One run with Prefect and one without, in alternating order; print both; return the share."""
    runners = {"with Prefect": run_with_prefect, "without Prefect": run_without_prefect}
    order = list(runners) if pair % 2 == 0 else list(reversed(runners))
    runs: dict[str, Run] = {}
    for name in order:
        warehouse = scratch / f"{name.replace(' ', '-')}-{pair}.duckdb"
        runs[name] = runners[name](folder, warehouse)
        runs[f"{name}, again"] = runners[name](folder, warehouse)  # read and hashed, not parsed
        warehouse.unlink()
        Path(f"{warehouse}.wal").unlink(missing_ok=True)
    for name in [*runners, *(f"{name}, again" for name in runners)]:
        run = runs[name]
        print(
            f"{kind:<5} {size:>7} {name:<22} {run.wall_s:>7.1f} {run.visits / run.wall_s:>7.0f} "
            f"{run.peak_rss_mb:>8.0f} {run.read_parse_s:>12.1f} {run.stage_s:>8.1f} "
            f"{run.write_s:>8.1f} {run.loads:>5}"
        )
    sys.stdout.flush()
    with_s, without_s = runs["with Prefect"].wall_s, runs["without Prefect"].wall_s
    return (with_s - without_s) / with_s


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    options.add_argument("--kinds", nargs="+", choices=["text", "html"], default=["text", "html"])
    options.add_argument(
        "--repeat", type=int, default=None, metavar="N", help="pairs of runs (default 3; 1 from 50,000)"
    )
    options.add_argument("--direct", nargs=2, metavar=("FOLDER", "WAREHOUSE"), help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.direct:
        direct(*args.direct)
        return

    from flows.prefect_api import ensure_prefect_api

    print(__doc__.split("\n\n")[1])
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    header = (
        f"{'kind':<5} {'inputs':>7} {'run':<22} {'wall s':>7} {'art/s':>7} {'peak MB':>8} "
        f"{'read+parse s':>12} {'stage s':>8} {'write s':>8} {'loads':>5}"
    )
    print(header)
    makers = {"text": make_text_copies, "html": make_html_pages}
    for kind in args.kinds:
        for size in args.sizes:
            with tempfile.TemporaryDirectory(prefix="kazinform-ingest-bench-") as scratch:
                folder = Path(scratch) / "inputs"
                folder.mkdir()
                makers[kind](folder, size)
                shares = [
                    _measure_pair(kind, size, folder, Path(scratch), pair)
                    for pair in range(args.repeat or (3 if size < LARGE_RUN else 1))
                ]
            low, high = min(shares), max(shares)
            median = statistics.median(shares)
            print(
                f"{kind:<5} {size:>7} Prefect's share of the wall time: median {median:.1%} "
                f"of {len(shares)} pair(s) [{low:.1%} to {high:.1%}]"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
