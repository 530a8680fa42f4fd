"""Prefect flow `change-report`: what changed in articles, as a markdown artifact and HTML pages.

Started by `kazinform.article.changed` events through `change_report_trigger`, or by hand. A run
reports the change its event names AND every other change not yet reported, newest first, at most
MAX_CHANGES_PER_RUN (the artifact says how many are left; the next run takes them). "Reported"
means the change's HTML page exists (warehouse.diff.change_reports_dir: `<warehouse folder>/
<warehouse stem>.reports/<source>/<article_id>/v<old>-v<new>.html`, written whole or not at all),
so a run started for a change an earlier run already covered ends at once, saying so. The flow
only reads the warehouse (warehouse.db.open_reader, holding it briefly per chunk of changes).

Several changes arriving together start one run. What Prefect 3.9's trigger evaluation
(prefect/server/events/triggers.py, `evaluate` and `reactive_evaluation`) does with each setting:
- Reactive, threshold 1, `within` 0 (the default): one run per event.
- Reactive, threshold N > 1: a lone event (one edit in a quiet hour) never fires: lost.
- Proactive, `after` = `expect` = the event, threshold 1: a debounce that fires `within` after the
  last event of a burst, but `within` must be ≥ 10 s for a proactive trigger and the proactive
  sweep adds up to 5 s more: every report would start 10–15 s late.
- Reactive, threshold 1, `within` W > 0: the first event fires at once (a lone event too); the
  trigger's next window then starts at that event's `occurred` + W, and every event that occurred
  before it is ignored ("already fired"). One run per burst, but the ignored events may belong to
  batches committed after the run read the warehouse. So the run waits: the trigger passes W as
  `settle_seconds` and the run reads again at (its start + W). That covers every ignored event
  only if an event's `occurred` is not earlier than its batch's commit, and it is not: the events
  carry their emission time (flows.events), which follows the commit (the visit's time is in the
  payload, `visited_at`). An ignored event E2 was emitted, so committed, before E1's `occurred`
  + W ≤ the run's start + W: the second look sees it. Hence a 10 s window
  (CHANGE_REPORT_WINDOW_SECONDS). With a window of 0, every event starts a run; the first run of
  a burst reports the whole burst and the others end at once saying so.
A run that fails (warehouse held by a writer past the reader's wait) leaves its changes
unreported; the next run reports them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from flows.run_guard import report_artifact
from warehouse.db import WarehouseError, WarehouseLockedError, open_reader
from warehouse.diff import (
    ArticleDiff,
    ChangeRef,
    change_exists,
    change_reports_dir,
    is_reported,
    read_article_diff,
    render_html,
    render_markdown,
    report_page_path,
    unreported_changes,
    write_page,
)

CHANGED_EVENT = "kazinform.article.changed"
ARTIFACT_KEY = "change-report"
# Changes one run reports: 200 diffs are a few seconds of work and a ~1 MB artifact at most; a
# first crawl of an old warehouse's backlog is taken 200 a run, newest first.
MAX_CHANGES_PER_RUN = 200
# Changes read per reader connection: a writer waits at most one chunk's reading, not a whole run.
CHANGES_PER_READ = 20
# The trigger's window (module docstring): a burst of events within 10 s is one run. Long enough for
# one flush of a run's events (500 a request); a lone change is reported at once and looked at
# again 10 s later.
CHANGE_REPORT_WINDOW_SECONDS = 10.0


class ChangeReportError(Exception):
    """The run could not read the warehouse; the message says why and what happens next."""


@dataclass(slots=True)
class ChangeReportResult:
    reported: list[str] = field(default_factory=list)  # change labels, in the artifact's order
    pages: list[str] = field(default_factory=list)
    remaining: int = 0  # unreported changes left for the next run
    started_by: str = ""  # what happened to the change the run was started for


def warehouse_label(warehouse_path: str | Path) -> str:
    """The warehouse as events and triggers name it (`kazinform.warehouse`): the absolute path,
    symlinks resolved."""
    return str(Path(warehouse_path).expanduser().resolve())


def change_report_trigger(
    warehouse_path: str, *, within_seconds: float = CHANGE_REPORT_WINDOW_SECONDS
) -> DeploymentEventTrigger:
    """Run `change-report` on `kazinform.article.changed` events of this warehouse (resource label
    `kazinform.warehouse` = this warehouse). With `within_seconds` > 0 the first event of a burst
    starts a run at once and the rest of the burst (within that window) is reported by that run;
    with 0 each event starts a run and the first run reports the burst (module docstring).
    Prefect 3.9 renders a parameter that is one `{{ … }}` expression through `tojson`
    (RunDeployment._upgrade_v1_templates), so `new_version` arrives as the payload's int."""
    label = warehouse_label(warehouse_path)
    return DeploymentEventTrigger(
        name="change-report on kazinform.article.changed",
        description=f"Reports article changes of the warehouse {label}",
        expect={CHANGED_EVENT},
        match={"prefect.resource.id": "kazinform.article.*", "kazinform.warehouse": label},
        posture="Reactive",
        threshold=1,
        within=timedelta(seconds=within_seconds),
        parameters={
            "warehouse_path": label,
            "source": "{{ event.resource['kazinform.source'] }}",
            "article_id": "{{ event.resource['kazinform.article_id'] }}",
            "new_version": "{{ event.payload['new_version'] }}",
            "settle_seconds": within_seconds,
        },
    )


@dataclass(slots=True)
class _Pass:
    diffs: list[tuple[ArticleDiff, Path]] = field(default_factory=list)
    remaining: int = 0
    started_by: str = ""


def _report_pass(warehouse: Path, reports_dir: Path, named: ChangeRef | None, limit: int) -> _Pass:
    """List the unreported changes (the named one first), read and diff them a chunk per reader
    connection, write their pages."""
    done = _Pass()
    with open_reader(warehouse) as conn:
        pending, done.remaining = unreported_changes(conn, reports_dir, limit)
        if named is not None:
            if is_reported(reports_dir, named):
                done.started_by = (
                    f"{named.label()} was already reported ({report_page_path(reports_dir, named)})"
                )
            elif not change_exists(conn, named):
                done.started_by = f"{named.label()} is not in the warehouse"
            else:
                done.started_by = f"{named.label()} is reported below"
                if named not in pending:  # older than the newest `limit`: counted in `remaining`
                    pushed_out = pending[limit - 1 :]
                    pending = [named, *pending[: limit - 1]]
                    done.remaining += len(pushed_out) - 1
    for start in range(0, len(pending), CHANGES_PER_READ):
        chunk = pending[start : start + CHANGES_PER_READ]
        with open_reader(warehouse) as conn:
            diffs = [read_article_diff(conn, change) for change in chunk]
        for diff in diffs:
            if diff is None:  # a version vanished between listing and reading: nothing to show
                continue
            page = report_page_path(reports_dir, diff.change)
            write_page(page, render_html(diff))
            done.diffs.append((diff, page))
    return done


def _artifact_markdown(
    label: str,
    reports_dir: Path,
    diffs: list[tuple[ArticleDiff, Path]],
    result: ChangeReportResult,
    problem: str | None,
) -> tuple[str, str]:
    title = f"Change report: {len(diffs)} change(s) reported" if diffs else "Change report: nothing new"
    lines = [f"# {title}", "", f"Warehouse `{label}`; pages under `{reports_dir}`.", ""]
    if result.started_by:
        lines.append(f"Started for {result.started_by}.")
    if problem:
        lines.append(f"**Stopped:** {problem}")
    if result.remaining:
        lines.append(
            f"{result.remaining} more unreported change(s) left for the next run "
            f"(at most {MAX_CHANGES_PER_RUN} a run, newest first)."
        )
    lines.append("")
    for diff, page in diffs:
        lines += ["---", "", render_markdown(diff, page)]
    return "\n".join(lines) + "\n", title


@flow(name="change-report", log_prints=False)
def change_report(
    warehouse_path: str,
    source: str = "",
    article_id: str = "",
    new_version: int = 0,
    settle_seconds: float = 0.0,
    max_changes: int = MAX_CHANGES_PER_RUN,
) -> ChangeReportResult:
    """Report the named change (source, article_id, new_version; optional) and every other
    unreported change of the warehouse; with `settle_seconds`, look again that long after the start
    for changes whose events the trigger folded into this run."""
    started = time.monotonic()
    logger = get_run_logger()
    warehouse = Path(warehouse_path).expanduser()
    label = warehouse_label(warehouse)
    reports_dir = change_reports_dir(warehouse)
    named = ChangeRef(source, article_id, int(new_version)) if source and article_id and new_version else None
    result = ChangeReportResult()
    diffs: list[tuple[ArticleDiff, Path]] = []
    problem: str | None = None
    try:
        first = _report_pass(warehouse, reports_dir, named, max_changes)
        diffs += first.diffs
        result.started_by, result.remaining = first.started_by, first.remaining
        wait = started + settle_seconds - time.monotonic()
        if wait > 0 and len(diffs) < max_changes:
            logger.info(
                "reported %d change(s); looking again in %.1f s for the rest of the burst", len(diffs), wait
            )
            time.sleep(wait)
            second = _report_pass(warehouse, reports_dir, None, max_changes - len(diffs))
            diffs += second.diffs
            result.remaining = second.remaining
    except WarehouseLockedError as error:
        problem = (
            f"a write to the warehouse is in progress and did not end while we waited ({error}); "
            "the changes not listed here stay unreported and the next change-report run reports them"
        )
    except WarehouseError as error:
        problem = f"cannot read the warehouse: {error}"
    result.reported = [diff.change.label() for diff, _ in diffs]
    result.pages = [str(page) for _, page in diffs]
    for diff, page in diffs:
        logger.info("reported %s: %s", diff.change.label(), page)
    if not diffs and not problem:
        logger.info("nothing new to report%s", f": {result.started_by}" if result.started_by else "")
    if result.remaining:
        logger.info("%d unreported change(s) left for the next run", result.remaining)
    markdown, title = _artifact_markdown(label, reports_dir, diffs, result, problem)
    report_artifact(lambda: create_markdown_artifact(markdown, key=ARTIFACT_KEY, description=title))
    if problem:
        raise ChangeReportError(problem)
    return result
