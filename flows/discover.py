"""Discovery: article links from RSS feeds and lenta pages.

`links_from_feed` and `links_from_listing` are pure (bytes in, links out); `discover` drives them
over a Fetcher and returns, beside the links, one VisitInput per feed or listing page fetched, so
a broken feed is recorded like any other visit and the crawl goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from flows.fetch import Fetcher, FetchResult, Validators, to_visit_input
from parsers.ids import article_id_from_url
from parsers.sources import Source
from warehouse.visit import VisitInput


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    url: str
    article_id: str
    edition: str | None
    title: str | None = None
    published_text: str | None = None  # as the feed or card printed it


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
        article_id = article_id_from_url(url)
        if article_id is None:
            continue
        link_edition = edition or _edition_code(source, url)
        links.append(
            DiscoveredLink(url, article_id, link_edition, entry.get("title"), entry.get("published"))
        )
    return links


def links_from_listing(raw: bytes, page_url: str, source: Source) -> list[DiscoveredLink]:
    """Cards of a lenta page in any of the source's card generations, resolved against `page_url`."""
    tree = HTMLParser(raw)
    links: list[DiscoveredLink] = []
    cards_seen = 0
    for selectors in source.listing_cards:
        for card in tree.css(selectors.card):
            cards_seen += 1
            anchor = card if selectors.link is None else card.css_first(selectors.link)
            href = anchor.attributes.get("href") if anchor is not None else None
            if not href:
                continue
            url = _without_fragment(urljoin(page_url, href.strip()))
            article_id = article_id_from_url(url)
            if article_id is None or (urlsplit(url).hostname or "").lower() not in source.allowed_hosts:
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
    return links


def next_listing_page(page_url: str, n: int) -> str:
    """`page_url` at page `n` (…/ru/lenta?page=n); page 1 is the bare listing address."""
    parts = urlsplit(page_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    if n > 1:
        query.append(("page", str(n)))
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


def discovery_urls(source: Source, max_pages: int) -> list[str]:
    """Every feed and lenta page a discovery of `source` may ask for."""
    pages = [
        next_listing_page(e.listing_url, n)
        for e in source.editions
        if e.listing_url
        for n in range(1, max_pages + 1)
    ]
    return source.feed_urls + pages


@dataclass(slots=True)
class DiscoveryResult:
    links: list[DiscoveredLink] = field(default_factory=list)  # one per article id, first seen wins
    visits: list[VisitInput] = field(default_factory=list)  # one per feed or listing page fetched


async def discover(
    source: Source,
    fetcher: Fetcher,
    known_ids: Collection[str] = frozenset(),
    *,
    max_pages: int = 5,
    validators: Mapping[str, Validators] | None = None,
) -> DiscoveryResult:
    """Every feed, then each edition's lenta pages 1..max_pages. An edition's paging stops at a page
    whose links are all in `known_ids`, at a page shorter than the first (the last page), and at a
    page that failed or could not be read."""
    result = DiscoveryResult()
    seen: set[str] = set()

    def keep(links: list[DiscoveredLink]) -> None:
        for link in links:
            if link.article_id not in seen:
                seen.add(link.article_id)
                result.links.append(link)

    feeds = [(e.code, e.feed_url) for e in source.editions if e.feed_url]
    fetched = await fetcher.fetch_many([url for _, url in feeds], validators, kind="feed")
    for (edition, _), fetch in zip(feeds, fetched, strict=True):
        links, visit = _read(fetch, source, _feed_reader(source, edition))
        result.visits.append(visit)
        keep(links)

    for edition in source.editions:
        if not edition.listing_url:
            continue
        full_page = 0
        for page in range(1, max_pages + 1):
            fetch = await fetcher.fetch(next_listing_page(edition.listing_url, page), validators=validators)
            links, visit = _read(
                fetch, source, lambda f: links_from_listing(f.body or b"", f.final_url, source)
            )
            result.visits.append(visit)
            keep(links)
            full_page = full_page or len(links)
            all_known = all(link.article_id in known_ids for link in links)
            # A page shorter than the first is the last one: asking for the next would only 404.
            if visit.status != "listed" or all_known or len(links) < full_page:
                break
    return result


Extractor = Callable[[FetchResult], list[DiscoveredLink]]


def _feed_reader(source: Source, edition: str) -> Extractor:
    return lambda f: links_from_feed(f.body or b"", f.final_url, source=source, edition=edition)


def _read(fetch: FetchResult, source: Source, extract: Extractor) -> tuple[list[DiscoveredLink], VisitInput]:
    if fetch.outcome == "not_modified":
        return [], to_visit_input(fetch, source.name, status="not_modified")
    if fetch.outcome != "ok":
        # A missing feed or page is a failure of discovery: only articles can be "gone".
        reason = fetch.error or f"HTTP {fetch.http_status}"
        return [], to_visit_input(fetch, source.name, status="failed", error=reason)
    try:
        links = extract(fetch)
    except DiscoveryError as exc:
        return [], to_visit_input(fetch, source.name, status="parse_error", error=exc.reason)
    return links, to_visit_input(fetch, source.name, status="listed")


def _edition_code(source: Source | None, url: str) -> str | None:
    edition = source.edition_of(url) if source else None
    return edition.code if edition else None


def _text(card: Node, selector: str) -> str | None:
    node = card.css_first(selector)
    text = node.text(strip=True) if node is not None else ""
    return text or None


def _without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))
