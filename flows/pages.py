"""The crawl's plan and parse steps: which article addresses to fetch, and fetched pages → visits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from flows.discover import DiscoveredLink
from flows.fetch import FetchResult, Validators, to_visit_input
from parsers.api import parse_bytes
from parsers.record import ParseError
from warehouse.visit import VisitInput


@dataclass(slots=True)
class CrawlPlan:
    """What the warehouse knows before a crawl of one source."""

    known_ids: set[str] = field(default_factory=set)
    deleted_ids: set[str] = field(default_factory=set)  # known, but gone at the last visit
    revisit: list[tuple[str, str]] = field(default_factory=list)  # (article_id, current url)
    validators: dict[str, Validators] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()


def urls_to_fetch(links: Sequence[DiscoveredLink], plan: CrawlPlan) -> list[str]:
    """New (or gone and listed again) articles from discovery, then the revisits; one address each.

    A revisit asks for the address the warehouse holds (not the one discovery found), so that a
    moved article answers with its redirect and the move is recorded.
    """
    urls: dict[str, str] = {}
    for link in links:
        if link.article_id not in plan.known_ids or link.article_id in plan.deleted_ids:
            urls.setdefault(link.article_id, link.url)
    for article_id, url in plan.revisit:
        urls.setdefault(article_id, url)
    return list(urls.values())


def visits_from_pages(
    results: Sequence[FetchResult], source_name: str, known_tags: Collection[str] = ()
) -> list[VisitInput]:
    """Parse each usable body; everything else (304, 404/410, failures) passes through as a visit.

    URLs the run's time limit left unfetched are no visit. A failure of the parser on one page, of
    whatever kind (parse_bytes turns every one into a ParseError), is that page's `parse_error`.
    """
    visits: list[VisitInput] = []
    for result in results:
        if result.unfetched:
            continue
        if result.outcome != "ok":
            visits.append(to_visit_input(result, source_name))
            continue
        try:
            record = parse_bytes(
                result.body or b"",
                locator=result.final_url,
                url=result.final_url,
                source=source_name,
                known_tags=known_tags,
            )
        except ParseError as error:
            visits.append(to_visit_input(result, source_name, status="parse_error", error=error.reason))
            continue
        visits.append(to_visit_input(result, source_name, record.article_id, status="parsed", record=record))
    return visits
