"""`kazinform status [--warehouse FILE]`: the deployments, the last runs, the outbox and the
warehouse's counts (flows.status). Only the standard library at the top: the CLI imports this module
to build its parser."""

from __future__ import annotations

import argparse

EXIT_OK = 0
EXIT_PART_UNREAD = 1  # the Prefect API or the warehouse could not be read (the rest is printed)


def add_status_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    status = commands.add_parser(
        "status",
        help="deployments and their next runs, the last runs, events waiting, the warehouse's counts",
        description="Exit status 1 when the Prefect API or the warehouse could not be read; what could "
        "be read is printed all the same.",
    )
    status.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)",
    )
    status.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from flows.status import gather_status, render_status
    from warehouse.db import resolve_warehouse_path

    status = gather_status(resolve_warehouse_path(args.warehouse))
    print(render_status(status))
    return EXIT_OK if status.complete else EXIT_PART_UNREAD
