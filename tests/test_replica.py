"""The replica behaves like the site: markup of SITE.md, validators, phases, faults."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from replica import ReplicaSite, serve
from replica.render import visible_date

Replica = tuple[ReplicaSite, str]


def test_generation_is_deterministic_for_a_seed() -> None:
    first = ReplicaSite.generate(n_articles=60, seed=3)
    second = ReplicaSite.generate(n_articles=60, seed=3)
    other = ReplicaSite.generate(n_articles=60, seed=4)
    assert [(a.article_id, a.path, a.title) for a in first.live_articles()] == [
        (a.article_id, a.path, a.title) for a in second.live_articles()
    ]
    assert {a.article_id for a in first.live_articles()} != {a.article_id for a in other.live_articles()}
    assert {a.edition for a in first.live_articles()} == {"ru", "kz", "en"}
    assert {a.generation for a in first.live_articles()} == {"A", "B"}


def test_article_pages_follow_both_markup_generations(replica: Replica) -> None:
    site, base = replica
    page_a = next(a for a in site.live_articles("ru") if a.generation == "A")
    page_b = next(a for a in site.live_articles() if a.generation == "B")
    html_a = httpx.get(base + page_a.path).text
    tree = HTMLParser(html_a)
    og_title = tree.css_first('meta[property="og:title"]').attributes["content"]
    assert og_title == f"{page_a.title} | Kazinform"
    assert tree.css_first('meta[name="author"]').attributes["content"] == page_a.author
    assert tree.css_first('meta[name="article:published_time"]') is not None
    assert '"@type": "NewsArticle"' in html_a
    assert tree.css_first(".article__description").text(strip=True) == page_a.lead
    body = tree.css_first("div.article__body-text")
    assert body.css("p") and body.css("h2")
    assert "Читайте также" in body.text()
    assert [a.text() for a in tree.css("div.article__tags a")] == page_a.tags
    assert re.fullmatch(r"\d\d:\d\d, \d{1,2} [А-Я][а-я]+ \d{4}", tree.css_first(".article__date").text())

    tree_b = HTMLParser(httpx.get(base + page_b.path).text)
    assert tree_b.css_first("script[type='application/ld+json']") is None
    assert tree_b.css_first("div.article__content p") is not None
    assert tree_b.css_first(".article__date").text().endswith("| GMT +5")


def test_visible_dates_per_edition() -> None:
    from datetime import UTC, datetime

    instant = datetime(2026, 8, 18, 16, 38, tzinfo=UTC)
    assert visible_date(instant, "ru") == "21:38, 18 Августа 2026"
    assert visible_date(instant, "ru", nominative=True, offset=True) == "21:38, 18 Август 2026 | GMT +5"
    assert visible_date(instant, "kz") == "21:38, 18 тамыз 2026"
    assert visible_date(instant, "en") == "21:38, 18 August 2026"
    # Before 1 March 2024 Astana was on UTC+6.
    assert visible_date(datetime(2023, 1, 5, 0, 0, tzinfo=UTC), "en") == "06:00, 5 January 2023"


def test_every_page_has_validators_and_answers_304(replica: Replica) -> None:
    site, base = replica
    for path in ("/rss/rus.xml", "/ru/lenta", "/robots.txt", site.live_articles()[0].path):
        first = httpx.get(base + path)
        assert first.status_code == 200 and first.headers["etag"] and first.headers["last-modified"]
        by_etag = httpx.get(base + path, headers={"If-None-Match": first.headers["etag"]})
        by_date = httpx.get(base + path, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert (by_etag.status_code, by_date.status_code) == (304, 304)
        assert by_etag.content == b""


def test_edit_move_delete_phases(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles("ru")[5]
    old_path = article.path
    before = httpx.get(base + old_path)
    site.edit(article.article_id, title="Новый заголовок", tags=["Казахстан"])
    after = httpx.get(base + old_path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and "Новый заголовок | Kazinform" in after.text
    assert after.headers["etag"] != before.headers["etag"]

    site.move(article.article_id, "novyy-zagolovok")
    moved = httpx.get(base + old_path)
    assert moved.status_code == 301
    assert moved.headers["location"] == f"{base}/ru/novyy-zagolovok-{article.article_id}"
    assert httpx.get(moved.headers["location"]).status_code == 200

    site.delete(article.article_id)
    assert httpx.get(base + article.path).status_code == 404
    assert article.article_id not in httpx.get(base + "/rss/rus.xml").text
    site.delete(article.article_id, status=410)
    assert httpx.get(base + article.path).status_code == 410
    site.restore(article.article_id)
    assert httpx.get(base + article.path).status_code == 200


def test_lenta_pages_alternate_generations_newest_first(replica: Replica) -> None:
    site, base = replica
    page1 = HTMLParser(httpx.get(base + "/ru/lenta").text)
    page2 = HTMLParser(httpx.get(base + "/ru/lenta?page=2").text)
    cards_a, cards_b = page1.css("a.news-card"), page2.css(".allNewsCard")
    assert len(cards_a) == 24 and 0 < len(cards_b) <= 24
    newest = site.live_articles("ru")
    assert cards_a[0].attributes["href"] == newest[0].path
    assert cards_b[0].css_first("a").attributes["href"] == base + newest[24].path
    assert httpx.get(base + "/ru/lenta?page=99").status_code == 404


def test_faults_are_scripted_and_counted(replica: Replica) -> None:
    site, base = replica
    path = site.live_articles()[0].path
    site.set_fault(path, "status", status=500, times=2)
    assert [httpx.get(base + path).status_code for _ in range(3)] == [500, 500, 200]

    site.set_fault(path, "retry_after", seconds=3, times=1)
    limited = httpx.get(base + path)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")

    site.set_fault(path, "slow", delay=0.3, times=1)
    started = time.monotonic()
    assert httpx.get(base + path).status_code == 200
    assert time.monotonic() - started >= 0.3

    site.set_fault("/rss/kaz.xml", "malformed_feed")
    assert not httpx.get(base + "/rss/kaz.xml").text.rstrip().endswith("</rss>")

    site.set_fault(path, "encoding", charset="windows-1251", declared=False)
    answer = httpx.get(base + path)
    assert answer.headers["content-type"] == "text/html" and b"charset" not in answer.content[:300]
    site.clear_fault()
    assert httpx.get(base + path).headers["content-type"] == "text/html; charset=utf-8"

    with pytest.raises(ValueError):
        site.set_fault(path, "no-such-fault")  # type: ignore[arg-type]


def test_request_log_records_headers(replica: Replica) -> None:
    site, base = replica
    httpx.get(base + "/robots.txt", headers={"If-None-Match": '"x"'})
    (logged,) = site.requests_to("/robots.txt")
    assert logged.headers["if-none-match"] == '"x"' and logged.status == 200


def test_serves_concurrent_requests_on_a_large_catalogue() -> None:
    site = ReplicaSite.generate(n_articles=2000, seed=1)
    with serve(site) as base, httpx.Client() as client:
        paths = [a.path for a in site.live_articles()[:200]]
        statuses = {client.get(base + p).status_code for p in paths}
    assert len(site.articles) == 2000 and statuses == {200}


# --- real-size pages -------------------------------------------------------------------------


def _page(site: ReplicaSite, article_id: str, base: str = "http://127.0.0.1:8000") -> bytes:
    return site.respond("GET", site.articles[article_id].path, "", {}, base).body


def test_real_size_pages_are_100_to_300_kb_and_deterministic_for_a_seed() -> None:
    site = ReplicaSite.generate(n_articles=80, seed=5, page_size="real")
    again = ReplicaSite.generate(n_articles=80, seed=5, page_size="real")
    other = ReplicaSite.generate(n_articles=80, seed=6, page_size="real")
    sizes = [len(_page(site, article_id)) for article_id in site.articles]
    assert min(sizes) >= 100_000 and max(sizes) <= 300_000, (min(sizes), max(sizes))
    assert len(set(sizes)) > 5  # pages differ in size, as real ones do
    assert all(_page(site, a) == _page(again, a) for a in site.articles)
    first_other = next(iter(other.articles))
    assert _page(other, first_other)[:2000] != _page(site, next(iter(site.articles)))[:2000]
    small = ReplicaSite.generate(n_articles=80, seed=5)
    assert max(len(_page(small, a)) for a in small.articles) < 20_000
    with pytest.raises(ValueError, match="page_size"):
        ReplicaSite.generate(n_articles=3, page_size="huge")


def test_real_size_pages_carry_the_chrome_of_real_ones() -> None:
    site = ReplicaSite.generate(n_articles=20, seed=5, page_size="real")
    tree = HTMLParser(_page(site, next(iter(site.articles))))
    assert len(tree.css("head script")) >= 3 and tree.css_first("head style") is not None
    assert len(tree.css("nav.mega-menu a")) > 150
    assert len(tree.css("section.related-news .news-card-small")) > 100
    assert len(tree.css("footer.site-footer a")) > 100


def test_real_size_pages_parse_to_the_same_records_as_small_ones() -> None:
    from parsers.api import parse_bytes
    from parsers.registry import get_source

    real = ReplicaSite.generate(n_articles=60, seed=9, page_size="real")
    small = ReplicaSite.generate(n_articles=60, seed=9)
    base = "http://127.0.0.1:8000"
    source = get_source("kazinform", base)  # the replica's addresses are Kazinform's on this mirror
    generations = set()
    for article_id, article in small.articles.items():
        url = base + article.path
        dressed, bare = _page(real, article_id, base), _page(small, article_id, base)
        assert len(dressed) > 10 * len(bare)
        record = parse_bytes(dressed, locator=url, url=url, source=source)
        assert record == parse_bytes(bare, locator=url, url=url, source=source), url
        assert record.parser.startswith("kazinform@")
        assert record.title == article.title and article.body_text.split("\n\n")[0] in record.body
        generations.add(article.generation)
    assert generations == {"A", "B"}


def test_real_size_pages_answer_304_and_change_with_an_edit() -> None:
    site = ReplicaSite.generate(n_articles=30, seed=5, page_size="real")
    with serve(site) as base, httpx.Client() as client:
        article = site.live_articles("ru")[0]
        first = client.get(base + article.path)
        assert first.status_code == 200 and len(first.content) >= 100_000
        again = client.get(base + article.path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        site.edit(article.article_id, title="Заголовок после правки")
        edited = client.get(base + article.path, headers={"If-None-Match": first.headers["etag"]})
        assert edited.status_code == 200 and "Заголовок после правки" in edited.text
        assert edited.headers["etag"] != first.headers["etag"] and len(edited.content) >= 100_000
