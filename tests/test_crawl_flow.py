"""The crawl flow end to end: a real Prefect server, the replica site over HTTP, a real DuckDB file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
import pytest

from crawler.fetch import FetchConfig
from flows.crawl import CrawlSummary, crawl_sources
from replica import ReplicaSite, serve
from warehouse.db import open_reader
from warehouse.integrity import integrity_violations

# Short timeouts and backoffs keep fault phases quick; the limit is lifted on a local replica.
FAST_FETCH = FetchConfig(
    requests_per_second=0,
    concurrency_per_host=4,
    connect_timeout=2.0,
    read_timeout=1.0,
    max_attempts=2,
    backoff_base=0.05,
    backoff_max=0.2,
    retry_after_cap=1.0,
    max_body_bytes=1_000_000,
)


def crawl(
    warehouse: Path, revisit: str = "all", warc: Path | None = None, discover: bool = True
) -> CrawlSummary:
    return asyncio.run(
        crawl_sources(
            ["kazinform"],
            str(warehouse),
            revisit=revisit,
            max_pages=10,
            fetch_settings=FAST_FETCH,
            warc_path=str(warc) if warc else None,
            discover=discover,
        )
    )


def rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


@pytest.fixture
def site_url(monkeypatch: pytest.MonkeyPatch, prefect_api: str):
    site = ReplicaSite.generate(n_articles=60, seed=11)
    with serve(site) as base_url:
        monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)
        yield site, base_url


def test_edit_move_delete_between_two_crawls(site_url, tmp_path: Path) -> None:
    site, base_url = site_url
    warehouse = tmp_path / "crawl.duckdb"
    first = crawl(warehouse)
    assert first.counts["created"] == 60, first.to_text()
    assert rows(warehouse, "select count(*) from articles") == [(60,)]

    edited, moved, deleted = (a.article_id for a in site.live_articles("ru")[:3])
    site.edit(edited, title="Заголовок после правки")
    site.move(moved)
    new_address = site.url_of(moved, base_url)
    site.delete(deleted)

    second = crawl(warehouse)
    assert second.counts["changed"] == 1, second.to_text()
    assert second.counts["redirected"] == 1
    assert second.counts["gone"] == 1
    assert second.counts["not_modified"] >= 57  # the 57 untouched articles, plus unchanged feeds
    assert second.counts.get("created", 0) == 0

    assert rows(warehouse, "select count(*) from article_versions where article_id = ?", [edited]) == [(2,)]
    # The edit changed the title; the page's dateModified moved with it. Nothing else differs.
    edited_fields = dict(
        rows(warehouse, "select field, new_value from article_changes where article_id = ?", [edited])
    )
    assert set(edited_fields) == {"title", "updated_at"}
    assert edited_fields["title"] == "Заголовок после правки"
    assert rows(warehouse, "select title, versions from articles where article_id = ?", [edited]) == [
        ("Заголовок после правки", 2)
    ]

    assert rows(warehouse, "select url, deleted from articles where article_id = ?", [moved]) == [
        (new_address, False)
    ]
    assert rows(warehouse, "select field, new_value from article_changes where article_id = ?", [moved]) == [
        ("url", new_address)
    ]

    assert rows(
        warehouse, "select deleted, versions, length(body) > 0 from articles where article_id = ?", [deleted]
    ) == [(True, 1, True)]

    unchanged = rows(
        warehouse,
        """select count(distinct article_id) from visits
           where run_id = ? and outcome = 'not_modified' and article_id not in (?, ?, ?)""",
        [second.run_id, edited, moved, deleted],
    )
    assert unchanged == [(57,)]
    assert rows(warehouse, "select count(*) from article_versions") == [(62,)]
    with open_reader(warehouse) as connection:
        assert integrity_violations(connection) == {}


def test_fault_phases_leave_a_visit_with_the_reason_and_lose_nothing(site_url, tmp_path: Path) -> None:
    site, _ = site_url
    warehouse = tmp_path / "faults.duckdb"
    crawl(warehouse)
    before = rows(warehouse, "select article_id, version, content_hash from article_versions order by 1, 2")

    live = site.live_articles("ru")
    fresh = site.publish("ru")  # content-type faults alter a 200: ask for a page not seen before
    faults = {
        live[0].path: ("retry_after", {"seconds": 1}),  # within the cap: waited for, then fails
        live[1].path: ("status", {"status": 500}),
        live[2].path: ("slow", {"delay": 3.0}),
        live[3].path: ("redirect_loop", {}),
        live[4].path: ("oversized", {"size": 3_000_000, "declare_length": False}),
        fresh.path: ("content_type", {"content_type": "application/pdf"}),
        live[6].path: ("unparseable", {}),
        "/rss/rus.xml": ("malformed_feed", {}),
    }
    for path, (kind, params) in faults.items():
        site.set_fault(path, kind, **params)
    summary = crawl(warehouse)

    by_path = {
        path: rows(
            warehouse,
            "select outcome, error from visits where run_id = ? and (url like ? or requested_url like ?)",
            [summary.run_id, f"%{path}", f"%{path}"],
        )
        for path in faults
    }
    expected_words = {
        live[0].path: "429",
        live[1].path: "500",
        live[2].path: "timeout",
        live[3].path: "redirect loop",
        live[4].path: "larger than",
        fresh.path: "content type",
        live[6].path: "",
        "/rss/rus.xml": "",
    }
    for path, visits in by_path.items():
        assert len(visits) == 1, (path, visits)
        outcome, error = visits[0]
        assert outcome in ("failed", "parse_error"), (path, outcome, error)
        assert error, (path, "a failed visit must say why")
        assert expected_words[path].lower() in error.lower(), (path, error)

    after = rows(warehouse, "select article_id, version, content_hash from article_versions order by 1, 2")
    assert after == before
    assert rows(warehouse, "select count(*) from articles where deleted") == [(0,)]
    # The malformed feed body is kept for a later look.
    assert rows(
        warehouse,
        """select count(*) from visits v join raw_pages r using (raw_sha256)
           where v.run_id = ? and v.url like '%/rss/rus.xml'""",
        [summary.run_id],
    ) == [(1,)]


def test_a_gone_article_that_comes_back_is_undeleted(site_url, tmp_path: Path) -> None:
    site, _ = site_url
    warehouse = tmp_path / "comeback.duckdb"
    crawl(warehouse)
    article_id = site.live_articles("kz")[0].article_id
    site.delete(article_id, status=410)
    assert crawl(warehouse).counts["gone"] == 1
    assert rows(warehouse, "select deleted from articles where article_id = ?", [article_id]) == [(True,)]

    site.restore(article_id)
    crawl(warehouse, revisit="none")  # found again through the feed and the lenta
    assert rows(warehouse, "select deleted from articles where article_id = ?", [article_id]) == [(False,)]
    assert rows(
        warehouse,
        "select old_value, new_value from article_changes where article_id = ? and field = 'deleted' "
        "order by changed_at",
        [article_id],
    ) == [("false", "true"), ("true", "false")]


def test_fetched_pages_can_be_archived_as_warc(site_url, tmp_path: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    site, base_url = site_url
    archive = tmp_path / "crawl.warc.gz"
    crawl(tmp_path / "warc.duckdb", warc=archive)
    with archive.open("rb") as stream:
        responses = [r for r in ArchiveIterator(stream) if r.rec_type == "response"]
    archived = {r.rec_headers.get_header("WARC-Target-URI") for r in responses}
    assert archived == {site.url_of(a.article_id, base_url) for a in site.live_articles()}


def test_a_crawl_without_discovery_only_revisits(site_url, tmp_path: Path) -> None:
    """The `revisit-due` deployment's crawl: known articles are asked for again, no feed or listing
    page is read, and an article published since is left to the discovering crawl."""
    site, _ = site_url
    warehouse = tmp_path / "crawl.duckdb"
    first = crawl(warehouse)
    assert first.counts["created"] == 60 and first.counts["listed"] > 0
    site.publish()
    second = crawl(warehouse, revisit="all", discover=False)
    assert second.counts.get("listed", 0) == 0
    assert second.counts["not_modified"] + second.counts["unchanged"] == 60
    assert second.counts.get("created", 0) == 0
    urls = rows(warehouse, "SELECT url FROM visits WHERE run_id = ?", [second.run_id])
    assert len(urls) == 60 and not any("/rss/" in url or "lenta" in url for (url,) in urls)
