"""Everything computed once per HTML page and shared by every attribute method of a parser.

The tree is built by selectolax's lexbor backend: on 100–300 KB pages it is several times faster
than lxml and an order of magnitude faster than BeautifulSoup (see benchmarks/parse.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from parsers.record import normalize_text

_ARTICLE_TYPES = frozenset({"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle"})
_CLOSING_TAGS = ("</html", "</HTML", "</body", "</BODY")


def _meta_tags(tree: LexborHTMLParser) -> dict[str, list[str]]:
    """`<meta>` by lower-cased property/name/itemprop → every content value, in page order."""
    meta: dict[str, list[str]] = {}
    for node in tree.css("meta"):
        attributes = node.attributes
        key = attributes.get("property") or attributes.get("name") or attributes.get("itemprop")
        content = attributes.get("content")
        if key and content:
            meta.setdefault(key.lower(), []).append(content)
    return meta


def _article_objects(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    found: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "@graph" in item:
            found.extend(_article_objects(item["@graph"]))
        kind = item.get("@type")
        kinds = set(kind) if isinstance(kind, list) else {kind}
        if kinds & _ARTICLE_TYPES:
            found.append(item)
    return found


def _news_article(tree: LexborHTMLParser) -> dict[str, Any]:
    """The page's JSON-LD NewsArticle (or Article); {} when absent or unreadable."""
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(deep=True))
        except (ValueError, RecursionError):
            # Broken JSON-LD is common (and JSON nested thousands deep exhausts the decoder's
            # stack); the visible markup still carries the article.
            continue
        articles = _article_objects(data)
        if articles:
            return articles[0]
    return {}


@dataclass(slots=True)
class Page:
    """A parsed HTML page: tree, meta tags, JSON-LD article, and the address it came from."""

    html: str
    tree: LexborHTMLParser
    meta: dict[str, list[str]]
    json_ld: dict[str, Any]
    url: str | None
    html_lang: str | None
    truncated: bool
    # The language of the source edition that holds `url` (set by parsers.api); None when unknown.
    edition_language: str | None = None
    # When the page was fetched or read: relative dates on it ("Сегодня, 14:30") count from here.
    fetched_at: datetime | None = None

    @classmethod
    def from_html(cls, html: str, url: str | None = None) -> Page:
        tree = LexborHTMLParser(html)
        meta = _meta_tags(tree)
        json_ld = _news_article(tree)
        root = tree.root
        page = cls(
            html=html,
            tree=tree,
            meta=meta,
            json_ld=json_ld,
            url=url,
            html_lang=(root.attributes.get("lang") if root is not None else None) or None,
            truncated=not any(tag in html for tag in _CLOSING_TAGS),
        )
        page.url = url or page.declared_url()
        return page

    def meta_value(self, *keys: str) -> str | None:
        """First non-empty content among the given meta keys, normalized."""
        for key in keys:
            for value in self.meta.get(key, ()):
                text = normalize_text(value)
                if text:
                    return text
        return None

    def ld_value(self, key: str) -> Any:
        return self.json_ld.get(key)

    def declared_url(self) -> str | None:
        """The page's own address: og:url, canonical link, JSON-LD url/mainEntityOfPage."""
        og_url = self.meta_value("og:url")
        if og_url:
            return og_url
        canonical = self.tree.css_first('link[rel="canonical"]')
        if canonical is not None and canonical.attributes.get("href"):
            return canonical.attributes["href"]
        for key in ("url", "mainEntityOfPage"):
            value = self.json_ld.get(key)
            if isinstance(value, dict):
                value = value.get("@id") or value.get("url")
            if isinstance(value, str) and value.startswith("http"):
                return value
        return None

    def first(self, selectors: tuple[str, ...], scope: LexborNode | None = None) -> LexborNode | None:
        """First node matching the first selector that matches anything (selectors in priority order)."""
        base = scope if scope is not None else self.tree
        for selector in selectors:
            node = base.css_first(selector)
            if node is not None:
                return node
        return None

    def all(self, selectors: tuple[str, ...], scope: LexborNode | None = None) -> list[LexborNode]:
        """Every node of the first selector that matches anything."""
        base = scope if scope is not None else self.tree
        for selector in selectors:
            nodes = base.css(selector)
            if nodes:
                return nodes
        return []
