"""The crawl's plan: which article addresses to fetch (fetched pages become visits in flows.visits)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from crawler.discover import DiscoveredLink
from crawler.fetch import Validators
from parsers.source import Source


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


def plan_of_part(plan: CrawlPlan, source: Source, editions: Collection[str]) -> CrawlPlan:
    """The plan of a stage run crawling only these editions (flows.stage_flow.crawl_units): the
    revisits on its hosts; the other parts' runs revisit the rest."""
    return replace(plan, revisit=[(i, url) for i, url in plan.revisit if source.in_part(editions, url)])


def links_of_part(
    links: Sequence[DiscoveredLink], source: Source, editions: Collection[str]
) -> list[DiscoveredLink]:
    """Links on this part's hosts: one found on another part's host is left to that part's run,
    which holds that host (its own feeds and listings list it too)."""
    return [link for link in links if source.in_part(editions, link.url)]
