"""`kazinform` command line: ingest, crawl, parse, query, history."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from flows.cli_errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UnreadableInputError,
    describe_error,
    first_line,
    read_input_file,
)

DEFAULT_INPUTS = ["seeds/"]
MAX_CELL_WIDTH = 60
MAX_LOADED_SHOWN = 20  # articles listed after an ingest; the summary counts them all

PARSE_ADVICE = "`kazinform parse` reads Kazinform pages (.html, .htm, .html.gz) and text copies (.txt)"
DEBUG_HELP = "show the full traceback of an error instead of its one-line message"


class KazinformArgumentParser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"kazinform: {message} — see `{self.prog} --help`\n")


def _add_warehouse_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )


def _add_stage_only_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage-only",
        action="store_true",
        help="write each batch as a load package instead of loading it; the warehouse is only read "
        "(`kazinform packages load` or the load-packages deployment loads them)",
    )
    parser.add_argument(
        "--packages",
        metavar="URL",
        help="with --stage-only: the package store (a folder or fsspec URL; default "
        "$KAZINFORM_PACKAGES or <warehouse>.packages)",
    )


def _add_debug_option(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("--debug", action="store_true", default=default, help=DEBUG_HELP)


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0 (also used by the commands of flows/*_cli.py)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return seconds


def requests_per_second(text: str) -> float:
    """An argparse type: requests per second per host, 0 meaning no limit."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of requests per second: {text!r}") from None
    if not rate >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return rate


def positive_int(text: str) -> int:
    """An argparse type: a whole number, 1 or more (connections per host, pages per run…)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return number


def add_host_options(parser: argparse.ArgumentParser) -> None:
    """--rate and --concurrency, checked before any run starts (crawl, fanout, backfill)."""
    parser.add_argument(
        "--rate",
        type=requests_per_second,
        default=None,
        metavar="R",
        help="requests/s per host (0 = no limit)",
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=None, metavar="N", help="connections per host"
    )


SOURCE_HELP = (
    "the source of every input (see `kazinform sources`); default: the one the page's address names, "
    "else the generic parser"
)


def build_parser() -> argparse.ArgumentParser:
    parser = KazinformArgumentParser(
        prog="kazinform",
        description=__doc__,
        epilog="Errors are one line on stderr; exit status 1 when a run failed, 2 when a command was "
        "given wrongly (bad arguments, bad or refused SQL), 130 when interrupted.",
    )
    _add_debug_option(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="read files, directories or globs into the warehouse")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="default: seeds/")
    ingest.add_argument("--source", metavar="NAME", help=SOURCE_HELP)
    _add_warehouse_option(ingest)
    _add_stage_only_options(ingest)

    crawl = commands.add_parser("crawl", help="discover and fetch articles over HTTP")
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="default: every registered source")
    _add_warehouse_option(crawl)
    crawl.add_argument("--revisit", choices=("all", "due", "none"), default="due")
    crawl.add_argument("--max-pages", type=int, default=3, metavar="N", help="listing pages per edition")
    add_host_options(crawl)
    crawl.add_argument("--warc", metavar="FILE", help="also append every fetched article page to a WARC file")
    crawl.add_argument(
        "--max-duration",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop starting requests after this long; what was fetched is loaded (default: no limit)",
    )
    crawl.add_argument(
        "--max-links-per-page",
        type=int,
        default=None,
        metavar="N",
        help="links followed from one feed or listing page; the rest are counted (default 300)",
    )
    _add_stage_only_options(crawl)

    parse = commands.add_parser(
        "parse", help="print each parsed record as a JSON line; no warehouse; one error line per bad file"
    )
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--url", help="the address the page was fetched from (it picks the source)")
    parse.add_argument("--source", metavar="NAME", help=SOURCE_HELP)

    query = commands.add_parser("query", help="run SQL on the warehouse (read-only)")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _add_warehouse_option(query)

    history = commands.add_parser("history", help="every version and field change of one article")
    history.add_argument("article_id")
    history.add_argument("--source", default=None)
    _add_warehouse_option(history)
    for module_name in COMMAND_MODULES:
        _add_commands_of(module_name, commands)
    for command in set(commands.choices.values()):
        # `--debug` after the command too; SUPPRESS keeps one given before it
        _add_debug_option(command, default=argparse.SUPPRESS)
    return parser


# Commands defined beside the flows they start. Each module imports only the standard library at
# its top (its handler imports the rest), so building the parser stays cheap for `query`. Each
# `add_<name>_command(commands)` function adds its subcommand with `func` set to its handler.
COMMAND_MODULES = (
    "flows.events_cli",
    "flows.serve_cli",
    "flows.inbox_cli",
    "flows.status_cli",
    "flows.reparse_cli",
    "flows.sources_cli",
    "flows.packages_cli",
    "flows.fanout_cli",
)


def _add_commands_of(module_name: str, commands: Any) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return
        raise
    for name in sorted(vars(module)):
        if name.startswith("add_") and name.endswith("_command"):
            getattr(module, name)(commands)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = (
        getattr(args, "func", None)
        or {
            "ingest": run_ingest,
            "crawl": run_crawl,
            "parse": run_parse,
            "query": run_query,
            "history": run_history,
        }[args.command]
    )
    try:
        return handler(args)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print("kazinform: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one error path: every failure ends as one line and a status
        message, status = describe_error(error, args)
        if args.debug:
            traceback.print_exc()
        print(f"kazinform: {message}", file=sys.stderr)
        return status


def _check_sources(names: Sequence[str]) -> None:
    """An unknown source name is a usage error before any run starts."""
    from parsers.registry import get_source

    for name in names:
        get_source(name)


def _check_stage_only(args: argparse.Namespace) -> None:
    if args.packages and not args.stage_only:
        print("kazinform: --packages is the store of --stage-only: give both, or neither", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def run_ingest(args: argparse.Namespace) -> int:
    from warehouse.db import resolve_warehouse_path

    _check_sources([args.source] if args.source else [])
    warehouse_path = resolve_warehouse_path(args.warehouse)
    _check_stage_only(args)
    api_url = _prepare_flow_run(args)
    from flows.ingest import ingest_files  # imported after the API URL is settled

    outcome = _run_reported(
        lambda: ingest_files(
            args.paths or DEFAULT_INPUTS,
            str(warehouse_path),
            source=args.source,
            stage_only=args.stage_only,
            packages_url=args.packages,
        ),
        api_url,
        stoppable=True,
    )
    summary = outcome.result
    print(summary.to_text())
    # pending: staged only, stopped, or the warehouse is still held: nothing new to show
    if not summary.counts.get("pending"):
        _print_loaded(warehouse_path, summary.run_id)
    return _finish(outcome, EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK)


def run_crawl(args: argparse.Namespace) -> int:
    from warehouse.db import resolve_warehouse_path

    _check_sources(args.sources)
    warehouse_path = resolve_warehouse_path(args.warehouse)
    _check_stage_only(args)
    api_url = _prepare_flow_run(args)
    from flows.crawl import crawl_sources

    links_cap = {} if args.max_links_per_page is None else {"max_links_per_page": args.max_links_per_page}

    def crawl() -> object:
        return asyncio.run(
            crawl_sources(
                args.sources,
                str(warehouse_path),
                revisit=args.revisit,
                max_pages=args.max_pages,
                rate_per_host=args.rate,
                concurrency_per_host=args.concurrency,
                warc_path=args.warc,
                max_duration_s=args.max_duration,
                stage_only=args.stage_only,
                packages_url=args.packages,
                **links_cap,
            )
        )

    outcome = _run_reported(crawl, api_url, stoppable=True)
    print(outcome.result.to_text())
    return _finish(outcome, EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK)


def _prepare_flow_run(args: argparse.Namespace) -> str:
    """A Prefect API for the run; runs of earlier commands that were killed are marked crashed."""
    from flows.prefect_api import ensure_prefect_api
    from flows.run_guard import mark_orphaned_runs_crashed

    api_url = ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))
    for name in mark_orphaned_runs_crashed():
        print(f"kazinform: flow run {name} of a killed command is now marked crashed", file=sys.stderr)
    _quiet_console_tracebacks(args)
    return api_url


def _run_reported(call: Callable[[], Any], api_url: str, *, stoppable: bool = False) -> Any:
    from flows.run_guard import run_reported

    return run_reported(call, api_url, stoppable=stoppable)


def _finish(outcome: Any, status: int) -> int:
    """The run's status; when the Prefect API went away mid-run, say so and leave at once: Prefect
    would otherwise retry its event queue at exit, one reconnect at a time, for minutes."""
    if outcome.warning:
        print(f"kazinform: warning: {outcome.warning}", file=sys.stderr)
    if outcome.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _quiet_console_tracebacks(args: argparse.Namespace) -> None:
    """Without --debug, a failed flow or task is one log line on the terminal, not a traceback:
    main tells the error once. Prefect formats terminal lines with PrefectFormatter (set up again
    when a flow starts, so the class itself is changed); it is given a copy of each record without
    the exception, so the API log handler, with its own formatter, still sends the full traceback
    to the run's logs in the Prefect UI."""
    if args.debug:
        return
    from prefect.logging.formatters import PrefectFormatter

    if getattr(PrefectFormatter, "_kazinform_quiet", False):
        return
    format_record = PrefectFormatter.format

    def format_without_traceback(self: PrefectFormatter, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            fields = {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
            record = logging.makeLogRecord(fields)
        return format_record(self, record)

    PrefectFormatter.format = format_without_traceback  # type: ignore[method-assign]
    PrefectFormatter._kazinform_quiet = True  # type: ignore[attr-defined]


def _print_loaded(warehouse_path: Path, run_id: str) -> None:
    from warehouse.db import open_reader, writer_wait_seconds
    from warehouse.queries import ARTICLE_VISITS_IN_RUN, LOADED_IN_RUN

    # the run's own report: another run's write may be in progress, so wait as a writer would
    with open_reader(warehouse_path, timeout=writer_wait_seconds()) as connection:
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
    from parsers.registry import get_source

    source = get_source(args.source) if args.source else None
    status = 0
    for path in args.paths:
        try:
            raw = read_input_file(Path(path))
            record = parse_bytes(raw, locator=path, url=args.url, source=source)
        except UnreadableInputError as error:
            print(f"kazinform: {path}: {error}", file=sys.stderr)
            status = max(status, error.status)
            continue
        except Exception as error:  # one bad input never stops the others
            if args.debug:
                traceback.print_exc()
            reason = error.reason if isinstance(error, ParseError) else f"{type(error).__name__}: {error}"
            print(f"kazinform: {path}: cannot parse: {first_line(reason)} — {PARSE_ADVICE}", file=sys.stderr)
            status = max(status, EXIT_FAILURE)
            continue
        print(json.dumps(record.to_json_dict(), ensure_ascii=False))
    return status


def run_query(args: argparse.Namespace) -> int:
    """Rows stream out as DuckDB produces them (csv, json); the table shows the first rows and
    counts the rest. See warehouse/query_sandbox.py for the shaping and the bounds."""
    from warehouse.db import resolve_warehouse_path
    from warehouse.query_sandbox import (
        JSON_ROW_SEPARATOR,
        TABLE_ROWS_SHOWN,
        csv_header,
        csv_lines,
        json_rows,
        line_bytes,
        open_query_connection,
        stream_sql,
        text_cells,
    )

    shape = {"csv": csv_lines, "json": json_rows, "table": text_cells}[args.format]
    out = sys.stdout.buffer
    try:
        with (
            open_query_connection(resolve_warehouse_path(args.warehouse)) as connection,
            stream_sql(connection, args.sql, shape) as stream,
        ):
            if args.format == "table":
                rows: list[tuple[Any, ...]] = []
                total = 0
                for batch in stream.batches:  # every row is counted; the first ones are kept
                    if len(rows) < TABLE_ROWS_SHOWN:
                        head = batch.slice(0, TABLE_ROWS_SHOWN - len(rows))
                        rows += zip(*(column.to_pylist() for column in head.columns), strict=True)
                    total += batch.num_rows
                out.write(format_table(stream.columns, rows, total=total).encode() + b"\n")
            else:
                # the opening goes out with the first rows: an error before them leaves no output
                if args.format == "csv":
                    opening, skip = csv_header(stream.columns).encode(), 0
                else:  # the first row's comma is cut; its line break stays
                    opening, skip = b"[", len(JSON_ROW_SEPARATOR) - 1
                for batch in stream.batches:
                    text = line_bytes(batch)
                    if len(text):
                        out.write(opening)
                        out.write(text[skip:])
                        opening, skip = b"", 0
                out.write(opening + (b"\n]\n" if args.format == "json" else b""))
        out.flush()
    except BrokenPipeError:
        # the reader of the output left (`| head`): what it wanted was written; the rest is not needed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, total: int | None = None) -> str:
    """Aligned plain-text table; long cells are cut so a row stays on one line. `total` is the
    number of rows there are when `rows` are only the first of them."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    total = len(rows) if total is None else total
    footer = f"({total:,} row{'s' if total != 1 else ''})"
    if total > len(rows):
        footer = (
            f"({total:,} rows, the first {len(rows)} shown; "
            "`--format csv` or `--format json` prints them all)"
        )
    return "\n".join([line, rule, *body, footer])


if __name__ == "__main__":
    raise SystemExit(main())
