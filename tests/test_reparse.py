"""`kazinform reparse`: stored raw pages read again by today's parsers become `reparse` versions,
never edits; unchanged output writes nothing; a page that no longer parses keeps its version.

The warehouse is set up as an older parser left it: real fixture pages stored with the records an
older rule made of them (the site's name left in the headline, the time read an hour off, under
an old parser's name). Today's parser reads the same bytes correctly, so the re-parse has real
differences to find.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import stage_and_load
from flows.reparse import ReparseFilter, read_candidates, reparse_pages, reparse_stored
from parsers.api import parse_bytes
from parsers.record import ArticleRecord
from test_warehouse_migrations import make_release_1_warehouse
from test_warehouse_support import T0, make_record, parsed, rows
from warehouse.db import open_reader, open_writer
from warehouse.diff import unreported_changes
from warehouse.history import article_history, render_history
from warehouse.integrity import integrity_violations
from warehouse.load import load_batch
from warehouse.migrate import apply_migrations
from warehouse.visit import VisitInput

FIXTURES = Path(__file__).parent / "fixtures" / "kazinform"
OLD_PARSER = "kazinform@2019.1"  # a layout version no longer in the code
# (fixture, parser the older rule is recorded under, when it was loaded)
OLDER_RULE_PAGES = (
    ("gen_a_ru", OLD_PARSER, T0),
    ("gen_b_ru", OLD_PARSER, T0),
    ("gen_a_en", "kazinform@2023.1", T0 + timedelta(days=10)),
)
SAME_PAGE = "gen_b_kz"  # stored as today's parser reads it: nothing to re-parse
GONE_URL = "https://www.inform.kz/ru/material-deadbeef"
# A page an older parser took for an article and today's refuses (no article signal).
MAINTENANCE_PAGE = (
    b"<html><head><title>Technical works</title></head><body><p>Site unavailable</p></body></html>"
)
SINCE_SECOND_LOAD = "2025-11-20"
STATE_COLUMNS = (
    "article_id, last_seen_at, last_visited_at, last_changed_at, revisit_interval, next_visit_at, deleted"
)


def page(name: str) -> tuple[str, bytes]:
    url = json.loads((FIXTURES / f"{name}.meta.json").read_text(encoding="utf-8"))["url"]
    return url, (FIXTURES / f"{name}.html").read_bytes()


def today(name: str) -> ArticleRecord:
    url, raw = page(name)
    return parse_bytes(raw, locator=url, url=url)


def older_rule(record: ArticleRecord, parser: str) -> ArticleRecord:
    """What an older parser made of the page: the site's name in the headline, the time an hour off."""
    assert record.published_at is not None
    return replace(
        record,
        title=f"{record.title} | Kazinform",
        published_at=record.published_at + timedelta(hours=1),
        parser=parser,
        content_hash="",
    )


def stored_visits() -> list[VisitInput]:
    visits = []
    for name, parser, at in OLDER_RULE_PAGES:
        url, raw = page(name)
        visits.append(parsed(older_rule(today(name), parser), at, raw=raw, locator=url))
    url, raw = page(SAME_PAGE)
    visits.append(parsed(today(SAME_PAGE), T0, raw=raw, locator=url))
    broken = replace(make_record("deadbeef"), url=GONE_URL, parser=OLD_PARSER, content_hash="")
    visits.append(parsed(broken, T0, raw=MAINTENANCE_PAGE, locator=GONE_URL))
    return visits


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with open_writer(path) as conn:
        outcomes = load_batch(conn, "older-parser-run", stored_visits()).outcomes
    assert outcomes == ["created"] * 5
    return path


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with open_reader(path) as conn:
        return rows(conn, sql, params)


def snapshot(path: Path) -> dict[str, object]:
    """Everything a re-parse that finds nothing must leave as it was."""
    with open_reader(path) as conn:
        return {
            table: rows(conn, f"select * from {table} order by all")
            for table in (
                "visits",
                "article_versions",
                "article_field_changes",
                "article_state",
                "event_outbox",
            )
        }


def test_differences_become_reparse_versions_not_edits(warehouse: Path) -> None:
    state_before = query(warehouse, f"select {STATE_COLUMNS} from article_state order by article_id")
    outbox_before = query(warehouse, "select count(*) from event_outbox")

    summary = reparse_stored(warehouse, run_id="reparse-1")

    assert (summary.pages, summary.new_versions, summary.unchanged, summary.superseded) == (5, 3, 1, 0)
    assert [(loc, "no article" in why) for loc, why in summary.failures] == [(GONE_URL, True)]
    changed_ids = sorted(today(name).article_id for name, _, _ in OLDER_RULE_PAGES)
    assert query(
        warehouse, "select article_id, version, field, cause, flipflop from article_changes order by all"
    ) == [(a, 2, f, "reparse", False) for a in changed_ids for f in ("published_at", "title")]
    # today's record is current, the older one kept and closed; no edit counted
    for name, parser, _ in OLDER_RULE_PAGES:
        record = today(name)
        assert query(
            warehouse,
            "select title, published_at, parser, versions, edits from articles where article_id = ?",
            [record.article_id],
        ) == [(record.title, record.published_at, record.parser, 2, 0)]
        assert query(
            warehouse,
            "select version, title, parser, valid_to is not null from article_versions where article_id = ? "
            "order by version",
            [record.article_id],
        ) == [(1, f"{record.title} | Kazinform", parser, True), (2, record.title, record.parser, False)]
    # each new version's visit is the re-parse: this run, the raw page the first version was made from
    assert query(
        warehouse,
        """select v2.article_id, x2.outcome, x2.run_id, x2.raw_sha256 = x1.raw_sha256
           from article_versions v2 join visits x2 on x2.visit_id = v2.visit_id
           join article_versions v1 on v1.article_id = v2.article_id and v1.version = 1
           join visits x1 on x1.visit_id = v1.visit_id
           where v2.version = 2 order by 1""",
    ) == [(a, "reparsed", "reparse-1", True) for a in changed_ids]
    # not a visit of the site: schedule, seen/visited/changed times and deleted flags as they were
    assert query(warehouse, f"select {STATE_COLUMNS} from article_state order by article_id") == state_before
    # no event: nothing starts a change report
    assert query(warehouse, "select count(*) from event_outbox") == outbox_before
    # the page that no longer parses: its version stays, no visit, never a deletion
    assert query(warehouse, "select versions, deleted from articles where article_id = 'deadbeef'") == [
        (1, False)
    ]
    assert query(warehouse, "select count(*) from visits where outcome <> 'created'") == [(3,)]
    with open_reader(warehouse) as conn:
        assert integrity_violations(conn) == {}
        history = article_history(conn, changed_ids[0])
    assert history is not None
    assert [v.reparsed for v in history.versions] == [False, True]
    text = render_history(history)
    assert "re-parse of the stored page" in text
    assert text.count("[re-parse]") == 2


def test_a_second_reparse_writes_nothing(warehouse: Path) -> None:
    reparse_stored(warehouse)
    before = snapshot(warehouse)
    summary = reparse_stored(warehouse)
    assert (summary.pages, summary.new_versions, summary.unchanged, len(summary.failures)) == (5, 0, 4, 1)
    assert snapshot(warehouse) == before


def test_a_visit_after_the_reparse_finds_no_change_and_a_real_edit_is_an_edit(warehouse: Path) -> None:
    reparse_stored(warehouse)
    name = OLDER_RULE_PAGES[0][0]
    url, raw = page(name)
    record = today(name)
    edited = replace(record, body=record.body + "\n\nДобавленный абзац.", content_hash="")
    with open_writer(warehouse) as conn:
        # without the re-parse this visit of the same page would have been an edit of title and time
        assert load_batch(
            conn, "crawl", [parsed(record, T0 + timedelta(days=30), raw=raw, locator=url)]
        ).outcomes == ["unchanged"]
        assert load_batch(
            conn, "crawl", [parsed(edited, T0 + timedelta(days=31), raw=raw + b" ", locator=url)]
        ).outcomes == ["changed"]
    assert query(
        warehouse,
        "select version, field, cause from article_changes where article_id = ? order by all",
        [record.article_id],
    ) == [(2, "published_at", "reparse"), (2, "title", "reparse"), (3, "body", "edit")]
    assert query(
        warehouse, "select versions, edits from articles where article_id = ?", [record.article_id]
    ) == [(3, 1)]
    assert query(
        warehouse,
        "select event, payload->>'old_version' from event_outbox where event = 'kazinform.article.changed'",
    ) == [("kazinform.article.changed", "2")]
    # The change report lists the editorial edit only, not the re-parse before it.
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        listed, more = unreported_changes(conn, warehouse.parent / "reports", limit=100)
    assert [(c.article_id, c.new_version) for c in listed] == [(record.article_id, 3)] and more == 0


@pytest.mark.parametrize(
    ("filters", "expected_pages"),
    [
        ({"source": "kazinform"}, 5),
        ({"source": "tengrinews"}, 0),
        ({"parser_version": OLD_PARSER}, 3),  # exact: gen_a_ru, gen_b_ru and the broken page
        ({"parser_version": "kazinform@2023.1"}, 2),  # gen_a_en's older rule and gen_b_kz as read today
        ({"parser_version": "kazinform"}, 5),  # no '@': the whole family
        ({"parser_version": "kazinform@1999.1"}, 0),
        ({"since": SINCE_SECOND_LOAD}, 1),  # gen_a_en alone was loaded after it
        ({"parser_version": "kazinform", "since": datetime(2025, 11, 20, tzinfo=UTC)}, 1),
    ],
)
def test_filters(warehouse: Path, filters: dict[str, object], expected_pages: int) -> None:
    summary = reparse_stored(warehouse, batch_size=2, **filters)  # type: ignore[arg-type]
    assert summary.pages == expected_pages
    made = query(warehouse, "select count(*) from visits where outcome = 'reparsed'")[0][0]
    assert made == summary.new_versions


def test_batches_cover_every_article_once(warehouse: Path) -> None:
    keys = []
    after = ("", "")
    while pages := read_candidates(warehouse, ReparseFilter(), after, 2):
        keys += [(p.source, p.article_id) for p in pages]
        after = keys[-1]
    assert len(keys) == 5 and len(set(keys)) == 5 and keys == sorted(keys)


def test_a_visit_between_read_and_load_wins(warehouse: Path) -> None:
    """A re-parse applies only to the version made from the page it read: a crawl that made a newer
    version meanwhile is kept, and the re-parse leaves nothing."""
    import logging

    pages = read_candidates(warehouse, ReparseFilter(parser_version=OLD_PARSER), ("", ""), 10)
    reparsed = reparse_pages(pages, frozenset())
    assert len(reparsed.changed) == 2
    name = OLDER_RULE_PAGES[0][0]
    url, raw = page(name)
    newer = replace(today(name), title="Заголовок, изменённый редакцией", content_hash="")
    with open_writer(warehouse) as conn:
        load_batch(
            conn, "crawl", [parsed(newer, T0 + timedelta(days=40), raw=raw + b"<!-- edited -->", locator=url)]
        )
    report = stage_and_load(warehouse, "reparse", reparsed.changed, logging.getLogger("test"), gated=False)
    assert sorted(report.outcomes) == ["reparsed", "superseded"]
    assert query(
        warehouse, "select title, versions, edits from articles where article_id = ?", [newer.article_id]
    ) == [(newer.title, 2, 1)]
    with open_reader(warehouse) as conn:
        assert integrity_violations(conn) == {}


def test_a_deleted_article_stays_deleted(warehouse: Path) -> None:
    name = OLDER_RULE_PAGES[1][0]
    url, _ = page(name)
    article_id = today(name).article_id
    gone = VisitInput(
        "kazinform", url, T0 + timedelta(days=2), "gone", article_id=article_id, http_status=404
    )
    with open_writer(warehouse) as conn:
        assert load_batch(conn, "crawl", [gone]).outcomes == ["gone"]
    reparse_stored(warehouse, parser_version=OLD_PARSER)
    assert query(
        warehouse, "select versions, deleted, edits from articles where article_id = ?", [article_id]
    ) == [(2, True, 0)]
    assert query(
        warehouse, "select field, cause from article_changes where article_id = ? order by all", [article_id]
    ) == [("deleted", "edit"), ("published_at", "reparse"), ("title", "reparse")]


def test_changes_from_before_migration_8_are_edits(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    make_release_1_warehouse(path)
    with duckdb.connect(str(path)) as conn:
        apply_migrations(conn, up_to=7)
    with open_reader(path) as conn:  # a reader does not upgrade: history reads its changes as edits
        history = article_history(conn, "old1")
    assert history is not None and [c.cause for c in history.versions[1].changes] == ["edit"]
    with open_writer(path) as conn:
        assert rows(conn, "select field, cause, flipflop from article_changes") == [("title", "edit", False)]
        assert rows(conn, "select edits from articles") == [(1,)]


# --- the command, as a person runs it ---------------------------------------------------------

# Runs flows.cli.main with the reparse command registered (flows.cli lists it in COMMAND_MODULES).
CLI = """
import sys
import flows.cli as cli
if "flows.reparse_cli" not in cli.COMMAND_MODULES:
    cli.COMMAND_MODULES = (*cli.COMMAND_MODULES, "flows.reparse_cli")
raise SystemExit(cli.main(sys.argv[1:]))
"""


def kazinform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


def test_the_reparse_command(prefect_api: str, warehouse: Path) -> None:
    result = kazinform("reparse", "--warehouse", str(warehouse), "--parser-version", "kazinform")
    assert result.returncode == 1, result.stderr  # a stored page no longer parses
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["pages", "re-parsed", "5"] in lines
    assert ["new", "versions", "3"] in lines
    assert ["unchanged", "1"] in lines
    assert ["failures", "1"] in lines
    assert GONE_URL in result.stdout
    run_ids = query(warehouse, "select distinct run_id from visits where outcome = 'reparsed'")
    assert len(run_ids) == 1 and run_ids[0][0] in result.stdout  # the Prefect flow run's id
    assert query(warehouse, "select count(*) from article_changes where cause = 'reparse'") == [(6,)]
    assert query(warehouse, "select sum(edits) from articles") == [(0,)]

    history = subprocess.run(
        [
            str(Path(sys.executable).with_name("kazinform")),
            "history",
            today("gen_a_ru").article_id,
            "--warehouse",
            str(warehouse),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert history.returncode == 0, history.stderr
    assert "re-parse of the stored page" in history.stdout and "[re-parse]" in history.stdout

    again = kazinform(
        "reparse", "--warehouse", str(warehouse), "--source", "kazinform", "--since", "2025-11-01"
    )
    assert ["new", "versions", "0"] in [line.split() for line in again.stdout.splitlines()]

    bad = kazinform("reparse", "--warehouse", str(warehouse), "--since", "last week")
    assert bad.returncode == 2 and "not a date" in bad.stderr
