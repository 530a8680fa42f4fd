"""`kazinform` command line: ingest, crawl, parse, query, history."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_INPUTS = ["seeds/"]
MAX_CELL_WIDTH = 60
MAX_LOADED_SHOWN = 20  # articles listed after an ingest; the summary counts them all


def _add_warehouse_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kazinform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="read files, directories or globs into the warehouse")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="default: seeds/")
    _add_warehouse_option(ingest)

    crawl = commands.add_parser("crawl", help="discover and fetch articles over HTTP")
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="default: kazinform")
    _add_warehouse_option(crawl)
    crawl.add_argument("--revisit", choices=("all", "due", "none"), default="due")
    crawl.add_argument("--max-pages", type=int, default=3, metavar="N", help="listing pages per edition")
    crawl.add_argument(
        "--rate", type=float, default=None, metavar="R", help="requests/s per host (0 = no limit)"
    )
    crawl.add_argument("--warc", metavar="FILE", help="also append every fetched article page to a WARC file")
    crawl.add_argument("--concurrency", type=int, default=None, metavar="N", help="connections per host")

    parse = commands.add_parser("parse", help="print each parsed record as a JSON line; no warehouse")
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--url", help="the address the page was fetched from")

    query = commands.add_parser("query", help="run SQL on the warehouse (read-only)")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _add_warehouse_option(query)

    history = commands.add_parser("history", help="every version and field change of one article")
    history.add_argument("article_id")
    history.add_argument("--source", default=None)
    _add_warehouse_option(history)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "ingest": run_ingest,
        "crawl": run_crawl,
        "parse": run_parse,
        "query": run_query,
        "history": run_history,
    }[args.command]
    from flows.prefect_api import PrefectApiError

    try:
        return handler(args)
    except PrefectApiError as error:
        print(f"kazinform: {error}", file=sys.stderr)
        return 2


def run_ingest(args: argparse.Namespace) -> int:
    from flows.prefect_api import ensure_prefect_api
    from warehouse.db import resolve_warehouse_path

    warehouse_path = resolve_warehouse_path(args.warehouse)
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    from flows.ingest import ingest_files  # imported after the API URL is settled

    summary = ingest_files(args.paths or DEFAULT_INPUTS, str(warehouse_path))
    print(summary.to_text())
    _print_loaded(warehouse_path, summary.run_id)
    return 0


def run_crawl(args: argparse.Namespace) -> int:
    from flows.prefect_api import ensure_prefect_api
    from warehouse.db import resolve_warehouse_path

    warehouse_path = resolve_warehouse_path(args.warehouse)
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    from flows.crawl import crawl_sources

    summary = asyncio.run(
        crawl_sources(
            args.sources or ["kazinform"],
            str(warehouse_path),
            revisit=args.revisit,
            max_pages=args.max_pages,
            rate_per_host=args.rate,
            concurrency_per_host=args.concurrency,
            warc_path=args.warc,
        )
    )
    print(summary.to_text())
    return 0


def _print_loaded(warehouse_path: Path, run_id: str) -> None:
    from warehouse.db import open_reader
    from warehouse.queries import ARTICLE_VISITS_IN_RUN, LOADED_IN_RUN

    with open_reader(warehouse_path) as connection:
        relation = connection.execute(LOADED_IN_RUN, [run_id, MAX_LOADED_SHOWN])
        columns = [d[0] for d in relation.description]
        rows = relation.fetchall()
        total = connection.execute(ARTICLE_VISITS_IN_RUN, [run_id]).fetchone()[0]
    if rows:
        print(f"\nloaded into {warehouse_path}:")
        print(format_table(columns, rows))
        if total > len(rows):
            print(f"… and {total - len(rows)} more (query the visits of run {run_id})")


def run_parse(args: argparse.Namespace) -> int:
    from parsers.api import parse_bytes
    from parsers.record import ParseError

    failed = 0
    for path in args.paths:
        try:
            record = parse_bytes(Path(path).read_bytes(), locator=path, url=args.url)
        except (ParseError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(json.dumps(record.to_json_dict(), ensure_ascii=False))
    return 1 if failed else 0


def run_query(args: argparse.Namespace) -> int:
    from warehouse.db import open_reader, resolve_warehouse_path

    with open_reader(resolve_warehouse_path(args.warehouse)) as connection:
        result = connection.execute(args.sql)
        columns = [d[0] for d in result.description] if result.description else []
        rows = result.fetchall() if columns else []
    if args.format == "json":
        print(
            json.dumps(
                [dict(zip(columns, row, strict=True)) for row in rows], ensure_ascii=False, default=str
            )
        )
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(format_table(columns, rows))
    return 0


def run_history(args: argparse.Namespace) -> int:
    from warehouse.db import open_reader, resolve_warehouse_path
    from warehouse.history import article_history, render_history

    with open_reader(resolve_warehouse_path(args.warehouse)) as connection:
        history = article_history(connection, args.article_id, source=args.source)
    if history is None:
        print(f"no article with id {args.article_id!r} in the warehouse", file=sys.stderr)
        return 1
    print(render_history(history))
    return 0


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL_WIDTH else text[: MAX_CELL_WIDTH - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned plain-text table; long cells are cut so a row stays on one line."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    footer = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line, rule, *body, footer])


if __name__ == "__main__":
    raise SystemExit(main())
