"""The one step that turns bytes — read from a file or fetched over HTTP — into visits for the loader.

    visit = visit_from_bytes(raw, locator=path, url=None, visited_at=now, source=None)   # a file
    visits = visits_from_fetches(results, source, known_tags)                          # a crawl batch

The parser chooses the source from the address (parsers.api); a crawl passes the source it crawls.
A failure to parse is the input's `parse_error` visit, its raw bytes kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from crawler.discover import ListedPage
from crawler.fetch import FetchResult
from parsers.api import parse_bytes
from parsers.record import ParseError
from parsers.registry import NO_ADDRESS, source_for_url, text_copy_source
from parsers.source import Source
from warehouse.visit import FetchStatus, VisitInput


def visit_from_bytes(
    raw: bytes,
    *,
    locator: str,
    url: str | None,
    visited_at: datetime,
    source: Source | None = None,
    known_tags: Collection[str] = (),
    **http: Any,
) -> VisitInput:
    """Parse `raw`; a record makes a `parsed` visit, a ParseError a `parse_error` visit with the reason.
    `http` carries what a fetch adds (requested_url, http_status, etag, last_modified, content_type)."""
    try:
        record = parse_bytes(
            raw, locator=locator, url=url, source=source, known_tags=known_tags, fetched_at=visited_at
        )
    except ParseError as error:
        owner = source or _owner(url)
        article_id = owner.article_id(url) if owner is not None and url else None
        name = owner.name if owner is not None else NO_ADDRESS
        return VisitInput(
            name,
            locator,
            visited_at,
            "parse_error",
            raw=raw,
            error=error.reason,
            article_id=article_id,
            **http,
        )
    return VisitInput(
        record.source,
        locator,
        visited_at,
        "parsed",
        record=record,
        article_id=record.article_id,
        raw=raw,
        **http,
    )


def _owner(url: str | None) -> Source | None:
    return source_for_url(url) if url else text_copy_source()


def failed_visit(locator: str, visited_at: datetime, reason: str, source: Source | None = None) -> VisitInput:
    """An input that could not be read at all (a file, not an HTTP answer)."""
    owner = source or text_copy_source()
    return VisitInput(owner.name if owner else NO_ADDRESS, locator, visited_at, "failed", error=reason)


def _http(result: FetchResult) -> dict[str, Any]:
    return {
        "requested_url": result.requested_url if result.redirected else None,
        "http_status": result.http_status,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "content_type": result.content_type,
    }


def visit_from_fetch(
    result: FetchResult, source: Source, status: FetchStatus | None = None, error: str | None = None
) -> VisitInput:
    """A fetch that is not parsed here (304, 404/410, failures, feeds and listing pages) as a visit;
    its article id comes from the address."""
    if status is None:
        if result.outcome == "ok":
            raise ValueError("a fetched body needs a status: parsed, parse_error or listed")
        status = result.outcome
    return VisitInput(
        source=source.name,
        locator=result.final_url,
        visited_at=result.fetched_at,
        status=status,
        article_id=source.article_id(result.final_url) or source.article_id(result.requested_url),
        raw=result.body,
        error=error or result.error,
        **_http(result),
    )


def visits_from_listed(pages: Sequence[ListedPage], source: Source) -> list[VisitInput]:
    """Feed and listing pages as visits (they hold no article: no article id)."""
    visits = []
    for page in pages:
        visit = visit_from_fetch(page.fetch, source, status=page.status, error=page.error)  # type: ignore[arg-type]
        visit.article_id = None
        visit.pack()
        visits.append(visit)
    return visits


def visits_from_fetches(
    results: Sequence[FetchResult], source: Source, known_tags: Collection[str] = ()
) -> list[VisitInput]:
    """Parse each usable body with `source`'s parser; everything else (304, 404/410, failures)
    passes through as a visit. URLs the run's time limit left unfetched are no visit.

    Bodies leave here packed (hashed and compressed): a crawl's pages wait for their load, and an
    HTML page held compressed is ~5× smaller. Compressing here is no extra work for a crawl: a new or
    changed body is compressed by its load anyway, and an unchanged page mostly answers 304, with no
    body. A file ingest does not pack: it re-reads every file on a revisit, and the load compresses
    only the bodies it does not find stored."""
    visits: list[VisitInput] = []
    for result in results:
        if result.unfetched:
            continue
        if result.outcome != "ok":
            visits.append(visit_from_fetch(result, source))
            continue
        visit = visit_from_bytes(
            result.body or b"",
            locator=result.final_url,
            url=result.final_url,
            visited_at=result.fetched_at,
            source=source,
            known_tags=known_tags,
            **_http(result),
        )
        if visit.status == "parse_error" and visit.article_id is None:
            visit.article_id = source.article_id(result.requested_url)
        visits.append(visit)
    for visit in visits:
        visit.pack()
    return visits
