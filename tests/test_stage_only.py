"""`kazinform ingest/crawl --stage-only`: the stage side of the pipeline on its own. Each batch becomes a
load package and the warehouse is only read; `kazinform packages load` then gives the same warehouse
as loading straight from memory. Real CLI processes, the session's Prefect server, the replica over
HTTP and real DuckDB files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb

from test_serve import KAZINFORM, ROOT, child_env
from warehouse.packages import PackageStore

RUN_WITHIN_S = 600


def kazinform(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KAZINFORM, *args], cwd=ROOT, env=env or child_env(), capture_output=True, text=True,
        timeout=RUN_WITHIN_S,
    )  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


ARTICLES = "select source, article_id, version, title, body, published_at from articles order by 1, 2"
OUTCOMES = "select outcome, count(*) from visits group by 1 order by 1"


def test_ingest_stage_only_then_load_equals_a_direct_ingest(prefect_api: str, tmp_path: Path) -> None:
    staged, direct = tmp_path / "staged.duckdb", tmp_path / "direct.duckdb"
    out = ok(kazinform("ingest", "seeds", "--stage-only", "--warehouse", str(staged)))
    assert "staged only: 1 visit as load packages" in out, out
    assert not staged.exists()  # the stage side never writes the warehouse
    store = PackageStore.for_warehouse(staged)
    assert len(store.ready()) == 1

    assert "loaded 1 packages (1 visits)" in ok(kazinform("packages", "load", "--warehouse", str(staged)))
    ok(kazinform("ingest", "seeds", "--warehouse", str(direct)))
    assert rows(staged, ARTICLES) == rows(direct, ARTICLES)
    assert rows(staged, OUTCOMES) == rows(direct, OUTCOMES) == [("created", 1)]
    assert store.ready() == []


def test_crawl_stage_only_into_another_store_then_load(prefect_api: str, replica, tmp_path: Path) -> None:
    """A crawl staged into a store of its own (as on a machine without the warehouse), loaded by
    the loader reading that store; the next staged crawl reads the warehouse's plan, so it sees the
    edit as an edit and the rest as unchanged, as a direct crawl does."""
    site, base_url = replica
    staged, direct = tmp_path / "staged.duckdb", tmp_path / "direct.duckdb"
    store_folder = tmp_path / "elsewhere"
    env = child_env(KAZINFORM_BASE_URL=base_url)
    loader_env = {**env, "KAZINFORM_PACKAGES": str(store_folder)}
    crawl = ("crawl", "kazinform", "--rate", "0", "--revisit", "all")

    def staged_crawl() -> str:
        out = ok(
            kazinform(
                *crawl, "--stage-only", "--packages", str(store_folder), "--warehouse", str(staged), env=env
            )
        )
        assert PackageStore(str(store_folder)).ready(), out
        ok(kazinform("packages", "load", "--warehouse", str(staged), env=loader_env))
        return out

    first = staged_crawl()
    assert "staged only:" in first, first
    assert not PackageStore.for_warehouse(staged).ready()  # nothing went to the default store
    ok(kazinform(*crawl, "--warehouse", str(direct), env=env))
    assert rows(staged, ARTICLES) == rows(direct, ARTICLES)
    assert len(rows(staged, ARTICLES)) == len(site.articles)

    edited = site.edit(next(iter(site.articles)), title="Заголовок после правки")
    staged_crawl()
    ok(kazinform(*crawl, "--warehouse", str(direct), env=env))
    assert rows(staged, ARTICLES) == rows(direct, ARTICLES)
    changed = "select article_id from visits where outcome = 'changed'"
    assert rows(staged, changed) == rows(direct, changed) == [(edited.article_id,)]
    assert rows(staged, OUTCOMES) == rows(direct, OUTCOMES)


def test_packages_without_stage_only_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = kazinform(
        "ingest", "seeds", "--packages", str(tmp_path / "p"), "--warehouse", str(tmp_path / "w"), env=env
    )
    assert done.returncode == 2 and "--packages is the store of --stage-only" in done.stderr, done.stderr
    assert not (tmp_path / "p").exists() and not (tmp_path / "w").exists()
