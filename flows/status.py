"""`kazinform status`: what the pipeline does, from the Prefect API and the warehouse.

- Prefect: the deployments with their schedules and next scheduled runs, the last flow runs (name,
  flow, state, start, duration). Read over the API's REST routes with the standard library: the
  command answers in about a second instead of paying Prefect's import (~3 s) first.
- Warehouse (a read-only connection, waited for briefly): visits per outcome and failures of those
  runs (visits.run_id is the flow run id), events waiting in the outbox, and the counts of
  articles, versions and the last day's visits by outcome. When the API cannot be reached the last
  runs come from the warehouse alone.

Exit status: 0 when every part was read; 1 when a part could not be (the API unreachable, the
warehouse missing or held by a write past the wait): what could be read is printed all the same,
so `kazinform status || alert` notices a server that is down.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Flow runs listed (newest first); failures listed per run.
LAST_RUNS = 10
FAILURES_PER_RUN = 3
# Scheduled runs read to find each deployment's next one (a deployment keeps a few ahead).
SCHEDULED_RUNS_READ = 200
# The API answers a local request in milliseconds; a busy remote one gets this long.
API_TIMEOUT_S = 10.0
# A status is a glance: it waits less than a query (30 s) for a write to finish.
WAREHOUSE_WAIT_S = 10.0
ERROR_OUTCOMES = ("failed", "parse_error")
DAY = timedelta(days=1)


@dataclass(slots=True)
class Deployment:
    name: str
    flow: str
    schedules: list[str]
    paused: bool
    next_run: datetime | None = None


@dataclass(slots=True)
class FlowRun:
    run_id: str
    name: str
    flow: str
    state: str
    started: datetime | None
    duration_s: float | None
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (input, outcome, error)
    from_warehouse: bool = False  # known from its visits alone: no name, flow or state


@dataclass(slots=True)
class WarehouseCounts:
    articles: int
    versions: int
    visits_last_day: dict[str, int]
    outbox: int | None  # None: no outbox table in this warehouse
    outbox_oldest: datetime | None


@dataclass(slots=True)
class Status:
    api_url: str | None
    api_problem: str | None = None
    deployments: list[Deployment] = field(default_factory=list)
    runs: list[FlowRun] = field(default_factory=list)
    warehouse_path: Path | None = None
    warehouse: WarehouseCounts | None = None
    warehouse_problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.api_problem is None and self.warehouse_problem is None


# --- the Prefect API ------------------------------------------------------------------------------


class ApiUnreachable(Exception):
    """The API did not answer, or answered with an error; the message says which."""


def configured_api_url() -> tuple[str | None, str | None]:
    """(the API URL, None), or (None, why there is none): PREFECT_API_URL, else the local server
    kazinform keeps (flows.prefect_api). Status never starts a server."""
    from flows.prefect_api import STATE_FILE_NAME, prefect_home

    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return configured.rstrip("/"), None
    try:
        remembered = json.loads((prefect_home() / STATE_FILE_NAME).read_text()).get("api_url")
    except (OSError, ValueError, AttributeError):
        remembered = None
    if remembered:
        return str(remembered).rstrip("/"), None
    return None, "PREFECT_API_URL is unset and no local server is kept (`kazinform ingest` starts one)"


def _post(api_url: str, route: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{api_url}/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **_auth_header()},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = f"the Prefect API at {api_url} answered {route} with HTTP {error.code}"
        raise ApiUnreachable(message) from error
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ApiUnreachable(f"the Prefect API at {api_url} cannot be reached ({reason})") from error


def _auth_header() -> dict[str, str]:
    key = os.environ.get("PREFECT_API_KEY")  # Prefect Cloud
    return {"Authorization": f"Bearer {key}"} if key else {}


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def describe_schedule(schedule: dict[str, Any]) -> str:
    """`every 15 min`, `cron 0 * * * *`, `rrule …`: the words of a deployment schedule."""
    if schedule.get("interval") is not None:
        return f"every {_duration(float(schedule['interval']))}"
    if schedule.get("cron"):
        zone = schedule.get("timezone")
        return f"cron {schedule['cron']}" + (f" ({zone})" if zone and zone != "UTC" else "")
    if schedule.get("rrule"):
        return f"rrule {schedule['rrule']}"
    return "schedule of an unknown kind"


def read_deployments(api_url: str) -> list[Deployment]:
    deployments = _post(api_url, "deployments/filter", {"sort": "NAME_ASC", "limit": 200})
    flow_names = _flow_names(api_url, {d["flow_id"] for d in deployments})
    found = {
        d["id"]: Deployment(
            name=d["name"],
            flow=flow_names.get(d["flow_id"], "?"),
            schedules=[
                describe_schedule(s["schedule"]) + ("" if s.get("active", True) else " (inactive)")
                for s in d.get("schedules") or []
            ],
            paused=bool(d.get("paused")),
        )
        for d in deployments
    }
    if found:
        scheduled = _post(
            api_url,
            "flow_runs/filter",
            {
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                    "deployment_id": {"any_": list(found)},
                },
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": SCHEDULED_RUNS_READ,
            },
        )
        for run in scheduled:
            deployment = found.get(run.get("deployment_id"))
            if deployment is not None and deployment.next_run is None:
                expected = run.get("expected_start_time") or run.get("next_scheduled_start_time")
                deployment.next_run = _time(expected)
    return list(found.values())


def _flow_names(api_url: str, flow_ids: set[str]) -> dict[str, str]:
    if not flow_ids:
        return {}
    flows = _post(api_url, "flows/filter", {"flows": {"id": {"any_": sorted(flow_ids)}}, "limit": 200})
    return {f["id"]: f["name"] for f in flows}


def read_last_runs(api_url: str, limit: int = LAST_RUNS) -> list[FlowRun]:
    """The flow runs that started, newest first."""
    runs = _post(
        api_url,
        "flow_runs/filter",
        {"flow_runs": {"start_time": {"is_null_": False}}, "sort": "START_TIME_DESC", "limit": limit},
    )
    flow_names = _flow_names(api_url, {r["flow_id"] for r in runs})
    now = datetime.now(UTC)
    found = []
    for run in runs:
        started, ended = _time(run.get("start_time")), _time(run.get("end_time"))
        duration = ((ended or now) - started).total_seconds() if started else None
        state = (run.get("state") or {}).get("name") or run.get("state_type") or "?"
        flow = flow_names.get(run["flow_id"], "?")
        found.append(FlowRun(run["id"], run["name"], flow, state, started, duration))
    return found


def read_prefect(status: Status) -> None:
    from flows.prefect_api import api_answers

    if status.api_url is None:
        return
    if not api_answers(status.api_url, timeout=2.0):
        status.api_problem = f"the Prefect API at {status.api_url} does not answer"
        return
    try:
        status.deployments = read_deployments(status.api_url)
        status.runs = read_last_runs(status.api_url)
    except ApiUnreachable as error:
        status.api_problem = str(error)


# --- the warehouse ------------------------------------------------------------------------------


def read_warehouse(status: Status, path: Path) -> None:
    """Counts, the outbox, and each listed run's outcomes and failures; read-only, waited briefly."""
    from warehouse.db import WarehouseError, open_reader

    status.warehouse_path = path
    try:
        with open_reader(path, timeout=WAREHOUSE_WAIT_S) as connection:
            status.warehouse = _counts(connection)
            if not status.runs:  # no API: the last runs the warehouse saw
                status.runs = _runs_in_warehouse(connection)
            _add_outcomes(connection, status.runs)
    except WarehouseError as error:
        status.warehouse_problem = str(error).split("; ")[0]


def _counts(connection: Any) -> WarehouseCounts:
    articles = connection.execute("SELECT count(*) FROM article_state").fetchone()[0]
    versions = connection.execute("SELECT count(*) FROM article_versions").fetchone()[0]
    since = datetime.now(UTC) - DAY
    last_day = dict(
        connection.execute(
            "SELECT outcome, count(*) FROM visits WHERE visited_at >= ? GROUP BY outcome ORDER BY 2 DESC, 1",
            [since],
        ).fetchall()
    )
    has_outbox = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'event_outbox'"
    ).fetchone()[0]
    outbox, oldest = None, None
    if has_outbox:
        outbox, oldest = connection.execute("SELECT count(*), min(written_at) FROM event_outbox").fetchone()
    return WarehouseCounts(articles, versions, last_day, outbox, oldest)


def _runs_in_warehouse(connection: Any, limit: int = LAST_RUNS) -> list[FlowRun]:
    rows = connection.execute(
        "SELECT run_id, min(visited_at), max(visited_at) FROM visits GROUP BY run_id "
        "ORDER BY max(visited_at) DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [
        FlowRun(run_id, run_id, "", "", first, (last - first).total_seconds(), from_warehouse=True)
        for run_id, first, last in rows
    ]


def _add_outcomes(connection: Any, runs: Sequence[FlowRun]) -> None:
    by_id = {run.run_id: run for run in runs}
    if not by_id:
        return
    ids = list(by_id)
    for run_id, outcome, count in connection.execute(
        "SELECT run_id, outcome, count(*) FROM visits WHERE run_id IN (SELECT unnest(?)) "
        "GROUP BY ALL ORDER BY 3 DESC, 2",
        [ids],
    ).fetchall():
        by_id[run_id].outcomes[outcome] = count
    for run_id, where, outcome, error in connection.execute(
        "SELECT run_id, coalesce(url, path, requested_url, '?'), outcome, coalesce(error, '') FROM visits "
        "WHERE run_id IN (SELECT unnest(?)) AND outcome IN (SELECT unnest(?)) "
        "QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY visited_at DESC, visit_id DESC) <= ? "
        "ORDER BY run_id, visited_at DESC",
        [ids, list(ERROR_OUTCOMES), FAILURES_PER_RUN],
    ).fetchall():
        by_id[run_id].failures.append((where, outcome, error))


def gather_status(warehouse_path: Path) -> Status:
    api_url, why_none = configured_api_url()
    status = Status(api_url=api_url, api_problem=why_none)
    read_prefect(status)
    read_warehouse(status, warehouse_path)
    return status


# --- rendering ------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        minutes = seconds / 60
        return f"{minutes:.0f} min" if minutes == int(minutes) else f"{minutes:.1f} min"
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours == int(hours) else f"{hours:.1f} h"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{outcome} {count:,}" for outcome, count in counts.items()) or "none"


def render_status(status: Status) -> str:
    lines: list[str] = []
    if status.api_url and not status.api_problem:
        lines.append(f"Prefect API: {status.api_url}")
    else:
        lines.append(f"Prefect API: unreachable — {status.api_problem}")
    if not status.api_problem:
        lines.append("")
        if not status.deployments:
            lines.append("deployments: none (`kazinform serve` serves them)")
        else:
            lines.append(f"deployments ({len(status.deployments)}):")
            width = max(len(d.name) for d in status.deployments)
            for d in status.deployments:
                when = "; ".join(d.schedules) or "no schedule (started by events or by hand)"
                nxt = f"next run {_when(d.next_run)}" if d.next_run else "no run scheduled"
                paused = " [paused]" if d.paused else ""
                lines.append(f"  {d.name.ljust(width)}  {d.flow}: {when}; {nxt}{paused}")
    lines.append("")
    source = "" if not status.api_problem else " from the warehouse (names and states need the API)"
    if not status.runs:
        lines.append("last runs: none")
    else:
        lines.append(f"last runs ({len(status.runs)}, newest first){source}:")
        for run in status.runs:
            took = _duration(run.duration_s) if run.duration_s is not None else "—"
            if run.from_warehouse:
                lines.append(f"  run {run.run_id}  first visit {_when(run.started)}, visits over {took}")
            else:
                started = _when(run.started)
                lines.append(f"  {run.name}  {run.flow}  {run.state}  started {started}  took {took}")
            if run.outcomes:
                lines.append(f"      visits: {_counts_text(run.outcomes)}")
            for where, outcome, error in run.failures:
                reason = error.splitlines()[0] if error else "no reason recorded"
                lines.append(f"      {outcome}: {where} — {reason}")
    lines.append("")
    if status.warehouse is None:
        lines.append(f"warehouse {status.warehouse_path}: not read — {status.warehouse_problem}")
        return "\n".join(lines)
    counts = status.warehouse
    if counts.outbox is None or counts.outbox == 0:
        lines.append("outbox: none")
    else:
        oldest = _when(counts.outbox_oldest)
        lines.append(f"outbox: {counts.outbox:,} events waiting (oldest written {oldest})")
    lines.append(
        f"warehouse {status.warehouse_path}: {counts.articles:,} articles, {counts.versions:,} versions; "
        f"visits in the last day: {_counts_text(counts.visits_last_day)}"
    )
    return "\n".join(lines)
