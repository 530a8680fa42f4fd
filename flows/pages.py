"""The crawl's plan: which article addresses to fetch (fetched pages become visits in flows.visits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crawler.discover import DiscoveredLink
from crawler.fetch import Validators


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
