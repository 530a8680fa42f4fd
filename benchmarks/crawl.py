"""Crawl benchmark: two crawls of a 2,000-article replica with 2% edited and 1% deleted in between.

Method: the replica runs in this process on 127.0.0.1. For the first crawl its feeds list every
article, so that all 2,000 become known (the English edition has no lenta); for the second they
list the newest 50, as the real feeds do. Each crawl is the real `kazinform crawl` command in a
child process (so its peak memory is its own, read from getrusage of the child), against a
Prefect server on 127.0.0.1, writing a fresh DuckDB file, with the per-host rate limit lifted
(`--rate 0`). The second crawl uses
`--revisit all`, so every known article is asked for again with its stored validators.
Figures come from the warehouse itself (visits per run), not from the crawler's own report.

    .venv/bin/python benchmarks/crawl.py [--articles 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from flows.prefect_api import ensure_prefect_api
from replica import ReplicaSite, serve

ROOT = Path(__file__).resolve().parent.parent


def run_crawl(
    warehouse: Path, base_url: str, concurrency: int, max_pages: int, max_links: int
) -> tuple[float, float]:
    """Run one crawl in a child process; returns (wall seconds, peak RSS in MB of that child)."""
    command = [
        str(Path(sys.executable).with_name("kazinform")),
        "crawl",
        "--warehouse", str(warehouse),
        "--revisit", "all",
        "--rate", "0",
        "--concurrency", str(concurrency),
        "--max-pages", str(max_pages),
        "--max-links-per-page", str(max_links),
    ]  # fmt: skip
    env = {**os.environ, "KAZINFORM_BASE_URL": base_url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - started
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return wall, peak_kb / 1024


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
    args = options.parse_args()

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    site = ReplicaSite.generate(n_articles=args.articles, seed=2026)
    site.feed_size = args.articles  # every article discoverable from the feeds
    max_pages = args.articles // 24 + 2
    with tempfile.TemporaryDirectory() as scratch, serve(site) as base_url:
        warehouse = Path(scratch) / "bench.duckdb"
        # the feeds list every article this time: follow them all
        first_wall, first_peak = run_crawl(warehouse, base_url, args.concurrency, max_pages, args.articles)

        site.feed_size = 50
        chooser = random.Random(7)
        ids = sorted(site.articles)
        touched = chooser.sample(ids, k=args.articles * 3 // 100)
        edited, deleted = touched[: args.articles * 2 // 100], touched[args.articles * 2 // 100 :]
        for article_id in edited:
            site.edit(article_id, title=site.articles[article_id].title + " (обновлено)")
        for article_id in deleted:
            site.delete(article_id)

        second_wall, second_peak = run_crawl(warehouse, base_url, args.concurrency, max_pages, args.articles)
        first, second = run_figures(warehouse)

    _, pages1, span1, *_rest1, bytes1 = first
    _, pages2, span2, not_modified, unchanged_parsed, changed, gone, created, failures, bytes2 = second
    untouched = pages2 - len(edited) - len(deleted)
    print(f"articles {args.articles}, edited {len(edited)}, deleted {len(deleted)}")
    print(f"connections per host {args.concurrency}, rate limit lifted")
    print(
        f"crawl 1: {pages1} article pages in {span1:.1f} s of fetching = {pages1 / span1:.0f} pages/s "
        f"(command wall {first_wall:.1f} s); peak RSS {first_peak:.0f} MB"
    )
    print(
        f"crawl 2: {pages2} article pages in {span2:.1f} s of fetching = {pages2 / span2:.0f} pages/s "
        f"(command wall {second_wall:.1f} s); peak RSS {second_peak:.0f} MB"
    )
    print(
        f"crawl 2 outcomes: not_modified {not_modified}, changed {changed}, gone {gone}, "
        f"unchanged-but-parsed {unchanged_parsed}, created {created}, failures {failures}"
    )
    print(f"304 share of unchanged pages: {not_modified / untouched:.1%} (target >= 95%; never parsed)")
    share = bytes2 / bytes1
    print(f"bytes fetched, crawl 2 / crawl 1: {bytes2:,} / {bytes1:,} = {share:.1%} (target <= 10%)")
    print(f"peak memory of a crawl: {max(first_peak, second_peak):.0f} MB (target <= 300 MB)")


if __name__ == "__main__":
    main()
