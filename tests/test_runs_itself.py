"""The pipeline runs itself, end to end: `kazinform serve` against the session's Prefect server and
the replica over HTTP. Nobody starts the downstream runs: a scheduled crawl loads the site, an edit
found by a person's crawl becomes a `changed` event and a `change-report` run with its diff page,
and a file dropped in the inbox is announced by the scheduled scan and ingested by its event."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

from test_serve import (
    KAZINFORM,
    REGISTERED_WITHIN_S,
    RUN_DONE_WITHIN_S,
    child_env,
    deployments_of,
    running,
    runs_of,
    serve_args,
    wait_for,
)
from warehouse.db import open_reader
from warehouse.diff import change_reports_dir

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
# A person's crawl of a 60-article replica with the rate limit lifted: seconds, waits for the
# scheduled runs' writes through the duckdb-writer slot.
PERSON_CRAWL_WITHIN_S = 300.0
# A run's final state goes to the API after its last step (Prefect's client retries with backoff).
STATE_REPORTED_WITHIN_S = 60.0


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Read while the served runs write: wait for a batch in progress, as readers do."""
    with open_reader(warehouse) as connection:
        return connection.execute(sql, params or []).fetchall()


async def _artifact_markdown(flow_run_id: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join(str(a.data) for a in artifacts)


def test_served_deployments_react_to_an_edit_and_a_dropped_file(
    prefect_api: str, replica, tmp_path: Path
) -> None:
    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    inbox = tmp_path / "inbox"
    flags = ["--crawl-every", "0.25", "--crawl-rate", "0", "--revisit-every", "60", "--inbox-every", "0.25"]
    env = child_env(KAZINFORM_BASE_URL=base_url)
    with running(serve_args(warehouse, *flags), tmp_path / "serve.log", env) as serve:
        deployments = wait_for(
            lambda: serve.alive() and len(found := deployments_of(warehouse)) == 6 and found,
            REGISTERED_WITHIN_S,
            "six deployments served",
        )
        served = {"crawl-new", "revisit-due", "ingest-inbox", "change-report", "ingest-file", "load-packages"}
        assert set(deployments) == served

        def completed(name: str) -> Any:
            """A completed run of this serve's deployment `name` for this warehouse."""
            serve.alive()
            runs = runs_of(deployments[name].id, warehouse)
            return next((r for r in runs if r.state and r.state.is_completed()), None)

        wait_for(lambda: completed("crawl-new"), RUN_DONE_WITHIN_S, f"a scheduled crawl ({serve.log})")

        # An editor changes one article; a person's crawl finds it while the schedules go on.
        (article_id,) = query(
            warehouse,
            "select article_id from articles where source = 'kazinform' order by article_id limit 1",
        )[0]
        site.edit(article_id, title="Заголовок исправлен редактором", tags=["Правка", "Астана"])
        person = subprocess.run(
            [
                KAZINFORM,
                "crawl",
                "kazinform",
                "--warehouse",
                str(warehouse),
                "--revisit",
                "all",
                "--rate",
                "0",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=PERSON_CRAWL_WITHIN_S,
        )
        assert person.returncode == 0, person.stderr[-3000:]
        assert "lock" not in person.stderr.lower()
        last_visit = "select outcome from visits where article_id = ? order by visit_id desc limit 1"
        assert query(warehouse, last_visit, [article_id]) == [("changed",)]

        # The change report follows from the event alone.
        page_dir = change_reports_dir(warehouse) / "kazinform" / article_id
        report = wait_for(
            lambda: serve.alive() and completed("change-report") and list(page_dir.glob("v1-v2.html")),
            RUN_DONE_WITHIN_S,
            f"a change-report run and its page ({serve.log})",
        )
        page = report[0].read_text(encoding="utf-8")
        assert "исправлен" in page and "Правка" in page
        run = completed("change-report")
        assert not run.auto_scheduled and run.parameters["article_id"] == article_id
        assert "исправлен" in asyncio.run(_artifact_markdown(run.id))

        # A text copy dropped in the inbox: the scheduled scan announces it, its event ingests it.
        inbox.mkdir(exist_ok=True)
        (inbox / "dropped_1234567.part").write_bytes(SEED.read_bytes())
        (inbox / "dropped_1234567.part").rename(inbox / "dropped_1234567.txt")
        wait_for(
            lambda: serve.alive() and (inbox / "done" / "dropped_1234567.txt").exists(),
            RUN_DONE_WITHIN_S,
            f"the dropped file ingested and moved to done/ ({serve.log})",
        )
        # The file is moved inside the run; the run's Completed state reaches the API just after.
        wait_for(lambda: completed("ingest-file"), STATE_REPORTED_WITHIN_S, "the ingest-file run completed")
        dropped = "select count(*) from visits where path like '%dropped_1234567.txt'"
        assert query(warehouse, dropped)[0][0] >= 1
        status, _ = serve.interrupt(signal.SIGINT)
    assert status == 0, serve.output()[-3000:]
