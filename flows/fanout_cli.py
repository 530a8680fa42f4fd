"""`kazinform fanout` and `kazinform backfill`: a crawl spread over the workers of a Prefect work
pool (flows/stage_flow.py). `kazinform deploy --pool NAME` registers the deployments they start;
`prefect worker start --pool NAME`, on any machine with the project, runs them.

Only the standard library is imported here; each handler imports the rest when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Listing pages per stage run of a backfill: 50 pages of 20–50 cards at 1 request/s is ~20–45 min
# of fetching, long enough that a run's fixed cost (a process, Prefect's import, the plan) is
# small, short enough that a killed run costs little and many workers share a long archive.
PAGES_PER_STAGE_RUN = 50


def _day(text: str) -> datetime:
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    from flows.cli import _add_warehouse_option, add_host_options, positive_seconds

    _add_warehouse_option(parser)
    add_host_options(parser)
    parser.add_argument(
        "--max-duration",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="no request starts after this long; the wait for the runs ends that long plus 5 min "
        "after the start (default: no limit on crawling, 6 h on the wait)",
    )
    parser.add_argument(
        "--packages",
        metavar="URL",
        help="package store the workers write to and the loader reads (a folder or fsspec URL; "
        "default $KAZINFORM_PACKAGES or <warehouse>.packages)",
    )
    parser.add_argument(
        "--no-load",
        action="store_true",
        help="leave the packages to the load-packages deployment instead of loading them at the end",
    )


def add_fanout_command(commands: argparse._SubParsersAction) -> None:
    fanout = commands.add_parser(
        "fanout",
        help="crawl with stage-source runs (one per part of a source that shares no host) on the work "
        "pool's workers, then load",
        description="Plan each source from the warehouse, run one stage-source flow run per part of a "
        "source that shares no host with its other parts "
        "on the workers of the pool `kazinform deploy --pool NAME` registered, wait for them, then "
        "load their packages. Two workers never crawl one host at once (Prefect limits host:<host>).",
    )
    fanout.add_argument("sources", nargs="*", metavar="SOURCE", help="default: every registered source")
    fanout.add_argument("--revisit", choices=("all", "due", "none"), default="due")
    fanout.add_argument("--max-pages", type=int, default=3, metavar="N", help="listing pages per edition")
    _add_common_options(fanout)
    fanout.set_defaults(func=run_fanout)


def add_backfill_command(commands: argparse._SubParsersAction) -> None:
    from flows.cli import positive_int

    backfill = commands.add_parser(
        "backfill",
        help="fetch a source's archive back to a date, spread over the work pool's workers",
        description="Walk the source's listing pages back until the cards are older than --since, "
        "then run one stage-source flow run per edition and range of listing pages on the pool's "
        "workers, wait for them, and load their packages. Articles already in the warehouse are "
        "not fetched again.",
    )
    backfill.add_argument("source", metavar="SOURCE")
    backfill.add_argument("--since", type=_day, required=True, metavar="DATE", help="oldest day (YYYY-MM-DD)")
    backfill.add_argument(
        "--until", type=_day, default=None, metavar="DATE", help="newest day (default: today)"
    )
    backfill.add_argument(
        "--pages-per-run",
        type=positive_int,
        default=PAGES_PER_STAGE_RUN,
        metavar="N",
        help=f"listing pages per stage run (default {PAGES_PER_STAGE_RUN})",
    )
    _add_common_options(backfill)
    backfill.set_defaults(func=run_backfill)


def _fanout(args: argparse.Namespace, sources: list[str], **extra: Any) -> int:
    from flows.cli import _finish, _prepare_flow_run, _run_reported
    from warehouse.db import resolve_warehouse_path

    warehouse = str(resolve_warehouse_path(args.warehouse).resolve())
    api_url = _prepare_flow_run(args)
    from flows.stage_flow import crawl_fanout

    def run() -> Any:
        return asyncio.run(
            crawl_fanout(
                warehouse,
                sources=sources,
                rate_per_host=args.rate,
                concurrency_per_host=args.concurrency,
                max_duration_s=args.max_duration,
                packages_url=args.packages,
                load=not args.no_load,
                **extra,
            )
        )

    outcome = _run_reported(run, api_url)
    report = outcome.result
    print(report.to_text())
    return _finish(outcome, EXIT_OK if report.all_completed else EXIT_FAILURE)


def run_fanout(args: argparse.Namespace) -> int:
    from flows.cli import _check_sources

    _check_sources(args.sources)
    return _fanout(args, args.sources, revisit=args.revisit, max_pages=args.max_pages)


def run_backfill(args: argparse.Namespace) -> int:
    from flows.cli import _check_sources, _prepare_flow_run

    _check_sources([args.source])
    if args.until is not None and args.until < args.since:
        print("kazinform: --until is before --since — see `kazinform backfill --help`", file=sys.stderr)
        return EXIT_USAGE
    _prepare_flow_run(args)
    from flows.backfill import walk_back

    until = args.until
    if until is not None and until.time() == datetime.min.time():  # a day alone: the whole day
        until = until + timedelta(days=1, microseconds=-1)
    walk = asyncio.run(walk_back(args.source, args.since, until, args.pages_per_run, rate_per_host=args.rate))
    for note in walk.notes:
        print(f"  {note}")
    print(f"walked {walk.pages_asked} listing pages: {len(walk.ranges)} stage runs")
    if not walk.ranges:
        return EXIT_OK
    units = [{"source": args.source, **pages.as_parameters()} for pages in walk.ranges]
    # a backfill reads its listing pages only: no feed, no revisit
    return _fanout(args, [args.source], units=units, revisit="none")
