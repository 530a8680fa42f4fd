"""`kazinform packages`: the load packages waiting for the warehouse (and those moved aside);
`kazinform packages load`: the loader (flows.loader) run now, as a flow run; `requeue`: packages
moved aside put back in the queue; `clean`: leftovers of interrupted writers removed.

Only the standard library at the top: `kazinform query` builds the same parser and must stay fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Exit statuses as flows.cli names them (not imported: that module imports this one).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_WAREHOUSE_HELP = "DuckDB file (default: $KAZINFORM_WAREHOUSE or ./warehouse.duckdb)"


def add_packages_command(commands: Any) -> None:
    packages = commands.add_parser(
        "packages",
        help="the load packages waiting for the loader, and those moved aside with their reasons",
        description="List the ready load packages (oldest first) and the failed ones. The store is "
        "$KAZINFORM_PACKAGES (a folder or an fsspec URL), else <warehouse>.packages beside it.",
    )
    packages.add_argument("--warehouse", metavar="FILE", help=_WAREHOUSE_HELP)
    packages.set_defaults(func=run_packages_list)
    actions = packages.add_subparsers(dest="packages_action", metavar="ACTION")
    load = actions.add_parser(
        "load", help="load every ready package now, in the order staged (the load-packages flow)"
    )
    # SUPPRESS: `kazinform packages --warehouse F load` keeps the F given before the action
    load.add_argument("--warehouse", metavar="FILE", default=argparse.SUPPRESS, help=_WAREHOUSE_HELP)
    load.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    load.set_defaults(func=run_packages_load)
    requeue = actions.add_parser(
        "requeue", help="put packages moved aside back in the queue (once what failed them is fixed)"
    )
    requeue.add_argument(
        "package_ids", nargs="*", metavar="ID", help="ids as `kazinform packages` lists them"
    )
    requeue.add_argument("--all", action="store_true", help="every package moved aside")
    requeue.add_argument("--warehouse", metavar="FILE", default=argparse.SUPPRESS, help=_WAREHOUSE_HELP)
    requeue.set_defaults(func=run_packages_requeue)
    clean = actions.add_parser(
        "clean",
        help="remove what interrupted writers left (half-written packages, plans of fan-outs that "
        "never came back); the loader does it too, after a day",
    )
    clean.add_argument(
        "--older-than",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="only leftovers older than this (default 24: longer than any run waits)",
    )
    clean.add_argument("--warehouse", metavar="FILE", default=argparse.SUPPRESS, help=_WAREHOUSE_HELP)
    clean.set_defaults(func=run_packages_clean)


def run_packages_list(args: argparse.Namespace) -> int:
    from warehouse.db import resolve_warehouse_path
    from warehouse.packages import PackageError, PackageStore

    warehouse_path = resolve_warehouse_path(args.warehouse)
    store = PackageStore.for_warehouse(warehouse_path)
    ready = store.ready()
    print(f"package store {store.url}")
    print(f"ready: {len(ready)}")
    for ref in ready:
        try:
            package = store.manifest(ref)
        except PackageError as error:
            print(f"  {ref.package_id}  (unreadable: {error})")
            continue
        print(
            f"  {package.package_id}  run {package.run_id}  source {package.source or '-'}  "
            f"visits {package.visits}  staged {package.staged_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    failed = store.failed()
    print(f"failed: {len(failed)}")
    for entry in failed:
        package = entry.package
        about = (
            f"run {package.run_id}  source {package.source or '-'}  visits {package.visits}  "
            f"staged {package.staged_at:%Y-%m-%d %H:%M:%S} UTC  "
            if package
            else ""
        )
        print(f"  {entry.ref.package_id}  {about}reason: {entry.reason}")
    return EXIT_OK


def run_packages_load(args: argparse.Namespace) -> int:
    from flows.cli import _finish, _prepare_flow_run, _run_reported
    from warehouse.db import resolve_warehouse_path

    warehouse_path = resolve_warehouse_path(args.warehouse)
    api_url = _prepare_flow_run(args)
    from flows.loader import load_packages  # imported after the API URL is settled

    outcome = _run_reported(lambda: load_packages(str(warehouse_path)), api_url)
    report = outcome.result
    print(report.to_text())
    return _finish(outcome, EXIT_FAILURE if report.error else EXIT_OK)


def run_packages_requeue(args: argparse.Namespace) -> int:
    from warehouse.db import resolve_warehouse_path
    from warehouse.packages import PackageError, PackageStore

    store = PackageStore.for_warehouse(resolve_warehouse_path(args.warehouse))
    ids = [entry.ref.package_id for entry in store.failed()] if args.all else list(args.package_ids)
    if not ids and not args.all:
        print("kazinform: name the packages to requeue (ID...), or --all", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for package_id in ids:
        try:
            package = store.requeue(package_id)
        except PackageError as error:
            print(f"kazinform: {error}", file=sys.stderr)
            status = EXIT_FAILURE
            continue
        print(f"requeued {package.package_id}  run {package.run_id}  visits {package.visits}")
    print(f"{len(store.ready())} packages ready in {store.url}")
    return status


def run_packages_clean(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from flows.stage_plans import PLANS_FOLDER
    from warehouse.db import resolve_warehouse_path
    from warehouse.packages import PackageStore

    if args.older_than < 0:
        print("kazinform: --older-than must be 0 or more hours", file=sys.stderr)
        return EXIT_USAGE
    store = PackageStore.for_warehouse(resolve_warehouse_path(args.warehouse))
    removed = store.remove_stale(timedelta(hours=args.older_than), side_folders=[PLANS_FOLDER])
    for location in removed:
        print(f"removed {location}")
    print(f"removed {len(removed)} leftovers older than {args.older_than:g} h from {store.url}")
    return EXIT_OK
