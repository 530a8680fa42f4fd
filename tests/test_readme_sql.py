"""Every SQL example of the README runs against a warehouse that has seen files and two crawls."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from flows.crawl import crawl_sources
from flows.ingest import ingest_files
from replica import ReplicaSite, serve
from test_crawl_flow import FAST_FETCH
from warehouse.query_sandbox import open_query_connection, run_sql

ROOT = Path(__file__).resolve().parent.parent
README_QUERIES = re.findall(r"```sql\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def warehouse(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    path = folder / "readme.duckdb"
    (folder / "broken.html").write_bytes(b"<html><body><p>no article here</p>")
    ingest_files([str(ROOT / "seeds"), str(folder / "broken.html")], str(path))
    site = ReplicaSite.generate_all(n_articles=30, seed=3, other_articles=12)  # every source
    with serve(site) as base_url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("KAZINFORM_BASE_URL", base_url)
        crawl = crawl_sources([], str(path), revisit="all", max_pages=5, fetch_settings=FAST_FETCH)
        asyncio.run(crawl)
        first, second, third = (a.article_id for a in site.live_articles("ru")[:3])
        site.edit(first, title="Новый заголовок")
        site.move(second)
        site.delete(third)
        crawl = crawl_sources([], str(path), revisit="all", max_pages=5, fetch_settings=FAST_FETCH)
        asyncio.run(crawl)
    return path


def test_the_readme_has_sql_examples() -> None:
    assert len(README_QUERIES) >= 5


@pytest.mark.parametrize("sql", README_QUERIES, ids=lambda sql: sql.splitlines()[0].strip("- "))
def test_readme_query_runs_and_answers(warehouse: Path, sql: str) -> None:
    with open_query_connection(warehouse) as connection:  # the locked-down connection `query` uses
        rows = run_sql(connection, sql).rows
    assert rows, "each README example should show something on a warehouse that has seen files and crawls"
