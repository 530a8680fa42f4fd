"""The replica's other sites: Tengrinews (three editions) and The Astana Times (feed only), mounted
beside Kazinform under their hosts' prefixes, read by the real parsers with the right keys, and
following editor actions, faults and conditional requests like the Kazinform replica."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from parsers.api import parse_bytes
from parsers.dates import parse_shown_date
from parsers.record import ArticleRecord
from parsers.registry import all_sources, registered
from parsers.source import Source
from replica import ReplicaSite, serve
from replica.feedsite import AstanaTimesSite
from replica.tengrinews import CARDS_PER_PAGE, TengrinewsSite

Replica = tuple[ReplicaSite, str, dict[str, Source]]


@pytest.fixture()
def replica() -> Iterator[Replica]:
    site = ReplicaSite.generate_all(n_articles=20, seed=5, other_articles=60)
    with serve(site) as base:
        yield site, base, {s.name: s for s in all_sources(base)}


def _tengrinews(site: ReplicaSite) -> TengrinewsSite:
    return site.mounts["tengrinews"]


def _astana(site: ReplicaSite) -> AstanaTimesSite:
    return site.mounts["astanatimes"]


def _feed_links(url: str) -> list[str]:
    response = httpx.get(url)
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith("application/rss+xml")
    return [item.findtext("link") or "" for item in ET.fromstring(response.content).iter("item")]


def _real_address(url: str, base: str) -> str:
    """The live site's address of a replica page: `{base}/{host}/path` → `https://{host}/path`."""
    return "https://" + url.removeprefix(base + "/")


def _parsed(url: str, source: Source) -> ArticleRecord:
    response = httpx.get(url)
    assert response.status_code == 200, url
    return parse_bytes(response.content, locator=url, url=url, source=source)


def test_generation_is_deterministic_and_editions_number_separately() -> None:
    first, second = TengrinewsSite.generate(40, seed=2), TengrinewsSite.generate(40, seed=2)
    assert [(a.article_id, a.title) for a in first.live_articles()] == [
        (a.article_id, a.title) for a in second.live_articles()
    ]
    numbers = {
        edition: {int(a.number) for a in first.live_articles(edition)} for edition in ("ru", "kz", "en")
    }
    assert all(numbers.values())
    assert max(numbers["kz"]) < 400_000 < min(numbers["ru"])
    assert max(numbers["en"]) < min(numbers["kz"])
    assert {a.article_id.split("-")[0] for a in first.live_articles()} == {"ru", "kz", "en"}


def test_every_feed_lists_articles_its_source_keys(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews, astana = _tengrinews(site), _astana(site)
    for feed in sources["tengrinews"].feed_urls:
        links = _feed_links(feed)
        assert links, feed
        assert all(sources["tengrinews"].article_id(link) in tengrinews.articles for link in links)
    edition_of_feed = {
        sources["tengrinews"].article_id(_feed_links(feed)[0]).split("-")[0]
        for feed in sources["tengrinews"].feed_urls
    }
    assert edition_of_feed == {"ru", "kz", "en"}
    (astana_feed,) = sources["astanatimes"].feed_urls
    assert astana_feed == f"{base}/astanatimes.com/feed/"
    links = _feed_links(astana_feed)
    assert len(links) == len(astana.articles)
    # Keyed on the live site's addresses: the replica's layout is the site's under a prefix.
    declared = registered()["astanatimes"]
    assert {declared.article_id(_real_address(link, base)) for link in links} == set(astana.articles)
    # Kazinform keeps its root layout beside them.
    assert httpx.get(f"{base}/rss/rus.xml").status_code == 200
    assert httpx.get(f"{base}/ru/lenta").status_code == 200


def test_listing_pages_follow_the_card_markup_and_page(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    edition = sources["tengrinews"].edition("ru")
    (listing,) = edition.listings
    (cards,) = listing.cards
    live = tengrinews.live_articles("ru")
    assert len(live) > CARDS_PER_PAGE
    seen: list[str] = []
    for n in (1, 2):
        response = httpx.get(listing.page(n))
        assert response.status_code == 200
        tree = LexborHTMLParser(response.text)
        for card in tree.css(cards.card):
            link = card.css_first(cards.link)
            url = urljoin(listing.page(n), link.attributes["href"])
            key = sources["tengrinews"].article_id(url)
            assert key in tengrinews.articles
            assert card.css_first(cards.title).text(strip=True) == tengrinews.articles[key].title
            assert parse_shown_date(card.css_first(cards.time).text(strip=True)) is not None
            seen.append(key)
    assert seen == [a.article_id for a in live[: 2 * CARDS_PER_PAGE]]
    last = -(-len(live) // CARDS_PER_PAGE)
    assert httpx.get(listing.page(last + 1)).status_code == 404
    first_card = LexborHTMLParser(httpx.get(listing.page(1)).text).css_first(cards.time).text(strip=True)
    assert first_card.startswith("Сегодня")


@pytest.mark.parametrize(("edition", "language"), [("ru", "ru"), ("kz", "kk"), ("en", "en")])
def test_tengrinews_pages_are_read_by_the_tengrinews_parser(
    replica: Replica, edition: str, language: str
) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    for article in tengrinews.live_articles(edition)[:2]:  # one odd and one even id, mostly
        record = _parsed(tengrinews.url_of(article.article_id, base), sources["tengrinews"])
        assert (record.source, record.article_id, record.language) == (
            "tengrinews",
            article.article_id,
            language,
        )
        assert record.parser == "tengrinews@2024.1"
        assert record.title == article.title
        assert record.lead == article.lead
        assert record.body == "\n\n".join(article.paragraphs)
        assert record.tags == article.tags
        assert record.authors == [article.author]
        assert record.published_at == article.published_at
        for promo in ("WhatsApp", "Google News", "Қосымшада", "қосымшаға"):
            assert promo not in record.body


def test_astana_times_pages_are_read_by_the_generic_parser(replica: Replica) -> None:
    site, base, sources = replica
    astana = _astana(site)
    article = astana.live_articles()[0]
    record = _parsed(astana.url_of(article.article_id, base), sources["astanatimes"])
    assert (record.source, record.article_id, record.language) == ("astanatimes", article.article_id, "en")
    assert record.parser.startswith("generic@")
    assert record.title == article.title
    assert record.published_at == article.published_at
    assert record.authors == [article.author]
    assert all(paragraph in record.body for paragraph in article.paragraphs)


def test_an_edit_changes_the_page_and_its_validators(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    article = tengrinews.live_articles("kz")[3]
    url = tengrinews.url_of(article.article_id, base)
    before = httpx.get(url)
    etag, modified = before.headers["etag"], before.headers["last-modified"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": modified}).status_code == 304

    tengrinews.edit(article.article_id, title="Жаңа тақырып", body=["Бірінші абзац.", "Екінші абзац."])
    after = httpx.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    record = parse_bytes(after.content, locator=url, url=url, source=sources["tengrinews"])
    assert (record.article_id, record.title) == (article.article_id, "Жаңа тақырып")
    assert record.body == "Бірінші абзац.\n\nЕкінші абзац."
    assert httpx.get(url, headers={"If-Modified-Since": modified}).status_code == 200

    astana = _astana(site)
    story = astana.live_articles()[1]
    astana_url = astana.url_of(story.article_id, base)
    astana.edit(story.article_id, body=["A corrected paragraph."])
    assert "A corrected paragraph." in _parsed(astana_url, sources["astanatimes"]).body


def test_a_move_redirects_from_every_former_address(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    article = tengrinews.live_articles("ru")[5]
    old_url = tengrinews.url_of(article.article_id, base)
    tengrinews.move(article.article_id, new_slug="novyy-adres")
    new_url = tengrinews.url_of(article.article_id, base)
    assert new_url.endswith(f"/tengrinews.kz/{article.section}/novyy-adres-{article.number}/")
    moved = httpx.get(old_url)
    assert (moved.status_code, moved.headers["location"]) == (301, new_url)
    assert _parsed(new_url, sources["tengrinews"]).article_id == article.article_id
    # The same story under another section, or without the final slash: the one address.
    other_section = new_url.replace(
        f"/{article.section}/", "/world_news/" if article.section != "world_news" else "/sport/"
    )
    assert httpx.get(other_section).headers["location"] == new_url
    assert httpx.get(new_url.rstrip("/")).headers["location"] == new_url
    assert httpx.get(new_url.replace("novyy-adres", "neizvestnyy")).status_code == 404

    astana = _astana(site)
    story = astana.live_articles()[2]
    old_astana = astana.url_of(story.article_id, base)
    moved_story = astana.move(story.article_id, new_slug="a-new-slug")
    new_astana = astana.url_of(moved_story.article_id, base)
    answer = httpx.get(old_astana)
    assert (answer.status_code, answer.headers["location"]) == (301, new_astana)
    assert registered()["astanatimes"].article_id(_real_address(new_astana, base)) == "a-new-slug"
    assert moved_story.article_id == "a-new-slug"
    wrong_month = new_astana.replace(f"/{story.number}/", "/2020/01/")
    assert httpx.get(wrong_month).headers["location"] == new_astana


@pytest.mark.parametrize("status", [404, 410])
def test_a_delete_answers_gone_until_restored(replica: Replica, status: int) -> None:
    site, base, sources = replica
    for mounted in (_tengrinews(site), _astana(site)):
        article = mounted.live_articles()[0]
        url = mounted.url_of(article.article_id, base)
        mounted.delete(article.article_id, status=status)
        assert httpx.get(url).status_code == status
        feed_links = [link for feed in sources[mounted.name].feed_urls for link in _feed_links(feed)]
        assert url not in feed_links
        mounted.restore(article.article_id)
        assert httpx.get(url).status_code == 200


def test_publish_adds_the_next_id_of_that_edition_to_its_feed(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    newest_kz = max(int(a.number) for a in tengrinews.live_articles("kz"))
    article = tengrinews.publish("kz")
    assert article.article_id == f"kz-{newest_kz + 1}"
    kz_feed = sources["tengrinews"].edition("kz").feeds[0]
    assert _feed_links(kz_feed)[0] == tengrinews.url_of(article.article_id, base)
    astana = _astana(site).publish()
    assert _feed_links(sources["astanatimes"].feed_urls[0])[0] == _astana(site).url_of(
        astana.article_id, base
    )


def test_faults_apply_to_the_mounted_sites_paths(replica: Replica) -> None:
    site, base, sources = replica
    tengrinews = _tengrinews(site)
    feed_path = "/kaz.tengrinews.kz/news.rss"
    tengrinews.set_fault(feed_path, "status", status=503, times=1)
    assert httpx.get(base + feed_path).status_code == 503
    assert httpx.get(base + feed_path).status_code == 200
    tengrinews.set_fault("/tengrinews.kz/news/", "empty_listing")
    assert "content_main_item" not in httpx.get(f"{base}/tengrinews.kz/news/").text
    article = tengrinews.live_articles("en")[0]
    path = tengrinews.article_path(article)
    tengrinews.set_fault(path, "unparseable")
    assert "head-single" not in httpx.get(base + path).text
    tengrinews.clear_fault()
    assert "head-single" in httpx.get(base + path).text
    _astana(site).set_fault("/astanatimes.com/feed/", "malformed_feed")
    with pytest.raises(ET.ParseError):
        ET.fromstring(httpx.get(f"{base}/astanatimes.com/feed/").content)
    # Each site keeps its own log; Kazinform's holds none of these requests.
    assert len(tengrinews.requests_to(feed_path)) == 2
    assert not site.requests_to(feed_path)
