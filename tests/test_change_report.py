"""The change report: word-level diffs of two versions (warehouse.diff), the `change-report` flow's
artifact and HTML pages, and the served deployment started by real `kazinform.article.changed`
events through its trigger."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.change_report import change_report, warehouse_label
from test_warehouse_support import ARTICLE_ID, URL, later, make_record, parsed
from warehouse.db import open_reader, open_writer
from warehouse.diff import (
    MAX_DIFF_TOKENS,
    ChangeRef,
    change_reports_dir,
    read_article_diff,
    render_markdown,
    report_page_path,
    word_diff,
)
from warehouse.load import load_batch

ROOT = Path(__file__).resolve().parent.parent
OTHER_ID = "9abc0001"  # sorts after ARTICLE_ID: with equal change times, ARTICLE_ID's change is newer
MOVED_URL = f"https://www.inform.kz/ru/gosvizit-tokaeva-v-astanu-{ARTICLE_ID}"
BODY_V1 = "Первый абзац о визите.\n\nВторой абзац о договорённостях."
BODY_V2 = "Первый абзац о государственном визите.\n\nВторой абзац о важных договорённостях."
HOSTILE_LEAD = "<script>alert('x')</script> О чем <b>договорились</b> Президенты & министры."


def build_warehouse(path: Path) -> Path:
    """ARTICLE_ID changed twice (v2: title, body, tags, URL; v3: lead with markup, authors),
    OTHER_ID once (title)."""
    v2 = {"title": "Госвизит Токаева в Астану", "body": BODY_V2, "tags": ["Токаев", "Казахстан", "Визит"]}
    with open_writer(path) as conn:
        load_batch(conn, "r0", [parsed(make_record(body=BODY_V1)), parsed(make_record(OTHER_ID))])
        load_batch(conn, "r1", [parsed(make_record(url=MOVED_URL, **v2), later(60))])
        load_batch(
            conn,
            "r2",
            [
                parsed(
                    make_record(
                        url=MOVED_URL, lead=HOSTILE_LEAD, authors=["Наталья Мосунова", "Иван Петров"], **v2
                    ),
                    later(120),
                ),
                parsed(make_record(OTHER_ID, title="Другой заголовок статьи"), later(120)),
            ],
        )
    return path


# --- warehouse.diff, no Prefect ------------------------------------------------------------------


def test_word_diff_groups_words_into_runs() -> None:
    diff = word_diff("body", "один два три четыре\n\nпять", "один три четыре шесть\n\nпять семь")
    assert [(run.op, " ".join(run.tokens)) for run in diff.runs] == [
        ("equal", "один"),
        ("delete", "два"),
        ("equal", "три четыре"),
        ("insert", "шесть"),
        ("equal", "\n\n пять"),
        ("insert", "семь"),
    ]
    assert diff.words("delete") == ["два"] and diff.words("insert") == ["шесть", "семь"]
    assert not word_diff("title", "same words", "same  words").changed  # spacing is not a change


def test_read_and_render_one_change(tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "w.duckdb")
    with open_reader(warehouse) as conn:
        diff = read_article_diff(conn, ChangeRef("kazinform", ARTICLE_ID, 2))
        assert read_article_diff(conn, ChangeRef("kazinform", ARTICLE_ID, 4)) is None
    assert diff is not None
    assert diff.changed_fields == ("body", "tags", "title", "url")
    title, lead, body = diff.texts
    assert (title.words("delete"), title.words("insert")) == (["Москву"], ["Астану"])
    assert not lead.changed
    assert body.words("insert") == ["государственном", "важных"] and body.words("delete") == []
    tags, authors = diff.lists
    assert (tags.added, tags.removed) == (("Казахстан", "Визит"), ("Россия",))
    assert not authors.changed
    assert (diff.old_url, diff.new_url, diff.moved) == (URL, MOVED_URL, True)

    markdown = render_markdown(diff)
    assert "~~Москву~~ **Астану**" in markdown
    assert "о **государственном** визите." in markdown
    assert "added **Казахстан**, **Визит**; removed ~~Россия~~" in markdown
    assert f"`{URL}` → `{MOVED_URL}`" in markdown


def test_long_texts_are_trimmed_around_changes_and_cut_past_the_cap() -> None:
    words = [f"слово{i}" for i in range(300)]
    edited = words[:150] + ["ВСТАВКА"] + words[150:]
    diff = word_diff("body", " ".join(words), " ".join(edited))
    from warehouse.diff import _md_runs  # the body line of the markdown

    shown = _md_runs(diff)
    assert shown.startswith("… слово138 ") and "**ВСТАВКА**" in shown and shown.endswith(" слово161 …")
    assert "слово100" not in shown and "слово200" not in shown

    huge_old = " ".join(f"w{i}" for i in range(MAX_DIFF_TOKENS * 3))
    huge_new = huge_old.replace("w5 ", "changed ", 1)
    started = time.monotonic()
    big = word_diff("body", huge_old, huge_new)
    print(f"diff of two {MAX_DIFF_TOKENS * 3:,}-word texts: {time.monotonic() - started:.2f} s")
    assert big.cut and big.old_words == MAX_DIFF_TOKENS * 3
    assert sum(len(run.tokens) for run in big.runs if run.op != "insert") == MAX_DIFF_TOKENS
    assert big.words("delete") == ["w5"] and big.words("insert") == ["changed"]


def test_report_pages_stay_inside_their_folder(tmp_path: Path) -> None:
    reports = change_reports_dir(tmp_path / "w.duckdb")
    assert reports == tmp_path.resolve() / "w.reports"
    page = report_page_path(reports, ChangeRef("kazinform", "../../etc x/..", 3))
    assert page.parent.parent.parent == reports
    assert page.name == "v2-v3.html" and page.parent.name == "%2E%2E%2F%2E%2E%2Fetc%20x%2F%2E%2E"


# --- the flow against the real Prefect server ----------------------------------------------------


def run_flow(warehouse: Path, **parameters: Any) -> tuple[Any, str]:
    """Run the flow; return its result and the markdown of its `change-report` artifact."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    state = change_report(str(warehouse), return_state=True, **parameters)
    assert state.is_completed(), state.message
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["change-report"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    assert len(artifacts) == 1, "one artifact per run"
    return state.result(), str(artifacts[0].data)


def test_flow_reports_the_named_change_and_every_unreported_one(prefect_api: str, tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "news.duckdb")
    reports = tmp_path / "news.reports"
    a12, a23, b12 = (
        ChangeRef("kazinform", ARTICLE_ID, 2),
        ChangeRef("kazinform", ARTICLE_ID, 3),
        ChangeRef("kazinform", OTHER_ID, 2),
    )

    # Two a run: the named change (the oldest) first, then the newest; one left for the next run.
    first, markdown = run_flow(
        warehouse, source="kazinform", article_id=ARTICLE_ID, new_version=2, max_changes=2
    )
    assert first.reported == [a12.label(), a23.label()] and first.remaining == 1
    assert "1 more unreported change(s) left for the next run" in markdown
    assert f"{a12.label()} is reported below" in markdown
    assert "~~Москву~~ **Астану**" in markdown  # title, word level
    assert "о **государственном** визите. ¶ Второй абзац о **важных** договорённостях." in markdown
    assert "**tags**: added **Казахстан**, **Визит**; removed ~~Россия~~" in markdown
    assert f"**moved**: `{URL}` → `{MOVED_URL}`" in markdown
    assert "**authors**: added **Иван Петров**; removed —" in markdown
    # v2→v3 lead: markup in the article's text is shown as text, never as markup
    assert (
        "**&lt;script>alert('x')&lt;/script>** О чем ~~договорились Президенты.~~ "
        "**&lt;b>договорились&lt;/b> Президенты &amp; министры.**"
    ) in markdown
    assert "<script>" not in markdown and "<b>" not in markdown

    page = (reports / "kazinform" / ARTICLE_ID / "v1-v2.html").read_text(encoding="utf-8")
    assert "<del>Москву</del> <ins>Астану</ins>" in page
    assert "<ins>государственном</ins>" in page and "<ins>важных</ins>" in page
    assert "added: <ins>Казахстан</ins>, <ins>Визит</ins><br>removed: <del>Россия</del>" in page
    assert f"<del>{URL}</del><br><ins>{MOVED_URL}</ins>" in page
    hostile = (reports / "kazinform" / ARTICLE_ID / "v2-v3.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in hostile
    assert "&lt;b&gt;договорились&lt;/b&gt;" in hostile and "&amp; министры." in hostile
    for text in (page, hostile):  # self-contained: nothing to fetch, nothing to run
        assert "<script" not in text and "<link" not in text and "src=" not in text and "href=" not in text
    assert not list(reports.rglob("*.tmp")), "no temporary page left behind"

    second, markdown = run_flow(warehouse)
    assert second.reported == [b12.label()] and second.remaining == 0
    assert "~~Госвизит Токаева в Москву~~ **Другой заголовок статьи**" in markdown

    # Started again for a change already reported: nothing new, said so, no page rewritten.
    pages = {p: p.stat().st_mtime_ns for p in reports.rglob("*.html")}
    assert len(pages) == 3
    third, markdown = run_flow(warehouse, source="kazinform", article_id=ARTICLE_ID, new_version=3)
    assert third.reported == [] and third.remaining == 0
    assert "Change report: nothing new" in markdown
    assert f"{a23.label()} was already reported" in markdown
    assert {p: p.stat().st_mtime_ns for p in reports.rglob("*.html")} == pages


def test_a_settling_run_reports_changes_committed_while_it_waits(prefect_api: str, tmp_path: Path) -> None:
    """The trigger folds the events of a burst into the first one's run and passes its window as
    `settle_seconds`: a change committed after the run's first look is reported by its second."""
    import contextvars
    import threading

    warehouse = build_warehouse(tmp_path / "settle.duckdb")
    reports = change_reports_dir(warehouse)
    outcome: dict[str, Any] = {}
    # the thread runs in a copy of this context: it holds the test server's Prefect settings
    context = contextvars.copy_context()
    runner = threading.Thread(
        target=context.run,
        args=(lambda: outcome.update(result=change_report(str(warehouse), settle_seconds=8)),),
    )
    runner.start()
    deadline = time.monotonic() + 60
    while len(list(reports.rglob("*.html"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(reports.rglob("*.html"))) == 3, "the first look reported the three changes"
    with open_writer(warehouse) as conn:  # a straggler of the burst commits while the run waits
        load_batch(conn, "r3", [parsed(make_record(OTHER_ID, title="Третий заголовок"), later(180))])
    runner.join(60)
    straggler = ChangeRef("kazinform", OTHER_ID, 3)
    assert outcome["result"].reported[-1] == straggler.label()
    assert len(outcome["result"].reported) == 4
    assert report_page_path(reports, straggler).exists()


def test_flow_says_plainly_when_the_warehouse_is_missing(prefect_api: str, tmp_path: Path) -> None:
    state = change_report(str(tmp_path / "none.duckdb"), return_state=True)
    assert state.is_failed()
    assert "cannot read the warehouse: no warehouse at" in str(state.message)


# --- the served deployment and its trigger -------------------------------------------------------

# How long the automation test waits for a triggered run to finish: generous for a loaded 2-core
# machine (measured: runs start within ~2–4 s of their event).
RUN_WAIT_SECONDS = 60.0
# The served trigger's window in the test: short, so the burst and the lone events fit in a minute.
TEST_WINDOW_SECONDS = 3.0


@pytest.fixture
def served(prefect_api: str, tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """A warehouse and the change-report deployment served for it in a child process; yields
    (warehouse, deployment)."""
    from prefect.client.orchestration import get_client

    warehouse = build_warehouse(tmp_path / "served.duckdb")
    name = f"change-report-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "serve_change_report.py"), str(warehouse), name,
         str(TEST_WINDOW_SECONDS)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        deployment = None
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    deployment = client.read_deployment_by_name(f"change-report/{name}")
                    if client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"):
                        break
                except Exception:  # not registered yet
                    pass
                time.sleep(0.5)
        assert server.poll() is None and deployment is not None, (tmp_path / "serve.log").read_text()[-3000:]
        # The server loads a new automation at once and reconciles every 5 s: wait one round.
        time.sleep(6)
        yield warehouse, deployment
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the serve process and its run processes
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def emit_changed(warehouse: str, article_id: str, new_version: int) -> Any:
    from prefect.events import emit_event

    event = emit_event(
        "kazinform.article.changed",
        resource={
            "prefect.resource.id": f"kazinform.article.kazinform.{article_id}",
            "kazinform.source": "kazinform",
            "kazinform.language": "ru",
            "kazinform.article_id": article_id,
            "kazinform.warehouse": warehouse,
        },
        payload={
            "fields": ["title"],
            "old_version": new_version - 1,
            "new_version": new_version,
            "url": "https://www.inform.kz/ru/x",
        },
    )
    assert event is not None
    return event


def deployment_runs(deployment_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def wait_for_runs(deployment_id: Any, count: int, *, finished: bool) -> list[Any]:
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        runs = deployment_runs(deployment_id)
        done = [r for r in runs if r.state is not None and (r.state.is_final() if finished else r.start_time)]
        if len(done) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_changed_events_start_one_change_report_run(served: tuple[Path, Any]) -> None:
    warehouse, deployment = served
    label = warehouse_label(warehouse)
    reports = change_reports_dir(warehouse)

    # Three changes arrive together: one run reports them all.
    burst = [
        emit_changed(label, ARTICLE_ID, 2),
        emit_changed(label, ARTICLE_ID, 3),
        emit_changed(label, OTHER_ID, 2),
    ]
    [run] = wait_for_runs(deployment.id, 1, finished=True)
    assert run.state.is_completed(), run.state
    assert run.parameters["warehouse_path"] == label
    # The server may evaluate the burst's events in any order: the run is named after one of them,
    # the version arriving as the payload's int.
    named = (run.parameters["source"], run.parameters["article_id"], run.parameters["new_version"])
    assert named in {("kazinform", ARTICLE_ID, 2), ("kazinform", ARTICLE_ID, 3), ("kazinform", OTHER_ID, 2)}
    for change in (ChangeRef("kazinform", ARTICLE_ID, 2), ChangeRef("kazinform", ARTICLE_ID, 3),
                   ChangeRef("kazinform", OTHER_ID, 2)):  # fmt: skip
        assert report_page_path(reports, change).exists(), change
    time.sleep(TEST_WINDOW_SECONDS + 3)  # the burst's other events had their chance to start runs
    assert len(deployment_runs(deployment.id)) == 1
    first_event = min(event.occurred for event in burst)
    latencies = [(run.start_time - first_event).total_seconds()]
    created = [(run.created - first_event).total_seconds()]

    # Another warehouse's event starts nothing; lone events each start a run that ends at once
    # ("already reported"), measured from emission to the run's start.
    emit_changed("/elsewhere/other.duckdb", ARTICLE_ID, 3)
    for new_version in (2, 3):
        event = emit_changed(label, ARTICLE_ID, new_version)
        runs = wait_for_runs(deployment.id, len(latencies) + 1, finished=True)
        started = [r for r in runs if r.start_time and r.start_time >= event.occurred]
        assert len(started) == 1, [(r.name, r.state) for r in runs]
        assert started[0].state.is_completed() and started[0].parameters["new_version"] == new_version
        latencies.append((started[0].start_time - event.occurred).total_seconds())
        created.append((started[0].created - event.occurred).total_seconds())
        time.sleep(TEST_WINDOW_SECONDS + 1)  # past the trigger's window
    assert len(deployment_runs(deployment.id)) == 3
    print(
        f"event → change-report run start over {len(latencies)} events: "
        f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s; "
        f"event → run created by the automation: median {statistics.median(created):.2f} s, "
        f"max {max(created):.2f} s"
    )
    assert max(latencies) < RUN_WAIT_SECONDS


def test_the_default_trigger_folds_a_burst_of_its_warehouse_into_one_run(tmp_path: Path) -> None:
    from flows.change_report import change_report_trigger

    trigger = change_report_trigger(str(tmp_path / "w.duckdb"))
    label = str((tmp_path / "w.duckdb").resolve())
    assert trigger.expect == {"kazinform.article.changed"} and trigger.threshold == 1
    assert trigger.within.total_seconds() == 10 and trigger.posture == "Reactive"
    assert trigger.match.model_dump()["kazinform.warehouse"] == label
    assert trigger.parameters == {
        "warehouse_path": label,
        "source": "{{ event.resource['kazinform.source'] }}",
        "article_id": "{{ event.resource['kazinform.article_id'] }}",
        "new_version": "{{ event.payload['new_version'] }}",
        "settle_seconds": 10.0,
    }
