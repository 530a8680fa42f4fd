"""Crawl benchmark: two crawls of a 2,000-article replica with 2% edited and 1% deleted in between.

Method: the replica runs in this process on 127.0.0.1 and serves real-size article pages (100–300 KB:
head scripts and styles, mega-menu, related news, footer; replica/chrome.py). For the first crawl
its feeds list every article, so that all 2,000 become known (the English edition has no lenta);
for the second they list the newest 50, as the real feeds do. Each crawl is the real `kazinform
crawl` command, forked from a small launcher that reports that process's own peak RSS (os.wait4;
benchmarks/child_usage.py), against a Prefect server on 127.0.0.1, writing a fresh DuckDB file,
with the per-host rate limit lifted (`--rate 0`). The second crawl uses `--revisit all`, so every
known article is asked for again with its stored validators. Page counts, fetch spans and bytes
come from the warehouse itself (visits per run); wall time is the whole command's; stage times are
the ones the flow logs.

    .venv/bin/python benchmarks/crawl.py [--articles 2000] [--concurrency 8] [--page-size real] [--log FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.child_usage import run_command_measured  # noqa: E402
from flows.prefect_api import ensure_prefect_api  # noqa: E402
from replica import ReplicaSite, serve  # noqa: E402
from replica.site import PAGE_SIZES  # noqa: E402

PEAK_RSS_TARGET_MB = 300  # the bound for a crawl with real-size pages
# The line the crawl flow logs at its end, e.g. "crawl stages: fetch and parse 9.1 s (2000 inputs);
# stage 1.2 s; write 2.3 s (…); whole run 14.0 s".
_STAGES_LINE = re.compile(r"stages: (?P<stages>.*)$", re.MULTILINE)
_STAGE_SECONDS = re.compile(r"(?:^|; )(?P<name>[a-z][a-z ]*?) (?P<seconds>\d+(?:\.\d+)?) s\b")


@dataclass
class CrawlRun:
    wall_s: float  # the whole command, Python start-up and Prefect included
    peak_rss_mb: float  # of the crawl process alone
    stages: dict[str, float]  # stage name → seconds, as the flow logged them ({} when it did not)
    stages_line: str | None
    file_mb: float  # the warehouse file after the crawl
    used_mb: float  # of it, blocks in use (the rest: blocks a checkpoint rewrote, free for reuse)


def run_crawl(
    warehouse: Path, base_url: str, concurrency: int, max_pages: int, max_links: int, log: Path | None = None
) -> CrawlRun:
    """Run one crawl as a measured child process; `log`: where its output is appended."""
    command = [
        str(Path(sys.executable).with_name("kazinform")),
        "crawl", "kazinform",
        "--warehouse", str(warehouse),
        "--revisit", "all",
        "--rate", "0",
        "--concurrency", str(concurrency),
        "--max-pages", str(max_pages),
        "--max-links-per-page", str(max_links),
    ]  # fmt: skip
    env = {**os.environ, "KAZINFORM_BASE_URL": base_url}
    usage = run_command_measured(command, env=env, cwd=ROOT)
    if usage.returncode != 0:
        sys.stderr.write(usage.stdout[-5000:] + usage.stderr[-5000:])
        raise SystemExit(f"the crawl exited with status {usage.returncode}")
    if log is not None:  # each load's slot wait and write time are in it
        with log.open("a", encoding="utf-8") as kept:
            kept.write(usage.stdout + usage.stderr)
    found = _STAGES_LINE.search(usage.stdout + "\n" + usage.stderr)
    line = found.group("stages").strip() if found else None
    stages = {m["name"]: float(m["seconds"]) for m in _STAGE_SECONDS.finditer(line or "")}
    file_mb, used_mb = warehouse_size(warehouse)
    return CrawlRun(usage.seconds, usage.peak_rss_mb, stages, line, file_mb, used_mb)


def warehouse_size(warehouse: Path) -> tuple[float, float]:
    """(file size, size of the blocks in use) in MB."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        block_size, used_blocks = connection.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size()"
        ).fetchall()[0]
    return warehouse.stat().st_size / 1e6, block_size * used_blocks / 1e6


def describe_stages(run: CrawlRun) -> str:
    if not run.stages:
        return "stage times: the flow logged none"
    named = ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in run.stages.items() if name != "whole run"
    )
    whole = run.stages.get("whole run")
    if whole is None:
        return f"stage times (flow log): {named}"
    outside = whole - sum(s for name, s in run.stages.items() if name != "whole run")
    return (
        f"stage times (flow log): {named}; flow {whole:.1f} s, of which outside the stages "
        f"(discovery, Prefect, bookkeeping) {outside:.1f} s = {outside / whole:.0%}; "
        f"command {run.wall_s:.1f} s"
    )


def run_figures(warehouse: Path) -> list[tuple]:
    """Per run: article-page visits, their fetch span in seconds, their outcomes, and bytes fetched
    by all visits (feeds and lenta pages included)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            """
            select run_id,
                   count(*) filter (where is_page) as page_visits,
                   epoch(max(visited_at) - min(visited_at)) as span_s,
                   count(*) filter (where is_page and outcome = 'not_modified') as not_modified,
                   count(*) filter (where is_page and outcome = 'unchanged') as unchanged_parsed,
                   count(*) filter (where is_page and outcome = 'changed') as changed,
                   count(*) filter (where is_page and outcome = 'gone') as gone,
                   count(*) filter (where is_page and outcome = 'created') as created,
                   count(*) filter (where outcome in ('failed', 'parse_error')) as failures,
                   coalesce(sum(bytes), 0) as bytes_fetched
            from (select *, article_id is not null as is_page from visits)
            group by run_id order by min(visited_at)
            """
        ).fetchall()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=2000)
    options.add_argument("--concurrency", type=int, default=8, help="connections per host")
    options.add_argument("--log", type=Path, help="append each crawl command's output (its flow log) here")
    options.add_argument(
        "--page-size", choices=PAGE_SIZES, default="real", help="article pages of 100–300 KB, or 2–6 KB"
    )
    args = options.parse_args()

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    site = ReplicaSite.generate(n_articles=args.articles, seed=2026, page_size=args.page_size)
    site.feed_size = args.articles  # every article discoverable from the feeds
    max_pages = args.articles // 24 + 2
    with tempfile.TemporaryDirectory() as scratch, serve(site) as base_url:
        warehouse = Path(scratch) / "bench.duckdb"
        # the feeds list every article this time: follow them all
        first_run = run_crawl(warehouse, base_url, args.concurrency, max_pages, args.articles, args.log)

        site.feed_size = 50
        chooser = random.Random(7)
        ids = sorted(site.articles)
        touched = chooser.sample(ids, k=args.articles * 3 // 100)
        edited, deleted = touched[: args.articles * 2 // 100], touched[args.articles * 2 // 100 :]
        for article_id in edited:
            site.edit(article_id, title=site.articles[article_id].title + " (обновлено)")
        for article_id in deleted:
            site.delete(article_id)

        second_run = run_crawl(warehouse, base_url, args.concurrency, max_pages, args.articles, args.log)
        first, second = run_figures(warehouse)

    _, pages1, span1, *_rest1, bytes1 = first
    _, pages2, span2, not_modified, unchanged_parsed, changed, gone, created, failures, bytes2 = second
    untouched = pages2 - len(edited) - len(deleted)
    print(f"articles {args.articles}, edited {len(edited)}, deleted {len(deleted)}")
    print(f"article pages: {args.page_size}, {page_sizes(site, base_url)}")
    print(f"connections per host {args.concurrency}, rate limit lifted")
    for number, run, pages, span, fetched in (
        (1, first_run, pages1, span1, bytes1),
        (2, second_run, pages2, span2, bytes2),
    ):
        print(
            f"crawl {number}: command wall {run.wall_s:.1f} s for {pages} article pages = "
            f"{pages / run.wall_s:.0f} pages/s; fetching span {span:.1f} s = {pages / span:.0f} pages/s; "
            f"{fetched / 1e6:.1f} MB fetched; peak RSS {run.peak_rss_mb:.0f} MB; "
            f"warehouse file {run.file_mb:.1f} MB ({run.used_mb:.1f} MB in use)"
        )
        print(f"  {describe_stages(run)}")
    print(
        f"crawl 2 outcomes: not_modified {not_modified}, changed {changed}, gone {gone}, "
        f"unchanged-but-parsed {unchanged_parsed}, created {created}, failures {failures}"
    )
    print(f"304 share of unchanged pages: {not_modified / untouched:.1%} (target >= 95%; never parsed)")
    share = bytes2 / bytes1
    print(f"bytes fetched, crawl 2 / crawl 1: {bytes2:,} / {bytes1:,} = {share:.1%} (target <= 10%)")
    peaks = f"{first_run.peak_rss_mb:.0f} MB and {second_run.peak_rss_mb:.0f} MB"
    print(f"peak RSS of each crawl, its own: {peaks} (target <= {PEAK_RSS_TARGET_MB} MB)")


def page_sizes(site: ReplicaSite, base_url: str) -> str:
    """Size range and mean of the article pages the replica serves (a sample of 200)."""
    sizes = [len(site.respond("GET", a.path, "", {}, base_url).body) for a in site.live_articles()[:200]]
    return f"{min(sizes) / 1000:.0f}–{max(sizes) / 1000:.0f} KB, mean {sum(sizes) / len(sizes) / 1000:.0f} KB"


if __name__ == "__main__":
    main()
