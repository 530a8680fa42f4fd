"""One crawl covers every registered source: Kazinform, Tengrinews and the feed-only Astana Times
served by the replica, with change tracking (edits, moves, deletions) and no source-specific code
outside the sources' own files."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import duckdb
import pytest

from flows.crawl import CrawlSummary, crawl_sources
from replica import ReplicaSite, serve
from test_crawl_flow import FAST_FETCH
from warehouse.db import open_reader
from warehouse.integrity import integrity_violations


def crawl(warehouse: Path, sources: list[str] | None = None) -> CrawlSummary:
    # No source named: every registered one.
    return asyncio.run(
        crawl_sources(sources or [], str(warehouse), revisit="all", max_pages=10, fetch_settings=FAST_FETCH)
    )


def rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


@pytest.fixture
def sites(monkeypatch: pytest.MonkeyPatch, prefect_api: str):
    site = ReplicaSite.generate_all(n_articles=40, seed=5, other_articles=30)
    with serve(site) as base_url:
        monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)
        yield site, base_url


def test_one_crawl_covers_every_source_with_change_tracking(sites, tmp_path: Path) -> None:
    site, _ = sites
    tengri, astana = site.mounts["tengrinews"], site.mounts["astanatimes"]
    warehouse = tmp_path / "w.duckdb"

    first = crawl(warehouse)
    # Only the listing pages past the last one (404 on a small replica) fail.
    assert first.counts["parse_error"] == 0, first.failures
    past_the_end = re.compile(r"(lenta\?page=|/news/page/)\d+/?$")
    assert all(past_the_end.search(url) for url, _, _ in first.failures), first.failures
    per_source = dict(rows(warehouse, "select source, count(*) from articles group by source"))
    assert set(per_source) == {"kazinform", "tengrinews", "astanatimes"}
    assert per_source["tengrinews"] == len(tengri.live_articles())
    assert per_source["astanatimes"] == len(astana.live_articles())
    assert per_source["kazinform"] >= 40
    # Keys: Tengrinews by (edition, id); The Astana Times by its slug; each read by its own parser.
    tengri_keys = [
        key for (key,) in rows(warehouse, "select article_id from articles where source = 'tengrinews'")
    ]
    assert all(re.fullmatch(r"(ru|kz|en)-\d+", key) for key in tengri_keys)
    assert {a.article_id for a in tengri.live_articles()} == set(tengri_keys)
    parsers = dict(
        rows(
            warehouse, "select source, list(distinct parser order by parser) from article_versions group by 1"
        )
    )
    assert all(p.startswith("tengrinews@") for p in parsers["tengrinews"])
    assert parsers["astanatimes"] == ["generic@1.0"]
    assert all(p.startswith(("kazinform@", "text-copy@")) for p in parsers["kazinform"])
    assert "generic@1.0" in first.parsers_line()

    # Editors at the two other outlets: an edit, a move and a deletion at each.
    t_edit, t_move, t_gone = (a.article_id for a in tengri.live_articles()[:3])
    a_edit, a_gone = (a.article_id for a in astana.live_articles()[:2])
    tengri.edit(t_edit, title="Заголовок исправлен редактором")
    tengri.move(t_move, "novyi-adres")
    tengri.delete(t_gone, status=410)
    astana.edit(a_edit, body=["A paragraph rewritten by the editor after publication."])
    astana.delete(a_gone)

    second = crawl(warehouse)
    assert second.counts["parse_error"] == 0, second.failures
    outcome_of = (
        "select outcome from visits where source = ? and article_id = ? order by visit_id desc limit 1"
    )
    assert rows(warehouse, outcome_of, ["tengrinews", t_edit]) == [("changed",)]
    assert rows(warehouse, outcome_of, ["tengrinews", t_move]) == [("redirected",)]
    assert rows(warehouse, outcome_of, ["tengrinews", t_gone]) == [("gone",)]
    assert rows(warehouse, outcome_of, ["astanatimes", a_edit]) == [("changed",)]
    assert rows(warehouse, outcome_of, ["astanatimes", a_gone]) == [("gone",)]
    changed = (
        "select field from article_changes where source = ? and article_id = ? and version = 2 order by field"
    )
    assert ("title",) in rows(warehouse, changed, ["tengrinews", t_edit])
    assert ("body",) in rows(warehouse, changed, ["astanatimes", a_edit])
    assert ("url",) in rows(warehouse, changed, ["tengrinews", t_move])
    moved_url = rows(
        warehouse, "select url from articles where source = 'tengrinews' and article_id = ?", [t_move]
    )
    assert moved_url[0][0].endswith("/novyi-adres-" + t_move.split("-")[1] + "/")
    deleted = "select deleted from article_state where source = ? and article_id = ?"
    assert rows(warehouse, deleted, ["tengrinews", t_gone]) == [(True,)]
    assert rows(warehouse, deleted, ["astanatimes", a_gone]) == [(True,)]
    # Nothing stored is lost: the first versions stay.
    first_title = (
        "select title from article_versions where source = 'tengrinews' and article_id = ? and version = 1"
    )
    assert rows(warehouse, first_title, [t_edit])[0][0] != "Заголовок исправлен редактором"
    with open_reader(warehouse) as connection:
        assert integrity_violations(connection) == {}


def test_a_named_source_is_the_only_one_crawled(sites, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    crawl(warehouse, ["tengrinews"])
    assert rows(warehouse, "select distinct source from visits") == [("tengrinews",)]
