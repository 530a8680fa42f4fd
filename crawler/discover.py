"""Discovery: article links from RSS feeds and lenta pages.

`links_from_feed` and `links_from_listing` are pure (bytes in, links out); `discover` drives them
over a Fetcher and returns, beside the links, one ListedPage per feed or listing page fetched (what
came of it), so a broken feed is recorded like any other visit and the crawl goes on. Feeds,
listings, their paging rule, card selectors and article keys all come from the source definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from crawler.fetch import Fetcher, FetchResult, Validators
from parsers.source import Listing, Source

# Links followed from one feed or listing page. A real Kazinform feed lists tens of items and a lenta
# page 20–50 cards; 300 leaves room for an unusual page while a page listing 100,000 links (at one
# request a second, ~28 hours of crawling) costs at most 300 fetches. The rest are not followed and
# the page's visit says how many were kept.
MAX_LINKS_PER_PAGE = 300


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    url: str
    article_id: str
    edition: str | None
    title: str | None = None
    published_text: str | None = None  # as the feed or card printed it


@dataclass(frozen=True, slots=True)
class ListedPage:
    """A feed or listing page asked for, and what came of it: listed, not_modified, failed or
    parse_error (with the reason, or a note of the links left out when the page was capped)."""

    fetch: FetchResult
    status: str
    error: str | None = None


class DiscoveryError(Exception):
    """A feed or listing page gave no links; `reason` says why."""

    def __init__(self, reason: str, url: str | None = None) -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"{url}: {reason}" if url else reason)


def links_from_feed(
    raw: bytes, feed_url: str, *, source: Source | None = None, edition: str | None = None
) -> list[DiscoveredLink]:
    """Items of an RSS/Atom feed. A feed with entries is accepted even when feedparser flags it
    (`bozo`: a stray character, a wrong declared encoding); one without entries raises."""
    # Bytes only, no headers: feedparser would flag a missing Content-Type as malformed.
    parsed = feedparser.parse(raw)
    if not parsed.entries:
        if parsed.bozo:
            problem = getattr(parsed, "bozo_exception", None)
            raise DiscoveryError(f"malformed feed: {problem or 'not a feed'}", feed_url)
        raise DiscoveryError("empty feed: no items", feed_url)
    links: list[DiscoveredLink] = []
    for entry in parsed.entries:
        href = entry.get("link") or (entry.get("id") if entry.get("guidislink") else None)
        if not href:
            continue
        url = urljoin(feed_url, href.strip())
        article_id = source.article_id(url) if source else None
        if article_id is None:
            continue
        link_edition = edition or _edition_code(source, url)
        links.append(
            DiscoveredLink(url, article_id, link_edition, entry.get("title"), entry.get("published"))
        )
    return links


def links_from_listing(
    raw: bytes, page_url: str, source: Source, listing: Listing | None = None
) -> list[DiscoveredLink]:
    """Cards of a listing page in any of its card generations, resolved against `page_url`."""
    return _listing_links(raw, page_url, source, listing or _first_listing(source))[0]


def _first_listing(source: Source) -> Listing:
    return next(listing for edition in source.editions for listing in edition.listings)


def _listing_links(
    raw: bytes, page_url: str, source: Source, listing: Listing, limit: int | None = None
) -> tuple[list[DiscoveredLink], int]:
    """The page's links, the first `limit` only, and how many it listed (cards not read included)."""
    tree = HTMLParser(raw)
    links: list[DiscoveredLink] = []
    cards_seen = 0
    not_read = 0
    for selectors in listing.cards:
        cards = tree.css(selectors.card)
        cards_seen += len(cards)
        for position, card in enumerate(cards):
            if limit is not None and len(links) >= limit:
                not_read += len(cards) - position
                break
            anchor = card if selectors.link is None else card.css_first(selectors.link)
            href = anchor.attributes.get("href") if anchor is not None else None
            if not href:
                continue
            url = _without_fragment(urljoin(page_url, href.strip()))
            article_id = source.article_id(url)
            if article_id is None:
                continue
            links.append(
                DiscoveredLink(
                    url,
                    article_id,
                    _edition_code(source, url),
                    _text(card, selectors.title),
                    _text(card, selectors.time),
                )
            )
    if not cards_seen:
        raise DiscoveryError("listing page has no news cards (unknown markup or empty page)", page_url)
    return links, len(links) + not_read


def discovery_urls(source: Source, max_pages: int) -> list[str]:
    """Every feed and listing page a discovery of `source` may ask for."""
    pages = [
        listing.page(n)
        for edition in source.editions
        for listing in edition.listings
        for n in range(1, max_pages + 1)
    ]
    return source.feed_urls + pages


@dataclass(slots=True)
class DiscoveryResult:
    links: list[DiscoveredLink] = field(default_factory=list)  # one per article id, first seen wins
    pages: list[ListedPage] = field(default_factory=list)  # one per feed or listing page fetched
    links_not_followed: int = 0  # over the cap of links per page
    unfetched: int = 0  # feeds and listing pages the run's time limit left unasked or cut


async def discover(
    source: Source,
    fetcher: Fetcher,
    known_ids: Collection[str] = frozenset(),
    *,
    max_pages: int = 5,
    validators: Mapping[str, Validators] | None = None,
    max_links_per_page: int = MAX_LINKS_PER_PAGE,
) -> DiscoveryResult:
    """Every feed, then each edition's lenta pages 1..max_pages. An edition's paging stops at a page
    whose links are all in `known_ids`, at a page shorter than the first (the last page), and at a
    page that failed or could not be read. Each page gives at most `max_links_per_page` links."""
    result = DiscoveryResult()
    seen: set[str] = set()

    def keep(links: list[DiscoveredLink]) -> None:
        for link in links:
            if link.article_id not in seen:
                seen.add(link.article_id)
                result.links.append(link)

    def read(fetch: FetchResult, extract: Extractor) -> tuple[list[DiscoveredLink], ListedPage | None]:
        if fetch.unfetched:  # the run's time limit: no visit, the next run asks again
            result.unfetched += 1
            return [], None
        links, visit, dropped = _read(fetch, extract, max_links_per_page)
        result.pages.append(visit)
        result.links_not_followed += dropped
        keep(links)
        return links, visit

    feeds = [(e.code, url) for e in source.editions for url in e.feeds]
    fetched = await fetcher.fetch_many([url for _, url in feeds], validators, kind="feed")
    for (edition, _), fetch in zip(feeds, fetched, strict=True):
        read(fetch, _feed_reader(source, edition, max_links_per_page))

    for listing in (listing for edition in source.editions for listing in edition.listings):
        full_page = 0
        for page in range(1, max_pages + 1):
            fetch = await fetcher.fetch(listing.page(page), validators=validators)
            links, visit = read(fetch, _listing_reader(source, listing, max_links_per_page))
            if visit is None or visit.status != "listed":
                break
            full_page = full_page or len(links)
            all_known = all(link.article_id in known_ids for link in links)
            # A page shorter than the first is the last one: asking for the next would only 404.
            if all_known or len(links) < full_page:
                break
    return result


# A page's links, and how many links (or feed items) the page listed in all.
Extractor = Callable[[FetchResult], tuple[list[DiscoveredLink], int]]

_FEED_ITEM_START = re.compile(rb"<(?:[\w-]+:)?(?:item|entry)[\s>/]")
_FEED_ITEM_END = re.compile(rb"</(?:[\w-]+:)?(?:item|entry)\s*>")


def _listing_reader(source: Source, listing: Listing, max_links: int) -> Extractor:
    # Cards past the cap are counted, not read: reading 100,000 cards costs seconds.
    return lambda fetch: _listing_links(fetch.body or b"", fetch.final_url, source, listing, max_links)


def _feed_reader(source: Source, edition: str, max_links: int) -> Extractor:
    def extract(fetch: FetchResult) -> tuple[list[DiscoveredLink], int]:
        raw = fetch.body or b""
        items = len(_FEED_ITEM_START.findall(raw))
        if items > max_links:
            # feedparser builds every entry of a feed (~10 s for 100,000 short items): it is given
            # only the items that can be followed.
            raw = _first_feed_items(raw, max_links)
        links = links_from_feed(raw, fetch.final_url, source=source, edition=edition)
        return links, max(items, len(links))

    return extract


def _first_feed_items(raw: bytes, count: int) -> bytes:
    """The feed cut after its `count`-th item, closed again for RSS 2.0 and Atom (another kind is
    left open: feedparser flags it but keeps its entries)."""
    ends = _FEED_ITEM_END.finditer(raw)
    end = None
    for _ in range(count):
        end = next(ends, None)
        if end is None:
            return raw  # fewer closed items than counted: malformed, left to feedparser whole
    assert end is not None
    head = raw[:1024]
    closing = b"</channel></rss>" if b"<rss" in head else b"</feed>" if b"<feed" in head else b""
    return raw[: end.end()] + closing


def _read(
    fetch: FetchResult, extract: Extractor, max_links: int
) -> tuple[list[DiscoveredLink], ListedPage, int]:
    """The page's links (at most `max_links`), what came of it, and how many links were left out."""
    if fetch.outcome == "not_modified":
        return [], ListedPage(fetch, "not_modified"), 0
    if fetch.outcome != "ok":
        # A missing feed or page is a failure of discovery: only articles can be "gone".
        return [], ListedPage(fetch, "failed", fetch.error or f"HTTP {fetch.http_status}"), 0
    try:
        links, listed = extract(fetch)
    except DiscoveryError as exc:
        return [], ListedPage(fetch, "parse_error", exc.reason), 0
    except Exception as exc:  # a feed or page no rule foresaw (RecursionError, MemoryError…)
        return (
            [],
            ListedPage(
                fetch, "parse_error", f"could not read the page's links ({type(exc).__name__}: {exc})"
            ),
            0,
        )
    if listed > max_links:
        # The page was read fine, so it stays `listed`; its error column says what was left out.
        kept = links[:max_links]
        return (
            kept,
            ListedPage(fetch, "listed", f"links capped: kept {len(kept)} of {listed}"),
            listed - len(kept),
        )
    return links, ListedPage(fetch, "listed"), 0


def read_listing_page(
    fetch: FetchResult, source: Source, listing: Listing, max_links: int = MAX_LINKS_PER_PAGE
) -> tuple[list[DiscoveredLink], ListedPage, int]:
    """One fetched listing page: its links (at most `max_links`), what came of it, and how many
    links were left out (for callers that walk listings their own way, such as a backfill)."""
    return _read(fetch, _listing_reader(source, listing, max_links), max_links)


def _edition_code(source: Source | None, url: str) -> str | None:
    edition = source.edition_of(url) if source else None
    return edition.code if edition else None


def _text(card: Node, selector: str) -> str | None:
    node = card.css_first(selector)
    text = node.text(strip=True) if node is not None else ""
    return text or None


def _without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))
