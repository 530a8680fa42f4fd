"""`kazinform serve` and `kazinform deploy --pool NAME`: the project's deployments (flows/serve.py).

Only the standard library is imported here; each handler imports the rest when it runs.

Which Prefect API: PREFECT_API_URL when set (another self-hosted server, or Prefect Cloud with
PREFECT_API_KEY as well), else the local server `kazinform` keeps (flows/prefect_api.py).
"""

from __future__ import annotations

import argparse
import inspect
import signal
import sys
from typing import Any

EXIT_OK = 0
EXIT_USAGE = 2
PROCESS_POOL_TYPE = "process"


def _minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not minutes > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 minutes: {text!r}")
    return minutes


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    from flows.cli import _add_warehouse_option, requests_per_second

    _add_warehouse_option(parser)
    parser.add_argument(
        "--crawl-every",
        type=_minutes,
        metavar="MIN",
        help="minutes between crawl-new runs (fractions allowed; default $KAZINFORM_CRAWL_EVERY or 15)",
    )
    parser.add_argument(
        "--revisit-every",
        type=_minutes,
        metavar="MIN",
        help="minutes between revisit-due runs (default $KAZINFORM_REVISIT_EVERY or 10)",
    )
    parser.add_argument(
        "--inbox",
        metavar="DIR",
        help="folder ingest-inbox scans (default $KAZINFORM_INBOX or <warehouse folder>/inbox)",
    )
    parser.add_argument(
        "--inbox-every",
        type=_minutes,
        metavar="MIN",
        help="minutes between ingest-inbox scans (default $KAZINFORM_INBOX_EVERY or 1)",
    )
    parser.add_argument(
        "--load-every",
        type=_minutes,
        metavar="MIN",
        help="minutes between catch-up runs of load-packages, which also runs on each "
        "kazinform.package.ready event (default $KAZINFORM_LOAD_EVERY or 5)",
    )
    parser.add_argument(
        "--crawl-rate",
        type=requests_per_second,
        metavar="R",
        help="requests/s per host of the scheduled crawls, 0 = no limit "
        "(default $KAZINFORM_CRAWL_RATE or the source's own: 1)",
    )


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the scheduled and event-triggered deployments until stopped (Ctrl-C)",
        description=inspect.cleandoc(run_serve.__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_schedule_options(serve)
    serve.set_defaults(func=run_serve)


def add_deploy_command(commands: argparse._SubParsersAction) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="register the deployments on a process work pool (`prefect worker start --pool NAME` runs them)",
        description=inspect.cleandoc(run_deploy.__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deploy.add_argument("--pool", required=True, metavar="NAME", help="work pool (created when missing)")
    _add_schedule_options(deploy)
    deploy.set_defaults(func=run_deploy)


def _settings(args: argparse.Namespace):  # -> ServeSettings
    from flows.serve import ServeSettings

    return ServeSettings.from_environment(
        crawl_every_min=args.crawl_every,
        revisit_every_min=args.revisit_every,
        inbox_every_min=args.inbox_every,
        load_every_min=args.load_every,
        inbox=args.inbox,
        crawl_rate=args.crawl_rate,
    )


def _prepare(args: argparse.Namespace):  # -> (warehouse Path, list[DeploymentPlan], api_url) | None
    from flows.cli import _prepare_flow_run
    from flows.serve import ServeSettingError, deployment_plans
    from warehouse.db import resolve_warehouse_path

    try:
        settings = _settings(args)
    except ServeSettingError as error:
        print(f"kazinform: {error} — see `kazinform {args.command} --help`", file=sys.stderr)
        return None
    warehouse = resolve_warehouse_path(args.warehouse).resolve()
    api_url = _prepare_flow_run(args)
    return warehouse, deployment_plans(warehouse, settings), api_url


def _ui_address(api_url: str) -> str:
    from prefect.settings import PREFECT_UI_URL

    return PREFECT_UI_URL.value() or api_url.removesuffix("/api")


def run_serve(args: argparse.Namespace) -> int:
    """Serve the deployments with Prefect's `serve`: schedules start crawl-new, revisit-due and
    ingest-inbox; events start change-report and ingest-file. Each run is a subprocess of this one.

    Stopping: Ctrl-C (SIGINT) or SIGTERM, the same way. No new run starts; a run still going is
    cancelled by Prefect's runner (its process is stopped and the run is marked Cancelled, "Runner
    is shutting down."); batches it already loaded stay committed, what it fetched but had not
    loaded is fetched again by the next run. A second Ctrl-C quits at once. The schedules are paused
    on the way out, so runs do not pile up as Late while nothing serves them (a backlog that would
    all start at the next `serve`); the next `kazinform serve` resumes them.
    """
    prepared = _prepare(args)
    if prepared is None:
        return EXIT_USAGE
    warehouse, plans, api_url = prepared
    from flows.serve import schedule_lines, serve_deployments, to_deployments

    deployments = to_deployments(plans)
    print(f"serving {len(plans)} deployments for {warehouse}:")
    print("\n".join(schedule_lines(plans)))
    print(f"Prefect API {api_url}; runs, schedules and logs in the UI at {_ui_address(api_url)}")
    print("stop with Ctrl-C", flush=True)
    signal.signal(signal.SIGINT, _stop_as_on_sigterm)
    try:
        # serve() returns once the runner has stopped its runs and paused the schedules.
        serve_deployments(*deployments, pause_on_shutdown=True, print_starting_message=False)
    except KeyboardInterrupt:
        # Python's own Ctrl-C handler took the stop (before the runner started, or while Prefect's
        # process handling held SIGINT for a run starting): the runner did not pause its schedules.
        pass
    except SystemExit as leaving:
        # The runner's SIGTERM handler leaves with sys.exit(0) when it does not count itself
        # started yet: the same, without the pause. Any other exit is passed on.
        if leaving.code not in (0, None):
            raise
    finally:
        _pause_schedules(deployments)  # idempotent: paused already when the runner did it
    print("kazinform: stopped serving; schedules paused until the next `kazinform serve`", file=sys.stderr)
    return EXIT_OK


def _pause_schedules(deployments: list[Any]) -> None:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            for deployment in deployments:
                found = client.read_deployment_by_name(f"{deployment.flow_name}/{deployment.name}")
                client.pause_deployment(found.id)
    except Exception as error:  # the API may be gone too: say so, the next serve resumes them anyway
        print(f"kazinform: could not pause the schedules: {error}", file=sys.stderr)


def _stop_as_on_sigterm(signum: int, frame: object) -> None:
    """Ctrl-C stops the runner the way SIGTERM does: it cancels the run in progress (marked
    Cancelled, "Runner is shutting down.") before it stops. Left to Prefect, Ctrl-C tears the
    runner down at once and kills the run's process: the run ends Crashed when it got the Ctrl-C
    too (a terminal sends it to the whole group), or stays Running when only `serve` got it
    (`kill -INT`) until the next `kazinform` command marks it crashed. A second Ctrl-C interrupts
    at once."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):  # the runner has not started yet
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGTERM)


def run_deploy(args: argparse.Namespace) -> int:
    """Register the deployments on a process work pool (created when missing), with `stage-source`
    and `crawl-fanout` (`kazinform fanout`, `kazinform backfill`). A worker on this machine runs
    them from the project folder: `prefect worker start --pool NAME`. The deployments
    have the same names as those `kazinform serve` registers; the one registered last is in force.
    """
    prepared = _prepare(args)
    if prepared is None:
        return EXIT_USAGE
    warehouse, plans, _ = prepared
    from flows.serve import schedule_lines, stage_deployment_plans, to_deployments

    # a pool's workers also run the crawl spread over them (flows/stage_flow.py)
    plans = plans + stage_deployment_plans(warehouse, _settings(args))

    created = _ensure_process_pool(args.pool)
    if created is None:
        return EXIT_USAGE
    for deployment in to_deployments(plans, work_pool=True):
        deployment.apply(work_pool_name=args.pool)
    pool_note = "created" if created else "existing"
    print(f"registered {len(plans)} deployments for {warehouse} on the {pool_note} work pool {args.pool!r}:")
    print("\n".join(schedule_lines(plans)))
    print(f"start a worker to run them:\n  prefect worker start --pool {args.pool}")
    return EXIT_OK


def _ensure_process_pool(name: str) -> bool | None:
    """True when the pool was created, False when a process pool of that name was there; None
    (after one error line) when a pool of another type has the name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=name, type=PROCESS_POOL_TYPE, base_job_template=template)
            )
            return True
    if pool.type != PROCESS_POOL_TYPE:
        print(
            f"kazinform: the work pool {name!r} is of type {pool.type!r}: the deployments run from this "
            f"project folder and need a {PROCESS_POOL_TYPE!r} pool — choose another --pool name",
            file=sys.stderr,
        )
        return None
    return False
