"""A source in parts that share no host (Source.host_groups, part_hosts, part, in_part), the
fan-out's stage runs made of them (flows.stage_flow.crawl_units), and crawls of the parts against
the replica: each fetches only its own editions' articles, and together they equal one crawl."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from flows.crawl_pipeline import CrawlOptions, crawl_without_prefect
from flows.host_limits import host_limit_names
from flows.pages import CrawlPlan
from flows.stage_flow import crawl_units
from parsers.registry import registered
from replica import ReplicaSite, serve
from test_crawl_flow import FAST_FETCH


def test_editions_that_share_a_host_are_one_group() -> None:
    sources = registered()
    # Kazinform's English feed is on www.inform.kz, beside the ru and kz editions: one part.
    assert sources["kazinform"].host_groups() == (("ru", "kz", "en"), ("cn",))
    assert sources["tengrinews"].host_groups() == (("ru",), ("kz",), ("en",))
    assert sources["astanatimes"].host_groups() == (("en",),)


@pytest.mark.parametrize("name", sorted(registered()))
def test_the_parts_hold_every_host_once(name: str) -> None:
    source = registered()[name]
    held = [source.part_hosts(codes) for codes in source.host_groups()]
    assert set().union(*held) == source.hosts
    assert sum(len(hosts) for hosts in held) == len(source.hosts)  # no host in two parts


def test_a_part_holds_its_hosts_limits_only() -> None:
    assert host_limit_names("tengrinews", ["kz"]) == ["host:kaz.tengrinews.kz"]
    assert host_limit_names("tengrinews", ["ru"]) == ["host:tengrinews.kz", "host:www.tengrinews.kz"]
    assert len(host_limit_names("tengrinews")) == 4
    # aliases no edition names (kazinform.kz) go with the part of the first edition
    assert "host:kazinform.kz" in host_limit_names("kazinform", ["ru", "kz", "en"])
    assert host_limit_names("kazinform", ["cn"]) == ["host:cn.inform.kz"]


def test_an_address_falls_to_the_part_of_its_edition() -> None:
    tengri, kazinform = registered()["tengrinews"], registered()["kazinform"]
    kz_article = "https://kaz.tengrinews.kz/world/slug-364674/"
    assert tengri.in_part(["kz"], kz_article)
    assert not tengri.in_part(["ru"], kz_article)
    # an address in no edition falls to the part holding the first edition
    assert kazinform.in_part(["ru", "kz", "en"], "https://kazinform.kz/other/page-a1")
    assert not kazinform.in_part(["cn"], "https://kazinform.kz/other/page-a1")
    with pytest.raises(KeyError, match="no edition xx"):
        tengri.part(["xx"])
    assert [e.code for e in tengri.part(["kz", "en"]).editions] == ["kz", "en"]


def test_the_fan_out_starts_a_run_per_part_with_work() -> None:
    fresh = CrawlPlan()
    assert crawl_units("tengrinews", fresh, discover=True) == [
        {"editions": ["ru"]},
        {"editions": ["kz"]},
        {"editions": ["en"]},
    ]
    # Kazinform's Chinese edition has no feed or listing: no run unless a revisit is due there
    assert crawl_units("kazinform", fresh, discover=True) == [{"editions": ["ru", "kz", "en"]}]
    due = CrawlPlan(revisit=[("a1", "https://cn.inform.kz/news/x-a1")])
    assert crawl_units("kazinform", due, discover=True) == [
        {"editions": ["ru", "kz", "en"]},
        {"editions": ["cn"]},
    ]
    # revisits only: the parts holding them
    kz_due = CrawlPlan(revisit=[("kz-1", "https://kaz.tengrinews.kz/world/x-1/")])
    assert crawl_units("tengrinews", kz_due, discover=False) == [{"editions": ["kz"]}]
    assert crawl_units("astanatimes", fresh, discover=True) == [{}]  # one part: the whole source


def _articles(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select article_id, title, url from articles where source = 'tengrinews' order by all"
        ).fetchall()


def test_crawls_of_the_parts_equal_one_crawl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    site = ReplicaSite.generate_all(n_articles=10, seed=8, other_articles=45)
    tengri = site.mounts["tengrinews"]
    logger = logging.getLogger("test")
    with serve(site) as base_url:
        monkeypatch.setenv("KAZINFORM_BASE_URL", base_url)

        def crawl(warehouse: Path, editions: tuple[str, ...] | None) -> None:
            options = CrawlOptions(revisit="all", max_pages=10, fetch_settings=FAST_FETCH, editions=editions)
            crawl_without_prefect(["tengrinews"], str(warehouse), "r", options, logger)

        whole, parts = tmp_path / "whole.duckdb", tmp_path / "parts.duckdb"
        crawl(whole, None)
        crawl(parts, ("kz",))
        kz_only = _articles(parts)
        assert kz_only and all(article_id.startswith("kz-") for article_id, _, _ in kz_only)
        assert len(kz_only) == len(tengri.live_articles("kz"))
        crawl(parts, ("ru",))
        crawl(parts, ("en",))
    assert _articles(parts) == _articles(whole)
    assert len(_articles(whole)) == len(tengri.live_articles())
