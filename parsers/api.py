"""The parsers' public entry point: raw bytes (or a file) → one ArticleRecord, or ParseError.

    record = parse_bytes(raw, locator="seeds/x.txt")                  # text copy or HTML, detected
    record = parse_bytes(html, locator=url, url=url, known_tags=tags)
    record = parse_file("page.html.gz")

The source is the one whose hosts hold the address (`url`, else the page's own og:url or canonical
link; parsers.registry), or the one given; its parser version is chosen by the page's markers, and
a source without parser classes — or an address no source claims — gets the generic parser.
Every failure is a ParseError whose message starts with the locator and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from parsers.base import BaseParser, choose_version
from parsers.decode import decode_input
from parsers.html_shape import check_html_shape
from parsers.ids import article_id_from_path
from parsers.limits import InputTooLargeError, read_capped
from parsers.page import Page
from parsers.record import PARSED_FIELDS, ArticleRecord, ParseError
from parsers.registry import all_sources, generic_source, source_for_url, text_copy_source
from parsers.source import Source
from parsers.text_copy import parse_text_copy

__all__ = ["ArticleRecord", "ParseError", "parse_bytes", "parse_file", "parse_html", "parser_versions"]


def parser_versions(source: Source) -> tuple[type[BaseParser], ...]:
    """The source's parser versions, newest first; the generic parser for a source without any."""
    if source.parsers:
        return source.parsers
    from parsers.generic import GenericParser  # trafilatura is imported only when a page needs it

    return (GenericParser,)


def parse_html(
    html: str,
    *,
    locator: str,
    url: str | None = None,
    source: Source | None = None,
    fetched_at: datetime | None = None,
) -> ArticleRecord:
    """A decoded HTML page → record, read by its source's parser."""
    check_html_shape(html, locator)  # before the tree is built: that is where deep nesting costs
    page = Page.from_html(html, url)
    page.fetched_at = fetched_at
    if source is None:
        source = source_for_url(page.url) if page.url else _source_by_markers(page)
    edition = source.edition_of(page.url) if page.url and not source.generic else None
    page.edition_language = edition.language if edition else None
    version = choose_version(parser_versions(source), page)
    parser = version(page)
    try:
        return _record(parser, page, source, locator, len(html))
    except ParseError:
        raise
    except Exception as error:
        # One page a parser cannot read names the parser that failed; the run goes on.
        reason = f"parser {version.parser_id()} failed on this page ({type(error).__name__}: {error})"
        raise ParseError(reason, source_name=locator) from error


def _record(parser: BaseParser, page: Page, source: Source, locator: str, size: int) -> ArticleRecord:
    """The record of the page as `parser` reads it; ParseError when it holds no article."""
    fields = parser.extract()
    parser_id = type(parser).parser_id()
    has_body = bool(fields["body"])
    if page.truncated and (not has_body or not parser.body_is_complete()):
        raise ParseError(
            f"truncated HTML: the page ends after {size} characters without </html>, "
            f"and the article body is {'incomplete' if has_body else 'missing'}",
            source_name=locator,
        )
    if not parser.has_article_signal():
        raise ParseError(
            "HTML page holds no article (no article element, headline, body container or article metadata)",
            source_name=locator,
        )
    if not fields["title"] and not has_body:
        raise ParseError("HTML page holds no article (no headline and no article body)", source_name=locator)
    if not has_body:
        raise ParseError(
            f"HTML page has a headline ({fields['title'][:60]!r}) but no article body "
            f"(parser {parser_id}: its selectors matched nothing)",
            source_name=locator,
        )
    if not fields["title"]:
        raise ParseError("HTML page has an article body but no headline", source_name=locator)
    article_url = page.url
    article_id = (source.article_id(article_url) if article_url else None) or article_id_from_path(locator)
    return ArticleRecord(
        source=source.name,
        article_id=article_id,
        url=article_url,
        parser=parser_id,
        **{name: fields[name] for name in PARSED_FIELDS},
    )


def _source_by_markers(page: Page) -> Source:
    """A page without any address: the registered source whose layout markers it carries."""
    for source in all_sources():
        if any(version.matches(page) for version in source.parsers):
            return source
    return generic_source(None)


def _text_copy(
    text: str, locator: str, url: str | None, source: Source | None, known_tags: Collection[str]
) -> ArticleRecord:
    if source is None:
        source = source_for_url(url) if url else text_copy_source() or generic_source(None)
    article_id = (source.article_id(url) if url else None) or article_id_from_path(locator)
    return parse_text_copy(
        text, locator=locator, source=source.name, article_id=article_id, url=url, known_tags=known_tags
    )


def parse_bytes(
    raw: bytes,
    *,
    locator: str,
    url: str | None = None,
    source: Source | None = None,
    known_tags: Collection[str] = (),
    fetched_at: datetime | None = None,
) -> ArticleRecord:
    """Raw input (HTML, gzip'd HTML or a text copy) → record; ParseError naming `locator` otherwise.

    `locator` is the file path or address used in messages (and, for a text copy with no `url`,
    the source of the article id); `known_tags` are multi-word tags seen before, used to split a
    text copy's run-together tags line.
    """
    try:
        text, kind = decode_input(raw, locator)
        if kind == "html":
            return parse_html(text, locator=locator, url=url, source=source, fetched_at=fetched_at)
        return _text_copy(text, locator, url, source, known_tags)
    except ParseError as error:
        if error.source_name is None:  # raised deep in a parser that does not know the locator
            raise ParseError(error.reason, source_name=locator) from None
        raise
    except Exception as error:
        # A page no rule foresaw must not stop a run: it becomes a parse error whose reason names the
        # failure, and the raw bytes kept by the warehouse can be parsed again once it is fixed.
        # That includes RecursionError and MemoryError. Catching MemoryError is right here because
        # every input is bounded (parsers.limits): running out of memory on one bounded input means
        # this input was hostile, not that the process is broken; what it allocated is freed once
        # the exception is dropped, and the next input parses as usual.
        reason = f"parser failure on this input ({type(error).__name__}: {error})"
        raise ParseError(reason, source_name=locator) from error


def parse_file(
    path: str | Path, url: str | None = None, known_tags: Collection[str] = (), source: Source | None = None
) -> ArticleRecord:
    """Read and parse one file (.txt, .html, .htm, .html.gz); a file over MAX_INPUT_BYTES is not read."""
    try:
        raw = read_capped(Path(path))
    except InputTooLargeError as error:
        raise ParseError(str(error), source_name=str(path)) from None
    except OSError as error:
        raise ParseError(f"cannot read file ({error.strerror})", source_name=str(path)) from None
    return parse_bytes(raw, locator=str(path), url=url, known_tags=known_tags, source=source)
