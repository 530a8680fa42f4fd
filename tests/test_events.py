"""Prefect events from the warehouse's outbox: a real Prefect server, the replica over HTTP, real
DuckDB files, `kazinform` run as a subprocess where the API goes away."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.crawl import CrawlSummary, crawl_sources
from flows.events import flush_outbox, warehouse_label
from replica import ReplicaSite
from test_crawl_flow import FAST_FETCH
from test_prefect_outage import OwnServer, wait_for_running_run
from test_prefect_outage import own_server as own_server  # a fixture
from test_warehouse_support import T0, make_record, parsed
from warehouse import outbox
from warehouse.db import open_writer
from warehouse.load import PackageRecord, load_batch

KAZINFORM = str(Path(sys.executable).with_name("kazinform"))
# Events reach the server's store a few seconds after it accepted them (its persister batches).
EVENTS_ARRIVE_WITHIN_S = 60.0


def server_events(label: str, prefix: str) -> list[Any]:
    """Every event on the session's server with `kazinform.warehouse` = label and a name under `prefix`."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.events import ResourceSpecification

    wanted = EventFilter(
        event=EventNameFilter(prefix=[prefix]),
        resource=EventResourceFilter(labels=ResourceSpecification({"kazinform.warehouse": label})),
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=wanted, limit=50)
        found = list(page.events)
        while page.next_page is not None:
            page = client.read_events_page(str(page.next_page))
            found += page.events
    # Pages are offsets into a list that grows while it is read: an event that arrives between two
    # pages shifts the rest, and one event can then come on two pages (and the wait stop early).
    return list({event.id: event for event in found}.values())


def wait_for_events(label: str, prefix: str, count: int) -> list[Any]:
    deadline = time.monotonic() + EVENTS_ARRIVE_WITHIN_S
    while True:
        found = server_events(label, prefix)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def outbox_size(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute("select count(*) from event_outbox").fetchone()[0]


def crawl(warehouse: Path) -> CrawlSummary:
    return asyncio.run(
        crawl_sources(["kazinform"], str(warehouse), revisit="all", max_pages=10, fetch_settings=FAST_FETCH)
    )


def article_events(label: str, count: int) -> Counter[tuple[str, str]]:
    found = wait_for_events(label, "kazinform.article.", count)
    return Counter((event.event, event.resource["kazinform.article_id"]) for event in found)


def table_artifact(api_url: str, run_id: str, key: str) -> dict[str, Any]:
    body = json.dumps({"artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [run_id]}}}).encode()
    request = urllib.request.Request(
        f"{api_url}/artifacts/filter", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        (artifact,) = json.loads(response.read())
    return artifact


def test_a_crawl_that_edits_moves_deletes_and_restores_emits_exactly_those_events(
    prefect_api: str, replica: tuple[ReplicaSite, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, base_url = replica
    monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)
    # one event per new article even in the first crawl's batch of 120 (test_outbox covers the summary)
    monkeypatch.setattr(outbox, "CREATED_EVENTS_PER_BATCH", 1_000)
    warehouse = tmp_path / "events.duckdb"
    label = warehouse_label(warehouse)
    first = crawl(warehouse)
    assert first.counts["created"] == 120, first.to_text()
    assert outbox_size(warehouse) == 0  # emitted, then removed

    created = article_events(label, 120)
    assert set(created) == {("kazinform.article.created", a.article_id) for a in site.live_articles()}
    assert sum(created.values()) == 120

    edited, moved, deleted = (a.article_id for a in site.live_articles("ru")[:3])
    site.edit(edited, title="Заголовок после правки")
    old_url = site.url_of(moved, base_url)
    site.move(moved)
    new_url = site.url_of(moved, base_url)
    site.delete(deleted)
    second = crawl(warehouse)
    assert (second.counts["changed"], second.counts["redirected"], second.counts["gone"]) == (1, 1, 1)
    site.restore(deleted)
    third = crawl(warehouse)
    assert outbox_size(warehouse) == 0

    every = article_events(label, 124)
    assert every - created == Counter(
        {
            ("kazinform.article.changed", edited): 1,
            ("kazinform.article.moved", moved): 1,
            ("kazinform.article.deleted", deleted): 1,
            ("kazinform.article.restored", deleted): 1,
        }
    )
    by_name = {
        e.event: e
        for e in server_events(label, "kazinform.article.")
        if e.event != "kazinform.article.created"
    }
    changed = by_name["kazinform.article.changed"]
    # `occurred` is the emission, after the commit; the visit's own time is in the payload
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (visited_at,) = connection.execute(
            "SELECT visited_at FROM visits WHERE run_id = ? AND article_id = ? AND outcome = 'changed'",
            [second.run_id, edited],
        ).fetchone()
    assert datetime.fromisoformat(changed.payload["visited_at"]) == visited_at < changed.occurred
    for event in by_name.values():
        assert datetime.fromisoformat(event.payload.pop("visited_at")) <= event.occurred
    assert changed.payload == {
        "fields": ["title", "updated_at"],
        "old_version": 1,
        "new_version": 2,
        "url": site.url_of(edited, base_url),
    }
    assert changed.resource.id == f"kazinform.article.kazinform.{edited}"
    assert changed.resource["kazinform.source"] == "kazinform"
    assert changed.resource["kazinform.language"] == "ru"
    assert [(r.id, r.role) for r in changed.related] == [(f"prefect.flow-run.{second.run_id}", "flow-run")]
    assert by_name["kazinform.article.moved"].payload == {
        "old_url": old_url,
        "new_url": new_url,
        "old_version": 1,
        "new_version": 2,
        "fields": ["url"],
    }
    assert by_name["kazinform.article.deleted"].payload["version"] == 1
    assert by_name["kazinform.article.restored"].related[0].id == f"prefect.flow-run.{third.run_id}"

    runs = {e.resource.id: e for e in wait_for_events(label, "kazinform.run.completed", 3)}
    assert set(runs) == {f"kazinform.run.{s.run_id}" for s in (first, second, third)}
    second_run = runs[f"kazinform.run.{second.run_id}"]
    assert second_run.payload["counts"] == dict(sorted(second.counts.items()))
    assert second_run.payload["warehouse"] == label
    assert second_run.payload["events_emitted"] == 3

    table = table_artifact(prefect_api, second.run_id, "crawl-articles")
    rows = json.loads(table["data"])
    assert sorted((row["article_id"], row["outcome"], row["version"]) for row in rows) == sorted(
        [(edited, "changed", 2), (moved, "redirected", 2)]
    )
    assert "2." in table["description"]


def test_a_rolled_back_batch_leaves_no_outbox_row_and_emits_nothing(prefect_api: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "rollback.duckdb"
    label = warehouse_label(warehouse)
    with open_writer(warehouse) as connection:
        broken = PackageRecord(package_id=None, staged_at=T0)  # type: ignore[arg-type]
        with pytest.raises(duckdb.Error):  # fails inside the transaction, after the outbox insert
            load_batch(connection, "run-rolled-back", [parsed(make_record("rolled-back"))], package=broken)
    assert outbox_size(warehouse) == 0
    assert flush_outbox(warehouse).emitted == 0

    with open_writer(warehouse) as connection:
        # visited now: the server lists events of the last 180 days
        load_batch(connection, "run-kept", [parsed(make_record("kept"), datetime.now(UTC))])
    result = flush_outbox(warehouse)
    assert (result.emitted, result.remaining, result.error) == (1, 0, None)
    # once the kept batch's event is on the server, the rolled-back one would have been too
    found = wait_for_events(label, "kazinform.article.", 1)
    assert [(e.event, e.resource["kazinform.article_id"]) for e in found] == [
        ("kazinform.article.created", "kept")
    ]


def test_with_the_api_gone_a_crawl_loads_and_keeps_its_events_for_events_flush(
    prefect_api: str, own_server: OwnServer, replica: tuple[ReplicaSite, str], tmp_path: Path
) -> None:
    site, base_url = replica
    warehouse = tmp_path / "outage.duckdb"
    label = warehouse_label(warehouse)
    env = {**os.environ, "PREFECT_API_URL": own_server.api_url, "KAZINFORM_BASE_URL": base_url}
    # 20 requests/s: the crawl of 120 articles lasts several seconds, the server dies early in it
    crawl_command = subprocess.Popen(
        [
            KAZINFORM,
            "crawl",
            "kazinform",
            "--warehouse",
            str(warehouse),
            "--revisit",
            "all",
            "--rate",
            "20",
            "--max-pages",
            "10",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from flows.prefect_api import prefect_home

    wait_for_running_run(own_server.api_url, prefect_home(), crawl_command.pid)
    own_server.kill()
    stdout, stderr = crawl_command.communicate(timeout=300)
    assert crawl_command.returncode == 0, stderr[-3000:]
    assert "could not be reported" in stderr
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("select count(*) from articles").fetchone() == (120,)
    # one event per new article, or per source and language for a batch of more than
    # CREATED_EVENTS_PER_BATCH new articles: kept either way
    kept = outbox_size(warehouse)
    assert kept > 0

    closed = subprocess.run(
        [KAZINFORM, "events", "flush", "--warehouse", str(warehouse)],
        env={**os.environ, "PREFECT_API_URL": own_server.api_url},  # still dead
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert closed.returncode == 1
    assert len(closed.stderr.strip().splitlines()) == 1, closed.stderr
    assert outbox_size(warehouse) == kept

    flushed = subprocess.run(  # the session's live server (PREFECT_API_URL of this process)
        [KAZINFORM, "events", "flush", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert flushed.returncode == 0, flushed.stderr[-3000:]
    assert flushed.stdout.strip() == f"emitted {kept} events; 0 left in the outbox"
    assert outbox_size(warehouse) == 0
    found = wait_for_events(label, "kazinform.article", kept)  # .article.created, .articles.created
    each = [e.resource["kazinform.article_id"] for e in found if e.event == "kazinform.article.created"]
    summarized = sum(e.payload["count"] for e in found if e.event == "kazinform.articles.created")
    assert len(found) == kept and len(each) + summarized == 120
    assert set(each) <= {a.article_id for a in site.live_articles()}
