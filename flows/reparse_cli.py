"""`kazinform reparse [--source S] [--parser-version V] [--since DATE]`: re-read the raw pages the
warehouse keeps with today's parsers (flows.reparse). Standard library only at the top: the parser
is built for every command (see flows.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

EXIT_OK = 0
EXIT_PAGES_FAILED = 1  # some stored pages no longer parse (their versions stay as they were)


def parse_since(text: str) -> datetime:
    """`--since`: a date (midnight UTC) or an ISO-8601 moment (UTC when it has no offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD) or ISO-8601 time: {text!r}") from None
    if len(text) <= len("YYYY-MM-DD"):
        moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def since_argument(text: str) -> datetime:
    """An argparse type: `parse_since`."""
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_reparse_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    reparse = commands.add_parser(
        "reparse",
        help="re-parse the stored raw pages with today's parsers; differences become `reparse` versions",
        description="Each article's current version is parsed again from the raw page it was made "
        "from. A difference in any tracked field becomes a new version whose change rows have cause "
        "`reparse` (not an edit: not in `articles.edits`, no change event); unchanged output writes "
        "nothing. A page that no longer parses is reported and its version kept. Exit status 1 when "
        "some page failed to parse.",
    )
    reparse.add_argument("--source", metavar="S", default=None, help="only articles of this source")
    reparse.add_argument(
        "--parser-version",
        metavar="V",
        default=None,
        help="only versions made by this parser: `kazinform@2023.1` exactly, or `kazinform` for every "
        "version of the family (the versions' `parser` column)",
    )
    reparse.add_argument(
        "--since",
        metavar="DATE",
        type=since_argument,
        default=None,
        help="only versions first seen on or after DATE (YYYY-MM-DD, UTC; or an ISO-8601 time)",
    )
    reparse.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )
    reparse.set_defaults(func=run_reparse)


def run_reparse(args: argparse.Namespace) -> int:
    from flows.cli import _finish, _prepare_flow_run, _run_reported
    from warehouse.db import resolve_warehouse_path

    warehouse_path = resolve_warehouse_path(args.warehouse)
    if not warehouse_path.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}")
    api_url = _prepare_flow_run(args)
    from flows.reparse import reparse_flow  # imported after the API URL is settled

    since = args.since.isoformat() if args.since else None

    def reparse() -> object:
        return reparse_flow(str(warehouse_path), args.source, args.parser_version, since)

    outcome = _run_reported(reparse, api_url)
    summary = outcome.result
    print(summary.to_text())
    return _finish(outcome, EXIT_PAGES_FAILED if summary.failures else EXIT_OK)
