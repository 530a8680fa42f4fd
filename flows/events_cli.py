"""`kazinform events flush`: emit the events a run left in the warehouse's outbox (flows.events).

Only the standard library at the top: `kazinform query` builds the same parser and must stay fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Exit statuses as flows.cli names them (not imported: that module imports this one).
EXIT_OK = 0
EXIT_FAILURE = 1


def add_events_command(commands: Any) -> None:
    events = commands.add_parser("events", help="the Prefect events waiting in the warehouse's outbox")
    actions = events.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    flush = actions.add_parser(
        "flush",
        help="emit the events runs left (their Prefect API was down); say how many were emitted and are left",
    )
    flush.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )
    flush.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    flush.set_defaults(func=run_events_flush)


def run_events_flush(args: argparse.Namespace) -> int:
    from flows.events import COMMAND_DEADLINE_S, flush_outbox
    from flows.prefect_api import ensure_prefect_api
    from warehouse.db import WarehouseNotFoundError, resolve_warehouse_path

    warehouse_path = resolve_warehouse_path(args.warehouse)
    if not warehouse_path.exists():
        raise WarehouseNotFoundError(f"no warehouse at {warehouse_path}")
    ensure_prefect_api(log=lambda line: print(line, file=sys.stderr))  # one line when it does not answer
    result = flush_outbox(warehouse_path, deadline_s=COMMAND_DEADLINE_S, logger=_quiet_logger())
    remaining = "unknown (the warehouse is held)" if result.remaining < 0 else str(result.remaining)
    print(f"emitted {result.emitted} events; {remaining} left in the outbox")
    if result.error is not None:
        print(f"kazinform: {result.error} — run `kazinform events flush` again later", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _quiet_logger() -> Any:
    """The command says the outcome itself, in one line: the flush's own warning is not repeated."""
    import logging

    logger = logging.getLogger("kazinform.events.command")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger
