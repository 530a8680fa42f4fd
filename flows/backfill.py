"""A backfill: walk each listing of a source back to a date (doubling, then halving the page number)
into ranges of listing pages, and discover the cards of one range, kept when dated inside it.
`kazinform backfill` fans the ranges out as `stage-source` runs (flows.stage_flow)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crawler.discover import DiscoveredLink, DiscoveryResult, read_listing_page
from crawler.fetch import Fetcher
from flows.crawl_pipeline import fetch_config
from flows.fanout_cli import PAGES_PER_STAGE_RUN
from flows.host_limits import Logger, holding_hosts, host_limit_names
from flows.pages import CrawlPlan
from parsers.dates import parse_shown_date
from parsers.registry import get_source
from parsers.source import Listing, Source


@dataclass(frozen=True, slots=True)
class ListingRange:
    """Pages `first`..`last` of one listing of one edition, and the dates the backfill wants."""

    edition: str
    listing: int  # index in the edition's listings
    first: int
    last: int
    since: str | None = None  # ISO dates; a card dated outside is not followed
    until: str | None = None

    def as_parameters(self) -> dict[str, Any]:
        return {
            "edition": self.edition,
            "listing": self.listing,
            "first_page": self.first,
            "last_page": self.last,
            "since": self.since,
            "until": self.until,
        }


def _day(text: str | None, end: bool = False) -> datetime | None:
    if not text:
        return None
    day = datetime.fromisoformat(text)
    if day.tzinfo is None:
        day = day.replace(tzinfo=UTC)
    if end and len(text) <= 10:  # a date alone: the whole day
        day = day.replace(hour=23, minute=59, second=59)
    return day


def card_date(link: DiscoveredLink, now: datetime | None = None) -> datetime | None:
    return parse_shown_date(link.published_text, now)


def within(link: DiscoveredLink, since: datetime | None, until: datetime | None) -> bool:
    """A card dated inside [since, until]; an undated card is kept (it may be inside)."""
    shown = card_date(link)
    if shown is None:
        return True
    return (since is None or shown >= since) and (until is None or shown <= until)


async def discover_range(
    source: Source, fetcher: Fetcher, plan: CrawlPlan, pages: ListingRange, max_links_per_page: int
) -> DiscoveryResult:
    """The cards of pages `first`..`last` of one listing, kept when dated inside the range. Every
    page is a visit as in a discovery (listed, not_modified, failed, parse_error)."""
    listing: Listing = source.edition(pages.edition).listings[pages.listing]
    since, until = _day(pages.since), _day(pages.until, end=True)
    result = DiscoveryResult()
    seen: set[str] = set()
    for number in range(pages.first, pages.last + 1):
        # no validators: a listing page seen before answers 304, and a backfill wants its cards
        fetch = await fetcher.fetch(listing.page(number))
        if fetch.unfetched:
            result.unfetched += pages.last - number + 1
            break
        links, visit, dropped = read_listing_page(fetch, source, listing, max_links_per_page)
        result.pages.append(visit)
        result.links_not_followed += dropped
        for link in links:
            if link.article_id not in seen and within(link, since, until):
                seen.add(link.article_id)
                result.links.append(link)
        if visit.status != "listed":
            break  # past the end of the listing, or a page that cannot be read
    return result


# --- the backfill's walk back through the listings ---------------------------------------------------

# The walk doubles the page number until the cards are older than --since: 2^20 pages is more
# than any archive (Kazinform's lenta has ~30,000), and bounds the walk at ~40 requests per listing.
MAX_LISTING_PAGE = 1 << 20


@dataclass(slots=True)
class BackfillWalk:
    """The ranges of listing pages whose cards fall in [since, until], and the pages asked for."""

    ranges: list[ListingRange] = field(default_factory=list)
    pages_asked: int = 0
    notes: list[str] = field(default_factory=list)  # listings left out, and why


async def _page_dates(
    fetcher: Fetcher, source: Source, listing: Listing, number: int
) -> tuple[datetime, datetime] | None:
    """(newest, oldest) card date of listing page `number`; None past the end of the listing, for a
    page that cannot be read, or one whose cards show no date."""
    fetch = await fetcher.fetch(listing.page(number))
    links, visit, _ = read_listing_page(fetch, source, listing)
    if visit.status != "listed":
        return None
    dates = [d for d in (card_date(link, fetch.fetched_at) for link in links) if d is not None]
    return (max(dates), min(dates)) if dates else None


async def walk_listing(
    fetcher: Fetcher,
    source: Source,
    edition: str,
    index: int,
    since: datetime,
    until: datetime | None,
    pages_per_run: int,
) -> tuple[list[ListingRange], int]:
    """The page ranges of one listing holding cards dated in [since, until], found by doubling the
    page number until the cards are older than `since`, then halving the gap: ~2·log2(pages)
    requests, not one per page. Listings are newest first."""
    listing = source.edition(edition).listings[index]
    cache: dict[int, tuple[datetime, datetime] | None] = {}

    async def dates(number: int) -> tuple[datetime, datetime] | None:
        if number not in cache:
            cache[number] = await _page_dates(fetcher, source, listing, number)
        return cache[number]

    async def too_old(number: int) -> bool:  # or past the end
        found = await dates(number)
        return found is None or found[0] < since

    async def first_where(predicate: Any, low: int, high: int) -> int:
        """The first page in (low, high] where `predicate` holds, given it holds at `high` and
        (monotone) from there on."""
        while high - low > 1:
            middle = (low + high) // 2
            if await predicate(middle):
                high = middle
            else:
                low = middle
        return high

    if await too_old(1):
        return [], len(cache)
    low, high = 1, 2
    while not await too_old(high):
        low, high = high, high * 2
        if high > MAX_LISTING_PAGE:
            high = MAX_LISTING_PAGE + 1
            break
    last = await first_where(too_old, low, high) - 1
    first = 1
    if until is not None:

        async def too_new(number: int) -> bool:
            found = await dates(number)
            return found is not None and found[1] > until

        if await too_new(1):
            if await too_new(last):
                return [], len(cache)
            first = await first_where(lambda n: _not(too_new(n)), 1, last)
    since_text = since.isoformat()
    until_text = until.isoformat() if until else None
    ranges = [
        ListingRange(edition, index, start, min(start + pages_per_run - 1, last), since_text, until_text)
        for start in range(first, last + 1, pages_per_run)
    ]
    return ranges, len(cache)


async def _not(awaitable: Any) -> bool:
    return not await awaitable


async def walk_back(
    source_name: str,
    since: datetime,
    until: datetime | None = None,
    pages_per_run: int = PAGES_PER_STAGE_RUN,
    rate_per_host: float | None = None,
    logger: Logger | None = None,
) -> BackfillWalk:
    """Every listing of every edition of the source, walked back to `since`; the source's hosts'
    slots are held meanwhile, as a stage run holds them."""
    log = logger or logging.getLogger("kazinform.backfill")
    source = get_source(source_name)
    walk = BackfillWalk()
    config = fetch_config(source, rate_per_host, None)
    async with (
        holding_hosts(host_limit_names(source.name), log),
        Fetcher.for_source(source, config) as fetcher,
    ):
        for edition in source.editions:
            if not edition.listings:
                walk.notes.append(f"{source.name} {edition.code}: no listing pages (feeds only)")
            for index in range(len(edition.listings)):
                ranges, asked = await walk_listing(
                    fetcher, source, edition.code, index, since, until, pages_per_run
                )
                walk.pages_asked += asked
                walk.ranges.extend(ranges)
                if not ranges:
                    walk.notes.append(f"{source.name} {edition.code}: no cards in the range")
    return walk
