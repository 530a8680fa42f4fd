"""Replica sites beside Kazinform, each mounted on the replica under its host's path prefix
(`/{host}/…`, the layout `Source.on_mirror` gives a source), and The Astana Times, a feed-only
WordPress-like outlet read by the generic parser.

Design: every site is an object with the Kazinform ReplicaSite's editor actions (edit, move with
a redirect, delete 404/410, restore, publish), fault phases (set_fault/clear_fault on a request
path) and conditional answers (ETag/Last-Modified → 304). ReplicaSite.mount(site) hands it every
request under one of its `prefixes`, full path included, so a fault or a URL is named by the path
a crawler asks for. `MountedSite` holds what the sites share; a site says how its paths look
(`route`, `article_path`) and how its pages read (`render_article`, `render_feed`).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from replica import render
from replica.catalogue import make_article, slugify
from replica.faults import Fault
from replica.site import (
    EditorPhases,
    RequestRecord,
    Response,
    _conditional,
    _next_instant,
    _not_found,
    _post_fault,
)

_HTML = "text/html; charset=utf-8"
_RSS = "application/rss+xml; charset=utf-8"


@dataclass(slots=True)
class SiteArticle:
    """One article of a mounted site. `article_id` is the key its source's parser gives it."""

    article_id: str
    edition: str  # the edition code of the source (ru, kz, en)
    number: str  # what the address carries besides the slug: the numeric id, or WordPress's yyyy/mm
    section: str
    slug: str
    title: str
    lead: str
    paragraphs: list[str]
    tags: list[str]
    author: str
    published_at: datetime  # aware UTC
    modified_at: datetime  # aware UTC; drives Last-Modified
    gone_status: int | None = None
    old_paths: list[str] = field(default_factory=list)  # answered with 301 to the current path
    revision: int = 0  # bumped on every change; part of the render cache key


def article_text(rng: random.Random, language: str, published_at: datetime, outlet: str) -> dict[str, Any]:
    """Title, lead, paragraphs, tags and author in `language` (ru, kz, en) from the Kazinform
    catalogue's word lists, the outlet's name in place of the agency's."""
    made = make_article(rng, language, "0", published_at, 0.0)
    paragraphs = [p for _, texts, _ in made.sections for p in texts]
    lead = made.lead.replace("Kazinform News Agency", outlet).replace("Kazinform", outlet)
    return {
        "title": made.title,
        "lead": lead,
        "paragraphs": paragraphs,
        "tags": made.tags,
        "author": made.author,
    }


class MountedSite(EditorPhases):
    """What every mounted site shares: catalogue, editor actions, faults, conditional answers."""

    name = "site"
    prefixes: tuple[str, ...] = ()

    def __init__(self, articles: list[SiteArticle], seed: int = 0) -> None:
        self.articles: dict[str, SiteArticle] = {a.article_id: a for a in articles}
        self._rng = random.Random(seed + 7)
        self._lock = threading.RLock()
        self._faults: dict[str, Fault] = {}
        self._render_cache: dict[tuple[str, int, str], tuple[bytes, str]] = {}
        self.feed_size = 50
        newest = max((a.published_at for a in articles), default=datetime(2026, 1, 1, tzinfo=UTC))
        self.changed_at = newest.replace(microsecond=0)  # Last-Modified of feeds and listings
        self.request_log: list[RequestRecord] = []

    # --- what a site defines ------------------------------------------------------------------

    def article_path(self, article: SiteArticle) -> str:
        raise NotImplementedError

    def route(self, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        raise NotImplementedError

    def render_article(self, article: SiteArticle, base_url: str) -> str:
        raise NotImplementedError

    def new_article(self, edition: str, published_at: datetime) -> SiteArticle:
        raise NotImplementedError

    def empty_listing(self, path: str, base_url: str) -> bytes:
        return b"<!DOCTYPE html><html><body><div class='content_main'></div></body></html>"

    # --- reading the catalogue ----------------------------------------------------------------

    def serves(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    def live_articles(self, edition: str | None = None) -> list[SiteArticle]:
        """Articles not deleted, newest first."""
        with self._lock:
            found = [
                a
                for a in self.articles.values()
                if a.gone_status is None and (edition is None or a.edition == edition)
            ]
        return sorted(found, key=lambda a: a.published_at, reverse=True)

    def url_of(self, article_id: str, base_url: str) -> str:
        return base_url.rstrip("/") + self.article_path(self.articles[article_id])

    # --- phases -------------------------------------------------------------------------------

    def _replace_body(self, article: SiteArticle, body: list[str]) -> None:
        article.paragraphs = list(body)

    def move(self, article_id: str, new_slug: str | None = None) -> SiteArticle:
        """A new slug; every former address answers 301 to the new one. The page re-renders (its
        canonical address changed) but keeps its dateModified: a new address is not an edit."""
        with self._lock:
            article = self.articles[article_id]
            article.old_paths.append(self.article_path(article))
            article.slug = new_slug or slugify(f"{article.title} {article.revision + 1}")
            article.revision += 1
            self.changed_at = _next_instant(self.changed_at)
            return article

    def publish(self, edition: str | None = None) -> SiteArticle:
        """A new article, newer than every other one."""
        with self._lock:
            newest = max((a.published_at for a in self.articles.values()), default=self.changed_at)
            article = self.new_article(edition or self.default_edition(), newest + timedelta(minutes=5))
            self.articles[article.article_id] = article
            self.changed_at = _next_instant(max(self.changed_at, article.published_at))
            return article

    def default_edition(self) -> str:
        return next(iter(self.articles.values())).edition if self.articles else "en"

    # --- answering ----------------------------------------------------------------------------

    def respond(self, method: str, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        with self._lock:
            fault = self._faults.get(path)
            if fault and fault.consume():
                del self._faults[path]
        response = self._faulty(fault, path, query, base_url) if fault else None
        if response is None:
            response = self.route(path, query, headers, base_url)
            if fault:
                response = _post_fault(fault, response)
        self.request_log.append(
            RequestRecord(method, path, query, headers, response.status, time.monotonic())
        )
        return response

    def article_answer(
        self, article: SiteArticle | None, path: str, headers: dict[str, str], base_url: str
    ) -> Response:
        """The article's page; 301 from a former or variant address; 404/410 once deleted."""
        if article is None:
            return _not_found()
        if article.gone_status is not None:
            return Response(article.gone_status, {"Content-Type": _HTML}, b"<h1>Gone</h1>")
        current = self.article_path(article)
        if path != current:
            return Response(301, {"Location": base_url + current})
        key = (article.article_id, article.revision, base_url)
        rendered = self._render_cache.get(key)
        if rendered is None:
            page = self.render_article(article, base_url).encode()
            rendered = page, '"' + hashlib.sha1(page).hexdigest()[:20] + '"'
            self._render_cache[key] = rendered
        page, etag = rendered
        return _conditional(headers, page, _HTML, article.modified_at, etag)


def rss(title: str, link: str, language: str, items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{xml_escape(title)}</title>\n<link>{xml_escape(link)}</link>\n"
        f"<description>{xml_escape(title)}</description>\n<language>{language}</language>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )


def rss_item(article: SiteArticle, url: str, category: str) -> str:
    return f"""<item>
<title>{xml_escape(article.title)}</title>
<link>{xml_escape(url)}</link>
<guid isPermaLink="true">{xml_escape(url)}</guid>
<description>{xml_escape(article.lead)}</description>
<pubDate>{render.http_date(article.published_at)}</pubDate>
<dc:creator>{xml_escape(article.author)}</dc:creator>
<category>{xml_escape(category)}</category>
</item>"""


# --- The Astana Times: feed only, read by the generic parser -------------------------------------

ASTANA_TIMES_NEWEST_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
_AT_PREFIX = "/astanatimes.com"
_AT_SECTIONS = ("Nation", "Business", "Opinion", "Culture", "Sports")


class AstanaTimesSite(MountedSite):
    """astanatimes.com: an RSS feed at /feed/ and WordPress article pages /{yyyy}/{mm}/{slug}/
    (JSON-LD NewsArticle in a Yoast-like @graph, Open Graph, `<article><div class="entry-content">`
    paragraphs). No listing: the feed is the only way in. The article's key is its slug, as the
    source definition says (WordPress keeps slugs unique); a wrong year/month answers 301."""

    name = "astanatimes"
    prefixes = (_AT_PREFIX,)

    @classmethod
    def generate(cls, n_articles: int = 30, seed: int = 0) -> AstanaTimesSite:
        rng = random.Random(f"astanatimes-{seed}")
        site = cls([], seed)
        published_at = ASTANA_TIMES_NEWEST_AT
        for _ in range(n_articles):
            article = site._make(rng, published_at)
            site.articles[article.article_id] = article
            published_at -= timedelta(minutes=rng.randint(20, 90))
        site.changed_at = ASTANA_TIMES_NEWEST_AT
        return site

    def _make(self, rng: random.Random, published_at: datetime) -> SiteArticle:
        text = article_text(rng, "en", published_at, "The Astana Times")
        slug = self._unique_slug(slugify(text["title"]))
        return SiteArticle(
            article_id=slug,
            edition="en",
            number=f"{published_at:%Y/%m}",
            section=rng.choice(_AT_SECTIONS),
            slug=slug,
            published_at=published_at,
            modified_at=published_at,
            **text,
        )

    def _unique_slug(self, slug: str) -> str:
        taken = {a.slug for a in self.articles.values()}
        candidate, n = slug, 2
        while candidate in taken:
            candidate, n = f"{slug}-{n}", n + 1
        return candidate

    def new_article(self, edition: str, published_at: datetime) -> SiteArticle:
        return self._make(self._rng, published_at)

    def move(self, article_id: str, new_slug: str | None = None) -> SiteArticle:
        """A new slug is a new address and, the slug being the key, a new key: the article is
        re-filed under it (the former address answers 301)."""
        with self._lock:
            article = self.articles[article_id]
            slug = self._unique_slug(new_slug or slugify(f"{article.title} {article.revision + 1}"))
            moved = super().move(article_id, slug)
            del self.articles[article_id]
            moved.article_id = moved.slug
            self.articles[moved.article_id] = moved
            return moved

    def article_path(self, article: SiteArticle) -> str:
        return f"{_AT_PREFIX}/{article.number}/{article.slug}/"

    def route(self, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        if path in (f"{_AT_PREFIX}/feed/", f"{_AT_PREFIX}/feed"):
            items = [rss_item(a, base_url + self.article_path(a), a.section) for a in self.live_articles()]
            feed = rss("The Astana Times", f"{base_url}{_AT_PREFIX}/", "en-US", items[: self.feed_size])
            return _conditional(headers, feed.encode(), _RSS, self.changed_at)
        if path in (_AT_PREFIX, f"{_AT_PREFIX}/"):
            home = b"<!DOCTYPE html><html><body><a href='feed/'>The Astana Times</a></body></html>"
            return _conditional(headers, home, _HTML, self.changed_at)
        parts = path[len(_AT_PREFIX) :].strip("/").split("/")
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            return self.article_answer(self._by_address(parts), path, headers, base_url)
        return _not_found()

    def _by_address(self, parts: list[str]) -> SiteArticle | None:
        with self._lock:
            article = self.articles.get(parts[2])
            if article is not None:
                return article
            former = f"/{parts[2]}/"
            return next(
                (a for a in self.articles.values() if any(p.endswith(former) for p in a.old_paths)), None
            )

    def empty_feed(self, path: str, base_url: str) -> bytes:
        return rss("The Astana Times", f"{base_url}{_AT_PREFIX}/", "en-US", []).encode()

    def render_article(self, article: SiteArticle, base_url: str) -> str:
        url = base_url + self.article_path(article)
        image = f"{base_url}{_AT_PREFIX}/wp-content/uploads/{article.number}/{article.slug}.jpg"
        news_article = {
            "@type": "NewsArticle",
            "headline": article.title,
            "description": article.lead,
            "datePublished": article.published_at.isoformat(),
            "dateModified": article.modified_at.isoformat(),
            "author": {"@type": "Person", "name": article.author},
            "publisher": {"@type": "Organization", "name": "The Astana Times"},
            "articleSection": article.section,
            "keywords": ", ".join(article.tags),
            "mainEntityOfPage": {"@id": url},
            "image": {"@type": "ImageObject", "url": image},
        }
        json_ld = {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "WebPage", "@id": url, "url": url, "name": article.title},
                {"@type": "Organization", "name": "The Astana Times", "url": f"{base_url}{_AT_PREFIX}/"},
                news_article,
            ],
        }
        body = "\n".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
        author = f'<a href="{_AT_PREFIX}/author/{slugify(article.author)}/">{escape(article.author)}</a>'
        section = f'<a href="{_AT_PREFIX}/category/{article.section.lower()}/">{escape(article.section)}</a>'
        published = article.published_at.isoformat()
        tags = " ".join(
            f'<a href="{_AT_PREFIX}/tag/{slugify(t)}/" rel="tag">{escape(t)}</a>' for t in article.tags
        )
        return f"""<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="utf-8">
<title>{escape(article.title)} - The Astana Times</title>
<meta name="description" content="{escape(article.lead)}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="The Astana Times">
<meta property="og:title" content="{escape(article.title)}">
<meta property="og:description" content="{escape(article.lead)}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{image}">
<meta property="article:published_time" content="{article.published_at.isoformat()}">
<meta property="article:modified_time" content="{article.modified_at.isoformat()}">
<meta name="author" content="{escape(article.author)}">
<link rel="canonical" href="{url}">
<script type="application/ld+json">{_json(json_ld)}</script>
</head>
<body class="post-template-default single single-post">
<header id="masthead" class="site-header"><a href="{_AT_PREFIX}/" rel="home">The Astana Times</a>
<nav class="main-navigation"><a href="{_AT_PREFIX}/category/nation/">Nation</a>
<a href="{_AT_PREFIX}/category/business/">Business</a></nav></header>
<main id="main" class="site-main">
<article id="post-{zlib.crc32(article.article_id.encode()) % 100000}" class="post type-post status-publish">
<header class="entry-header"><h1 class="entry-title">{escape(article.title)}</h1>
<div class="entry-meta"><span class="byline">By {author}</span> in {section} on
<time class="entry-date published" datetime="{published}">{article.published_at:%d %B %Y}</time></div>
</header>
<div class="entry-content">
{body}
</div>
<footer class="entry-footer"><span class="tags-links">{tags}</span></footer>
</article>
<aside class="widget-area"><section class="widget"><h2>Most read</h2>
<ul><li><a href="{_AT_PREFIX}/">Home</a></li></ul></section></aside>
</main>
<footer class="site-footer">© The Astana Times</footer>
</body>
</html>
"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
