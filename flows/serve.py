"""The project's Prefect deployments: what runs by itself, when, and with which parameters.

`build_deployments` gives them for `prefect.serve` (`kazinform serve`: the flows run as
subprocesses of the serving process) and, with `work_pool=True`, loaded from the project folder
for a work pool (`kazinform deploy --pool NAME`: `prefect worker start --pool NAME` runs them).

| deployment      | flow                                   | starts                                 |
|-----------------|----------------------------------------|----------------------------------------|
| `crawl-new`     | `crawl` (flows/crawl.py), revisit=none | every 15 min (KAZINFORM_CRAWL_EVERY)   |
| `revisit-due`   | `crawl`, revisit=due, no discovery     | every 10 min (KAZINFORM_REVISIT_EVERY) |
| `ingest-inbox`  | `ingest_inbox` (flows/inbox.py)        | every 1 min (KAZINFORM_INBOX_EVERY)    |
| `change-report` | `change_report` (flows/change_report)  | `kazinform.article.changed` events     |
| `ingest-file`   | `ingest_file` (flows/inbox.py)         | `kazinform.file.arrived` events        |
| `load-packages` | `load_packages` (flows/loader.py)      | `kazinform.package.ready` events, and  |
|                 |                                        | every 5 min (KAZINFORM_LOAD_EVERY)     |

Intervals are minutes (fractions allowed). A scheduled crawl stops starting requests when its next
run is due (`max_duration_s` = its interval; what is left is asked for by the next run), and a
scheduled deployment runs one run at a time: a run that comes due while the previous one still works is
cancelled, not queued (so a slow site cannot pile crawls up). Runs a killed serve left in flight
are ended when the next serve starts (`end_runs_of_a_gone_serve`), which frees their slots.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

logger = logging.getLogger("kazinform.serve")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# New articles appear on Kazinform every few minutes; one discovery pass every 15 minutes reads
# the feeds (a 304 when unchanged) and the first lenta pages without being a burden on the site.
CRAWL_EVERY_MIN = 15.0
# Due revisits are spread over the day by `next_visit_at`; every 10 minutes keeps each batch small.
REVISIT_EVERY_MIN = 10.0
# A scan of the inbox folder is a directory listing: cheap, so files wait at most a minute.
INBOX_EVERY_MIN = 1.0
# The loader runs on each `kazinform.package.ready` event; the schedule only catches up packages
# whose event was lost (the API was down): every 5 minutes is a listing of the store, and a lost
# event delays its package by at most that.
LOAD_EVERY_MIN = 5.0
# Listing pages per edition read by `crawl-new` (the crawl stops earlier at a page of known articles).
CRAWL_NEW_MAX_PAGES = 3
INBOX_FOLDER_NAME = "inbox"

CRAWL_EVERY_ENV = "KAZINFORM_CRAWL_EVERY"
REVISIT_EVERY_ENV = "KAZINFORM_REVISIT_EVERY"
INBOX_EVERY_ENV = "KAZINFORM_INBOX_EVERY"
INBOX_ENV = "KAZINFORM_INBOX"
LOAD_EVERY_ENV = "KAZINFORM_LOAD_EVERY"
CRAWL_RATE_ENV = "KAZINFORM_CRAWL_RATE"


CRAWL_ENTRYPOINT = "flows/crawl.py:crawl_sources"
INBOX_SCAN_ENTRYPOINT = "flows/inbox.py:ingest_inbox"
INGEST_FILE_ENTRYPOINT = "flows/inbox.py:ingest_file"
CHANGE_REPORT_ENTRYPOINT = "flows/change_report.py:change_report"
LOAD_PACKAGES_ENTRYPOINT = "flows/loader.py:load_packages"


class ServeSettingError(ValueError):
    """A schedule setting (flag or environment) that is not a positive number of minutes."""


@dataclass(frozen=True)
class ServeSettings:
    """Schedules of the deployments. Each field: a flag of `kazinform serve`/`deploy`, else its
    environment setting, else the default constant above."""

    crawl_every_min: float = CRAWL_EVERY_MIN
    revisit_every_min: float = REVISIT_EVERY_MIN
    inbox_every_min: float = INBOX_EVERY_MIN
    load_every_min: float = LOAD_EVERY_MIN
    inbox: str | None = None  # None: <warehouse folder>/inbox
    # Requests per second per host for the scheduled crawls; None: the source's own (1/s for Kazinform).
    crawl_rate: float | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)  # empty: every registered source

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> ServeSettings:
        """Flags given (not None) win over the environment, which wins over the defaults."""
        environ = os.environ if environ is None else environ
        settings = cls(
            crawl_every_min=_minutes(environ, CRAWL_EVERY_ENV, CRAWL_EVERY_MIN),
            revisit_every_min=_minutes(environ, REVISIT_EVERY_ENV, REVISIT_EVERY_MIN),
            inbox_every_min=_minutes(environ, INBOX_EVERY_ENV, INBOX_EVERY_MIN),
            load_every_min=_minutes(environ, LOAD_EVERY_ENV, LOAD_EVERY_MIN),
            inbox=environ.get(INBOX_ENV) or None,
            crawl_rate=_rate(environ.get(CRAWL_RATE_ENV), CRAWL_RATE_ENV),
        )
        given = {name: value for name, value in flags.items() if value is not None}
        for name in ("crawl_every_min", "revisit_every_min", "inbox_every_min", "load_every_min"):
            if name in given:
                given[name] = _positive_minutes(
                    given[name], "--" + name.removesuffix("_min").replace("_", "-")
                )
        return replace(settings, **given)

    def inbox_for(self, warehouse_path: Path) -> Path:
        return (
            Path(self.inbox).expanduser().resolve()
            if self.inbox
            else warehouse_path.parent / INBOX_FOLDER_NAME
        )


def _positive_minutes(value: object, name: str) -> float:
    try:
        minutes = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ServeSettingError(f"{name} must be a number of minutes, got {value!r}") from None
    if not minutes > 0:
        raise ServeSettingError(f"{name} must be more than 0 minutes, got {value!r}")
    return minutes


def _minutes(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    return default if not text else _positive_minutes(text, name)


def _rate(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        raise ServeSettingError(f"{name} must be requests per second (0 = no limit), got {text!r}") from None
    if rate < 0:
        raise ServeSettingError(f"{name} must be 0 or more requests per second, got {text!r}")
    return rate


@dataclass(frozen=True)
class DeploymentPlan:
    """One deployment, before Prefect builds it: enough to print it and to test it."""

    name: str
    entrypoint: str  # "<file under the project root>:<flow function>"
    parameters: dict[str, Any]
    description: str
    every_min: float | None = None
    triggers: list[Any] = field(default_factory=list)
    concurrency_limit: int | None = None  # runs at a time; None: no limit
    # A run that comes when the limit is reached is cancelled instead of waiting (for schedules:
    # the next run comes soon anyway, and waiting runs would pile up behind a slow one).
    cancel_when_busy: bool = False

    def describe(self) -> str:
        events = sorted({event for trigger in self.triggers for event in getattr(trigger, "expect", ())})
        on_events = "on " + ", ".join(events) if events else "on events"
        if self.every_min is not None:
            every = f"every {_format_minutes(self.every_min)}"
            return f"{on_events} and {every}" if self.triggers else every
        return on_events if self.triggers else "on demand"


def _format_minutes(minutes: float) -> str:
    if minutes >= 1 and minutes == int(minutes):
        return f"{int(minutes)} min"
    return f"{minutes * 60:g} s"


def deployment_plans(warehouse_path: Path | str, settings: ServeSettings) -> list[DeploymentPlan]:
    """Every deployment the project has. Those of a flow module not in this tree yet are left out
    with a log line."""
    # The one spelling events and triggers use for a warehouse: absolute, symlinks resolved.
    warehouse = str(Path(warehouse_path).expanduser().resolve())
    sources = list(settings.sources)  # empty: every source registered when the run starts
    crawl_common: dict[str, Any] = {"source_names": sources, "warehouse_path": warehouse}
    if settings.crawl_rate is not None:
        crawl_common["rate_per_host"] = settings.crawl_rate
    plans = [
        DeploymentPlan(
            name="crawl-new",
            entrypoint=CRAWL_ENTRYPOINT,
            parameters={
                **crawl_common,
                "revisit": "none",
                "max_pages": CRAWL_NEW_MAX_PAGES,
                "max_duration_s": settings.crawl_every_min * 60,
            },
            description="Discovery of new articles (feeds, then lenta pages) for every source.",
            every_min=settings.crawl_every_min,
            concurrency_limit=1,
            cancel_when_busy=True,
        ),
        DeploymentPlan(
            name="revisit-due",
            entrypoint=CRAWL_ENTRYPOINT,
            parameters={
                **crawl_common,
                "revisit": "due",
                "discover": False,  # no feed or listing page: discovery is crawl-new's
                "max_duration_s": settings.revisit_every_min * 60,
            },
            description="Revisits of the articles whose next_visit_at has passed (no discovery).",
            every_min=settings.revisit_every_min,
            concurrency_limit=1,
            cancel_when_busy=True,
        ),
    ]
    inbox = str(settings.inbox_for(Path(warehouse)))
    inbox_module = _optional_module("flows.inbox")
    if inbox_module is not None:
        plans.append(
            DeploymentPlan(
                name="ingest-inbox",
                entrypoint=INBOX_SCAN_ENTRYPOINT,
                parameters={"warehouse_path": warehouse, "inbox": inbox},
                description="One scan of the inbox folder: an event per complete new file.",
                every_min=settings.inbox_every_min,
                concurrency_limit=1,
                cancel_when_busy=True,
            )
        )
        plans.append(
            DeploymentPlan(
                name="ingest-file",
                entrypoint=INGEST_FILE_ENTRYPOINT,
                parameters={"warehouse_path": warehouse},
                description="Ingests one file of the inbox when its kazinform.file.arrived event comes.",
                triggers=[inbox_module.ingest_file_trigger(warehouse)],
                concurrency_limit=getattr(inbox_module, "INGEST_FILE_CONCURRENCY", None),
            )
        )
    report_module = _optional_module("flows.change_report")
    if report_module is not None:
        plans.append(
            DeploymentPlan(
                name="change-report",
                entrypoint=CHANGE_REPORT_ENTRYPOINT,
                parameters={"warehouse_path": warehouse},
                description="Renders what changed in an article on its kazinform.article.changed event.",
                triggers=[report_module.change_report_trigger(warehouse)],
            )
        )
    loader_module = _optional_module("flows.loader")
    if loader_module is not None:
        plans.append(
            DeploymentPlan(
                name="load-packages",
                entrypoint=LOAD_PACKAGES_ENTRYPOINT,
                parameters={"warehouse_path": warehouse},
                description="Loads the ready load packages into the warehouse in the order they were staged.",
                every_min=settings.load_every_min,
                triggers=[loader_module.package_ready_trigger(warehouse)],
                # One loader: a run lists the store again until it is empty, so an event or a
                # schedule that comes while it works would find nothing left (flows.loader).
                concurrency_limit=1,
                cancel_when_busy=True,
            )
        )
    return plans


STAGE_ENTRYPOINT = "flows/stage_flow.py:stage_source"
FANOUT_ENTRYPOINT = "flows/stage_flow.py:crawl_fanout"


def stage_deployment_plans(warehouse_path: Path | str, settings: ServeSettings) -> list[DeploymentPlan]:
    """The deployments of a crawl spread over workers (flows/stage_flow.py), started on demand:
    `crawl-fanout` (`kazinform fanout`, `kazinform backfill`, or a run from the UI) starts one
    `stage-source` run per part of a source that shares no host on the pool's workers. No
    schedule: `crawl-new` is the scheduled crawl; these runs queue behind each host's slot, not
    behind each other."""
    warehouse = str(Path(warehouse_path).expanduser().resolve())
    common: dict[str, Any] = {"warehouse_path": warehouse}
    if settings.crawl_rate is not None:
        common["rate_per_host"] = settings.crawl_rate
    return [
        DeploymentPlan(
            name="stage-source",
            entrypoint=STAGE_ENTRYPOINT,
            # source and plan_url are given by the fan-out for each run
            parameters=dict(common),
            description="Fetches and parses one source into load packages (started by crawl-fanout).",
        ),
        DeploymentPlan(
            name="crawl-fanout",
            entrypoint=FANOUT_ENTRYPOINT,
            parameters={**common, "sources": list(settings.sources)},
            description="Plans each source, runs stage-source for each on the pool's workers, then loads.",
        ),
    ]


def _optional_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        logger.warning("%s is not in this tree: its deployments are not served", name)
        return None


def build_deployments(
    warehouse_path: Path | str, settings: ServeSettings | None = None, *, work_pool: bool = False
) -> list[RunnerDeployment]:
    """The deployments as Prefect objects. For `serve`, each holds its flow in memory (a run is a
    subprocess of the serving process). With `work_pool=True` each flow is loaded from the project
    folder (`Flow.from_source`), so a worker on this machine runs it from there; no image is built."""
    return to_deployments(deployment_plans(warehouse_path, settings or ServeSettings()), work_pool=work_pool)


def to_deployments(plans: list[DeploymentPlan], *, work_pool: bool = False) -> list[RunnerDeployment]:
    load = _flow_from_project if work_pool else _flow_in_memory
    return [_to_deployment(plan, load(plan.entrypoint)) for plan in plans]


def _flow_in_memory(entrypoint: str) -> Any:
    path, function = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, function)


def _flow_from_project(entrypoint: str) -> Any:
    from prefect import Flow

    return Flow.from_source(source=str(PROJECT_ROOT), entrypoint=entrypoint)


def _to_deployment(plan: DeploymentPlan, flow: Any) -> RunnerDeployment:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    options: dict[str, Any] = {}
    if plan.every_min is not None:
        options["interval"] = timedelta(minutes=plan.every_min)
    if plan.triggers:
        options["triggers"] = plan.triggers
    if plan.concurrency_limit is not None:
        strategy = (
            ConcurrencyLimitStrategy.CANCEL_NEW if plan.cancel_when_busy else ConcurrencyLimitStrategy.ENQUEUE
        )
        options["concurrency_limit"] = ConcurrencyLimitConfig(
            limit=plan.concurrency_limit, collision_strategy=strategy
        )
    return flow.to_deployment(
        name=plan.name,
        parameters=plan.parameters,
        description=plan.description,
        tags=["kazinform"],
        **options,
    )


def serve_deployments(*deployments: RunnerDeployment, **options: Any) -> None:
    """Prefect's `serve`, once the deployments of the same names that `kazinform deploy --pool`
    bound to a work pool are removed: a served deployment registered over a pool's keeps the pool
    (Prefect's upsert does not clear it), and its runs would then wait for a worker, not this
    process. Their runs' history stays with the flow."""
    from prefect import serve

    from_pools(deployments)
    for line in end_runs_of_a_gone_serve(deployments):
        print(f"kazinform: {line}", file=sys.stderr, flush=True)
    serve(*deployments, **options)


def _registered(
    client: Any, deployments: Sequence[RunnerDeployment]
) -> Iterator[tuple[RunnerDeployment, Any]]:
    """Each deployment that the API already holds under its name, with the API's copy of it."""
    from prefect.exceptions import ObjectNotFound

    for deployment in deployments:
        try:
            yield deployment, client.read_deployment_by_name(f"{deployment.flow_name}/{deployment.name}")
        except ObjectNotFound:
            continue


def from_pools(deployments: Sequence[RunnerDeployment]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for _, existing in _registered(client, deployments):
            if existing.work_pool_name:
                client.delete_deployment(existing.id)


# Runs a served deployment still has in flight when a serve starts (a served deployment runs only in
# the serving process, so they belong to a serve that is gone).
IN_FLIGHT_STATES = ("PENDING", "RUNNING", "CANCELLING")


def end_runs_of_a_gone_serve(deployments: Sequence[RunnerDeployment]) -> list[str]:
    """Give a final state to the runs an earlier serve left in flight: Crashed, or Cancelled when
    they were being cancelled. A serve killed outright (SIGKILL, out of memory, the machine
    restarted) leaves its runs Pending or Running, and each holds its deployment's concurrency slot
    for as long as Prefect's lease lasts (5 min): every scheduled crawl-new of the next serve would
    be cancelled as "busy" until then. The final state releases the slot at once. One serve per
    Prefect API: a second serve started beside a live one ends the first one's runs. Returns one
    line per run ended."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Crashed

    in_flight = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in IN_FLIGHT_STATES]))
    ended: list[str] = []
    with get_client(sync_client=True) as client:
        for deployment, existing in _registered(client, deployments):
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[existing.id]), state=in_flight
                )
            )
            for run in runs:
                was = run.state.name if run.state else "?"
                message = f"left {was} by a `kazinform serve` that is gone; ended by the next one"
                cancelling = run.state is not None and run.state.type == StateType.CANCELLING
                final = Cancelled(message=message) if cancelling else Crashed(message=message)
                client.set_flow_run_state(run.id, final, force=True)
                ended.append(
                    f"run {run.name} of {deployment.name}, left {was} by an earlier serve: now {final.name}"
                )
    return ended


def schedule_lines(plans: list[DeploymentPlan]) -> list[str]:
    """One line per deployment: its name and when it runs."""
    width = max((len(plan.name) for plan in plans), default=0)
    return [f"  {plan.name.ljust(width)}  {plan.describe()}" for plan in plans]
