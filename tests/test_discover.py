"""Source definitions, link extraction from feeds and lenta pages, and the discovery driver."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from crawler.discover import DiscoveredLink, DiscoveryError, discover, links_from_feed, links_from_listing
from crawler.fetch import FetchConfig, Fetcher
from flows.visits import visits_from_listed
from parsers.registry import BASE_URL_ENV, get_source, registered
from replica import ReplicaSite
from warehouse.visit import VisitInput

KAZINFORM = registered()["kazinform"]

Replica = tuple[ReplicaSite, str]
FAST = FetchConfig(requests_per_second=0, read_timeout=1.0, max_attempts=2, backoff_base=0.05)


@dataclass
class Discovered:
    links: list[DiscoveredLink]
    visits: list[VisitInput]  # the feed and listing pages as the crawl records them
    links_not_followed: int


def run_discovery(
    base: str, known: set[str] | None = None, max_pages: int = 3, max_links_per_page: int = 300
) -> Discovered:
    source = get_source("kazinform", base)

    async def go() -> Discovered:
        async with Fetcher.for_source(source, FAST) as fetcher:
            result = await discover(
                source, fetcher, known or set(), max_pages=max_pages, max_links_per_page=max_links_per_page
            )
        return Discovered(result.links, visits_from_listed(result.pages, source), result.links_not_followed)

    return asyncio.run(go())


# --- sources ---------------------------------------------------------------------------------


def test_real_source_addresses() -> None:
    assert [e.code for e in KAZINFORM.editions] == ["ru", "kz", "en", "cn"]
    assert [e.language for e in KAZINFORM.editions] == ["ru", "kk", "en", "zh"]
    assert KAZINFORM.feed_urls == [
        "https://www.inform.kz/rss/rus.xml",
        "https://www.inform.kz/rss/kaz.xml",
        "https://www.inform.kz/rss/eng.xml",
    ]
    assert KAZINFORM.edition("ru").listings[0].page(2) == "https://www.inform.kz/ru/lenta?page=2"
    english = "https://en.inform.kz/news/oil-spill-detected-in-caspian-sea-6544df/"
    assert KAZINFORM.edition_of(english) is KAZINFORM.edition("en")
    assert KAZINFORM.private_hosts_allowed == frozenset()


def test_base_url_maps_every_edition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8000/")
    source = get_source("kazinform")
    assert [e.home for e in source.editions] == [
        "http://127.0.0.1:8000/ru/",
        "http://127.0.0.1:8000/kz/",
        "http://127.0.0.1:8000/en/",
        "http://127.0.0.1:8000/cn.inform.kz/",  # a host without a mirror path of its own: /{host}
    ]
    assert source.feed_urls == [
        "http://127.0.0.1:8000/rss/rus.xml",
        "http://127.0.0.1:8000/rss/kaz.xml",
        "http://127.0.0.1:8000/rss/eng.xml",
    ]
    assert source.edition("ru").listings[0].url == "http://127.0.0.1:8000/ru/lenta"
    assert source.edition("ru").listings[0].page(3) == "http://127.0.0.1:8000/ru/lenta?page=3"
    assert source.edition("en").listings == ()
    assert source.allowed_hosts == source.private_hosts_allowed == frozenset({"127.0.0.1"})
    assert source.edition_of("http://127.0.0.1:8000/en/news/a-b-6544df/").code == "en"
    assert get_source("kazinform", "http://10.0.0.5:9000").feed_urls[0] == "http://10.0.0.5:9000/rss/rus.xml"
    monkeypatch.delenv(BASE_URL_ENV)
    assert get_source("KAZINFORM") is KAZINFORM
    with pytest.raises(KeyError):
        get_source("no-such-source")
    with pytest.raises(ValueError):
        KAZINFORM.with_base("file:///srv/mirror")


# --- extraction ------------------------------------------------------------------------------


def test_links_from_feed(replica: Replica) -> None:
    site, base = replica
    feed_url = base + "/rss/rus.xml"
    links = links_from_feed(httpx.get(feed_url).content, feed_url, source=get_source("kazinform", base))
    newest = site.live_articles("ru")[: site.feed_size]
    assert [link.article_id for link in links] == [a.article_id for a in newest]
    assert links[0].url == base + newest[0].path and links[0].title == newest[0].title
    assert links[0].edition == "ru" and links[0].published_text.endswith("GMT")


def test_bozo_feed_with_items_is_accepted() -> None:
    raw = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>K &nbsp; K</title>'
        b"<item><title>One</title><link>https://www.inform.kz/ru/odin-8221b43c</link></item>"
        b"<item><title>No id</title><link>https://www.inform.kz/ru/about</link></item>"
        b"</channel></rss>"
    )
    links = links_from_feed(raw, "https://www.inform.kz/rss/rus.xml", source=KAZINFORM)
    assert [(link.article_id, link.edition) for link in links] == [("8221b43c", "ru")]


@pytest.mark.parametrize(
    ("fault", "reason"), [("malformed_feed", "malformed feed: "), ("empty_feed", "empty feed: no items")]
)
def test_bad_feeds_raise_with_reason(replica: Replica, fault: str, reason: str) -> None:
    site, base = replica
    site.set_fault("/rss/eng.xml", fault)  # type: ignore[arg-type]
    with pytest.raises(DiscoveryError) as error:
        links_from_feed(httpx.get(base + "/rss/eng.xml").content, base + "/rss/eng.xml", source=KAZINFORM)
    assert error.value.reason.startswith(reason)
    with pytest.raises(DiscoveryError, match="empty feed"):
        links_from_feed(b"", base + "/rss/eng.xml", source=KAZINFORM)


def test_links_from_both_listing_generations(replica: Replica) -> None:
    site, base = replica
    source = get_source("kazinform", base)
    newest = site.live_articles("ru")
    page1_url, page2_url = base + "/ru/lenta", source.edition("ru").listings[0].page(2)
    generation_a = links_from_listing(httpx.get(page1_url).content, page1_url, source)
    generation_b = links_from_listing(httpx.get(page2_url).content, page2_url, source)
    assert [link.article_id for link in generation_a] == [a.article_id for a in newest[:24]]
    assert [link.article_id for link in generation_b] == [a.article_id for a in newest[24:48]]
    assert generation_a[0].url == base + newest[0].path  # relative href resolved against the page
    assert generation_a[0].published_text is not None and generation_b[0].title == newest[24].title
    assert {link.edition for link in generation_a + generation_b} == {"ru"}


def test_listing_links_resolve_against_the_fetched_address() -> None:
    mirror = KAZINFORM.with_base("http://mirror.example:8080")
    raw = b'<a class="news-card" href="/ru/odin-8221b43c"><h3 class="card-title">One</h3></a>'
    (link,) = links_from_listing(raw, "http://mirror.example:8080/ru/lenta?page=3", mirror)
    assert link.url == "http://mirror.example:8080/ru/odin-8221b43c"


def test_listing_without_cards_raises(replica: Replica) -> None:
    site, base = replica
    site.set_fault("/ru/lenta", "empty_listing")
    with pytest.raises(DiscoveryError, match="no news cards"):
        links_from_listing(httpx.get(base + "/ru/lenta").content, base + "/ru/lenta", KAZINFORM)


# --- the driver ------------------------------------------------------------------------------


def test_discovery_reads_feeds_then_lenta_pages(replica: Replica) -> None:
    site, base = replica
    result = run_discovery(base, max_pages=3)
    assert (len(site.live_articles("ru")), len(site.live_articles("kz"))) == (58, 36)  # seed 7
    visited = [(v.locator.removeprefix(base), v.status, v.error) for v in result.visits]
    assert visited == [
        ("/rss/rus.xml", "listed", None),
        ("/rss/kaz.xml", "listed", None),
        ("/rss/eng.xml", "listed", None),
        ("/ru/lenta", "listed", None),
        ("/ru/lenta?page=2", "listed", None),
        ("/ru/lenta?page=3", "listed", None),
        ("/kz/lenta", "listed", None),
        ("/kz/lenta?page=2", "listed", None),  # 12 cards: the last page, no request past it
    ]
    ids = [link.article_id for link in result.links]
    assert len(ids) == len(set(ids))  # one link per article
    expected = {a.article_id for a in site.live_articles("ru")[:72]} | {
        a.article_id for a in site.live_articles()[: site.feed_size] if a.edition == "en"
    }
    assert expected <= set(ids)
    assert all(v.body() for v in result.visits if v.status == "listed")


def test_links_per_feed_or_listing_page_are_capped(replica: Replica) -> None:
    _, base = replica
    source = get_source("kazinform", base)
    full = run_discovery(base, max_pages=1)
    capped = run_discovery(base, max_pages=1, max_links_per_page=5)
    assert full.links_not_followed == 0 and all(v.error is None for v in full.visits)
    not_followed = 0
    for whole, cut in zip(full.visits, capped.visits, strict=True):
        raw = whole.body() or b""
        if whole.locator.endswith(".xml"):
            listed = links_from_feed(raw, whole.locator, source=source)
        else:
            listed = links_from_listing(raw, whole.locator, source)
        assert len(listed) > 5, whole.locator
        assert (cut.status, cut.error) == ("listed", f"links capped: kept 5 of {len(listed)}")
        not_followed += len(listed) - 5
    assert capped.links_not_followed == not_followed
    # The first five links of each page are the ones kept (each article once).
    assert len(capped.links) <= 5 * len(capped.visits)
    first_of_feed = links_from_feed(full.visits[0].body() or b"", full.visits[0].locator, source=source)[:5]
    assert capped.links[:5] == first_of_feed


def test_discovery_records_a_missing_listing_page_as_failed(replica: Replica) -> None:
    site, base = replica
    site.set_fault("/ru/lenta", "status", status=404)
    result = run_discovery(base, max_pages=3)
    unlisted = [(v.locator.removeprefix(base), v.status, v.error) for v in result.visits]
    assert unlisted[3] == ("/ru/lenta", "failed", "HTTP 404")
    assert [v.status for v in result.visits].count("failed") == 1


def test_discovery_stops_at_known_articles(replica: Replica) -> None:
    site, base = replica
    known = {a.article_id for a in site.live_articles()}
    fresh = site.publish("ru")
    result = run_discovery(base, known=known, max_pages=5)
    listing_visits = [v.locator.removeprefix(base) for v in result.visits if "/lenta" in v.locator]
    # ru page 1 holds the new article, page 2 only known ones; kz page 1 only known ones.
    assert listing_visits == ["/ru/lenta", "/ru/lenta?page=2", "/kz/lenta"]
    assert fresh.article_id in {link.article_id for link in result.links}


def test_discovery_records_bad_feeds_and_listings_and_goes_on(replica: Replica) -> None:
    site, base = replica
    site.set_fault("/rss/rus.xml", "malformed_feed")
    site.set_fault("/rss/kaz.xml", "status", status=500)
    site.set_fault("/ru/lenta", "empty_listing")
    result = run_discovery(base, max_pages=2)
    by_path = {v.locator.removeprefix(base): v for v in result.visits}
    malformed = by_path["/rss/rus.xml"]
    assert malformed.status == "parse_error" and malformed.error.startswith("malformed feed")
    assert malformed.body() and malformed.http_status == 200 and malformed.article_id is None
    failed = by_path["/rss/kaz.xml"]
    assert (failed.status, failed.error) == ("failed", "HTTP 500 after 2 attempts")
    empty = by_path["/ru/lenta"]
    assert empty.status == "parse_error" and "no news cards" in empty.error and empty.body()
    assert "/ru/lenta?page=2" not in by_path  # an unreadable page ends that edition's paging
    assert by_path["/rss/eng.xml"].status == "listed" and by_path["/kz/lenta"].status == "listed"
    assert result.links  # the crawl went on


def test_discovery_sees_moved_articles_at_their_new_address(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles("ru")[0]
    site.move(article.article_id, "perenesennaya-statya")
    result = run_discovery(base, max_pages=1)
    (link,) = [link for link in result.links if link.article_id == article.article_id]
    assert link.url == f"{base}/ru/perenesennaya-statya-{article.article_id}"
