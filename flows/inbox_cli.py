"""`kazinform watch DIR`: announce each complete file dropped in DIR as a `kazinform.file.arrived`
event, scanning every few seconds until stopped. Standard library only at the top: the parser is
built for every command (see flows.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flows.cli import positive_seconds

# The same figure as flows.inbox.DEFAULT_WATCH_INTERVAL_S (that module imports Prefect).
DEFAULT_INTERVAL_S = 5.0


def add_watch_command(commands: argparse._SubParsersAction) -> None:
    watch = commands.add_parser(
        "watch",
        help="announce files dropped in a folder as events; the served ingest-file automation ingests them",
        description="Scan DIR every few seconds; each complete .txt/.html/.html.gz file in it becomes a "
        "kazinform.file.arrived event, which the `ingest-file` deployment of `kazinform serve` ingests "
        "(then moves the file to DIR/done/ or DIR/failed/). Ctrl-C stops.",
    )
    watch.add_argument("directory", metavar="DIR", help="the inbox folder (created when missing)")
    watch.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file the files are for (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )
    watch.add_argument(
        "--interval",
        type=positive_seconds,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between scans (default {DEFAULT_INTERVAL_S:g})",
    )
    watch.add_argument(
        "--scans", type=int, default=None, metavar="N", help=argparse.SUPPRESS
    )  # stop after N scans (tests)
    watch.set_defaults(func=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    from flows.prefect_api import ensure_prefect_api
    from warehouse.db import resolve_warehouse_path

    inbox = Path(args.directory).expanduser()
    inbox.mkdir(parents=True, exist_ok=True)
    warehouse_path = resolve_warehouse_path(args.warehouse)
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    from flows.inbox import InboxSettings, absolute, scan_and_announce

    settings = InboxSettings()
    print(
        f"watching {absolute(inbox)} every {args.interval:g} s for {absolute(warehouse_path)} "
        f"(a file is complete after {settings.settle_s:g} s unchanged); Ctrl-C stops",
        file=sys.stderr,
    )
    scans = 0
    last_error = None
    while True:
        report = scan_and_announce(inbox, warehouse_path, settings)
        for item in report.announced:
            print(f"announced {item.path.name} ({item.size} bytes)", flush=True)
        if report.send_error != last_error:  # said once per spell of trouble, not every scan
            if report.send_error:
                print(f"kazinform: warning: {report.send_error}; retrying each scan", file=sys.stderr)
            else:
                print("kazinform: the Prefect API takes events again", file=sys.stderr)
            last_error = report.send_error
        scans += 1
        if args.scans is not None and scans >= args.scans:
            return 0
        time.sleep(args.interval)  # Ctrl-C lands here or in the scan: main says "interrupted" (130)
