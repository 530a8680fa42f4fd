"""ReplicaSite: the catalogue, its routes, conditional answers and the phases a test scripts."""

from __future__ import annotations

import hashlib
import heapq
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs

from replica import render
from replica.catalogue import NEWEST_AT, Article, generate_articles, make_article, new_article_id, slugify
from replica.chrome import PageChrome
from replica.faults import MALFORMED_FEED, UNPARSEABLE_PAGE, Fault, FaultKind

FEED_FILES = {"rus.xml": "ru", "kaz.xml": "kz", "eng.xml": "en"}
CARDS_PER_PAGE = 24
DEFAULT_ROBOTS = "User-agent: *\nDisallow: /search\nDisallow: /private/\n"

PAGE_SIZES = ("small", "real")  # article pages of 2–6 KB, or dressed to 100–300 KB like real ones
# A simulated network's latency per answer, in ms: (low, high), drawn uniformly. None: answer at once.
Latency = tuple[float, float]

_HTML = "text/html; charset=utf-8"
_RSS = "application/rss+xml; charset=utf-8"
_ARTICLE_PATH = re.compile(r"^/(ru|kz|en/news)/([a-z0-9-]+)-([0-9a-f]{6,16})/?$")
_LISTING_PATH = re.compile(r"^/(ru|kz)/lenta/?$")


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Bodies too large to build (oversized fault) are streamed in chunks instead.
    stream: Iterator[bytes] | None = None
    delay: float = 0.0  # seconds to wait before answering (slow fault, simulated latency)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    status: int
    at: float  # time.monotonic()


class EditorPhases:
    """The editor's actions and faults every replica site shares (Kazinform's and the mounted ones):
    each site keeps its articles (with `gone_status`, `revision`, `modified_at`) under `_lock`."""

    articles: dict[str, Any]
    changed_at: datetime
    request_log: list[RequestRecord]
    _lock: threading.RLock
    _faults: dict[str, Fault]

    def requests_to(self, path: str) -> list[RequestRecord]:
        return [r for r in list(self.request_log) if r.path == path]

    def delete(self, article_id: str, status: int = 404) -> None:
        if status not in (404, 410):
            raise ValueError("a deleted article answers 404 or 410")
        with self._lock:
            self.articles[article_id].gone_status = status
            self.changed_at = _next_instant(self.changed_at)

    def restore(self, article_id: str) -> None:
        with self._lock:
            article = self.articles[article_id]
            article.gone_status = None
            self._touch(article)

    def set_fault(self, path: str, kind: FaultKind, *, times: int | None = None, **params: Any) -> None:
        """Make `path` (the full request path, no query) misbehave, `times` answers long or until
        clear_fault()."""
        with self._lock:
            self._faults[path] = Fault(kind, params, times)

    def clear_fault(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def edit(
        self,
        article_id: str,
        *,
        title: str | None = None,
        lead: str | None = None,
        body: list[str] | None = None,
        tags: list[str] | None = None,
        author: str | None = None,
    ) -> Any:
        """Change fields in place (the address stays); body replaces every paragraph."""
        with self._lock:
            article = self.articles[article_id]
            if title is not None:
                article.title = title
            if lead is not None:
                article.lead = lead
            if body is not None:
                self._replace_body(article, body)
            if tags is not None:
                article.tags = list(tags)
            if author is not None:
                article.author = author
            self._touch(article)
            return article

    def _replace_body(self, article: Any, body: list[str]) -> None:
        """How a site's article holds its body differs: each site says."""
        raise NotImplementedError

    def _faulty(self, fault: Fault, path: str, query: str, base_url: str) -> Response | None:
        """The fault's answer, or None when the fault only alters the normal answer."""
        p = fault.params
        html = {"Content-Type": _HTML}
        match fault.kind:
            case "status":
                status = int(p.get("status", 500))
                return Response(status, html, f"<h1>Error {status}</h1>".encode())
            case "retry_after":
                value = str(p["seconds"]) if "seconds" in p else render.http_date(p["until"])
                return Response(int(p.get("status", 429)), {**html, "Retry-After": value}, b"slow down")
            case "redirect":
                return Response(int(p.get("status", 301)), {"Location": str(p["to"])})
            case "redirect_loop":
                target = path if "loop" in query else f"{path}?loop"
                return Response(302, {"Location": base_url + target})
            case "oversized":
                return _oversized(int(p.get("size", 10_000_000)), bool(p.get("declare_length", True)))
            case "malformed_feed":
                return Response(200, {"Content-Type": _RSS}, MALFORMED_FEED)
            case "empty_feed":
                return Response(200, {"Content-Type": _RSS}, self.empty_feed(path, base_url))
            case "empty_listing":
                return Response(200, html, self.empty_listing(path, base_url))
            case "unparseable":
                return Response(200, html, UNPARSEABLE_PAGE.encode())
        return None

    def empty_feed(self, path: str, base_url: str) -> bytes:
        raise NotImplementedError

    def empty_listing(self, path: str, base_url: str) -> bytes:
        raise NotImplementedError

    def _touch(self, article: Any) -> None:
        article.revision += 1
        article.modified_at = _next_instant(article.modified_at)
        self.changed_at = _next_instant(self.changed_at)


class ReplicaSite(EditorPhases):
    """An in-memory Kazinform: articles in ru/kz/en, feeds, lenta pages, robots.txt, and faults."""

    def __init__(
        self,
        articles: list[Article],
        seed: int = 0,
        page_size: str = "small",
        latency_ms: Latency | None = None,
    ) -> None:
        if page_size not in PAGE_SIZES:
            raise ValueError(f"page_size is one of {', '.join(PAGE_SIZES)}, not {page_size!r}")
        self.latency_ms = check_latency(latency_ms)
        # Its own generator, so the catalogue's (publish) draws are the same with or without latency.
        self._latency_rng = random.Random(f"latency-{seed}")
        self._latency_lock = threading.Lock()
        self.articles: dict[str, Article] = {a.article_id: a for a in articles}
        self._rng = random.Random(seed + 1)
        self._lock = threading.RLock()
        self._faults: dict[str, Fault] = {}
        # Per (article, revision, base URL): the page in parts that join into its bytes, and its ETag.
        # Dressed pages share their chrome parts, so 2,000 of them cost a few MB, not 400.
        self._render_cache: dict[tuple[str, int, str], tuple[tuple[bytes, ...], str]] = {}
        self._chrome = PageChrome(seed) if page_size == "real" else None
        self.robots_txt: str | None = DEFAULT_ROBOTS  # None: /robots.txt answers 404
        self.listing_markup = "mixed"  # "A", "B", or "mixed" (odd pages A, even pages B)
        self.feed_size = 50
        self.changed_at = NEWEST_AT  # Last-Modified of feeds and listings
        self.request_log: list[RequestRecord] = []
        # Other sites by name, each answering every path under its host prefixes (replica.feedsite).
        self.mounts: dict[str, Any] = {}

    @classmethod
    def generate(
        cls,
        n_articles: int = 100,
        seed: int = 0,
        generation_b_share: float = 0.2,
        page_size: str = "small",
        latency_ms: Latency | None = None,
    ) -> ReplicaSite:
        """`page_size="real"` serves article pages of 100–300 KB (see replica/chrome.py).
        `latency_ms=(low, high)` delays every answer (its own and its mounted sites') by a uniform
        draw in that range, seeded: a network's round trips, so that fetching is latency-bound."""
        return cls(
            generate_articles(n_articles, seed, generation_b_share),
            seed=seed,
            page_size=page_size,
            latency_ms=latency_ms,
        )

    @classmethod
    def generate_all(
        cls, n_articles: int = 100, seed: int = 0, other_articles: int | None = None, **options: Any
    ) -> ReplicaSite:
        """Kazinform at the root, Tengrinews (`other_articles`, default `n_articles`) and The Astana
        Times (a third as many) mounted under their hosts' prefixes; `site.mounts[name]` is each.
        `options` are generate's (page_size, latency_ms: the latency covers the mounted sites too)."""
        from replica.feedsite import AstanaTimesSite
        from replica.tengrinews import TengrinewsSite

        site = cls.generate(n_articles, seed, **options)
        others = n_articles if other_articles is None else other_articles
        site.mount(TengrinewsSite.generate(others, seed))
        site.mount(AstanaTimesSite.generate(max(1, others // 3), seed))
        return site

    def mount(self, site: Any) -> Any:
        """Hand every request under one of `site.prefixes` to `site` (its own faults, phases, log)."""
        self.mounts[site.name] = site
        return site

    # --- reading the catalogue -------------------------------------------------------------

    def live_articles(self, edition: str | None = None) -> list[Article]:
        """Articles not deleted, newest first."""
        with self._lock:
            found = [
                a
                for a in self.articles.values()
                if a.gone_status is None and (edition is None or a.edition == edition)
            ]
        return sorted(found, key=lambda a: a.published_at, reverse=True)

    def _newest_live(self, edition: str, count: int) -> list[Article]:
        """live_articles(edition)[:count] without sorting the whole catalogue (once per page render)."""
        with self._lock:
            return heapq.nlargest(
                count,
                (a for a in self.articles.values() if a.gone_status is None and a.edition == edition),
                key=lambda a: a.published_at,
            )

    def url_of(self, article_id: str, base_url: str) -> str:
        return base_url.rstrip("/") + self.articles[article_id].path

    # --- phases ------------------------------------------------------------------------------

    def _replace_body(self, article: Article, body: list[str]) -> None:
        """The whole body becomes `body`, under the first section's heading."""
        heading = article.sections[0][0] if article.sections else ""
        article.sections = [(heading, list(body), [])]

    def move(self, article_id: str, new_slug: str | None = None) -> Article:
        """New slug under the same id; every former address answers 301 to the new one."""
        with self._lock:
            article = self.articles[article_id]
            article.old_slugs.append(article.slug)
            article.slug = new_slug or slugify(article.title + " " + str(article.revision + 1))
            # A new address is not an edit: the page re-renders (its canonical URL changed) but
            # keeps its dateModified, as the real site does when only a slug changes.
            article.revision += 1
            self.changed_at = _next_instant(self.changed_at)
            return article

    def publish(self, edition: str = "ru") -> Article:
        """A new article, newer than every other one."""
        with self._lock:
            newest = max((a.published_at for a in self.articles.values()), default=NEWEST_AT)
            article_id = new_article_id(self._rng, set(self.articles))
            article = make_article(self._rng, edition, article_id, newest + timedelta(minutes=5), 0.0)
            self.articles[article_id] = article
            self.changed_at = _next_instant(max(self.changed_at, article.published_at))
            return article

    # --- answering ---------------------------------------------------------------------------

    def respond(self, method: str, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        """The answer to one request; `base_url` is the scheme and Host the client used. With a
        latency, the answer carries it as its delay: the server waits it out in the request's own
        thread, holding no lock, so concurrent requests overlap as on a real network."""
        response = self._route(method, path, query, headers, base_url)
        if self.latency_ms is not None:
            response.delay += self._draw_latency_s()
        return response

    def _draw_latency_s(self) -> float:
        low, high = self.latency_ms or (0.0, 0.0)
        with self._latency_lock:  # only the draw: one seeded sequence shared by every thread
            return self._latency_rng.uniform(low, high) / 1000

    def _route(self, method: str, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        for mounted in self.mounts.values():
            if mounted.serves(path):
                return mounted.respond(method, path, query, headers, base_url)
        with self._lock:
            fault = self._faults.get(path)
            if fault and fault.consume():
                del self._faults[path]
        response = self._faulty(fault, path, query, base_url) if fault else None
        if response is None:
            response = self._normal(path, query, headers, base_url)
            if fault:
                response = _post_fault(fault, response)
        self.request_log.append(
            RequestRecord(method, path, query, headers, response.status, time.monotonic())
        )
        return response

    def _normal(self, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        if path == "/robots.txt":
            if self.robots_txt is None:
                return _not_found()
            return _conditional(headers, self.robots_txt.encode(), "text/plain; charset=utf-8", NEWEST_AT)
        if path.startswith("/rss/") and path[5:] in FEED_FILES:
            edition = FEED_FILES[path[5:]]
            items = self.live_articles(edition)[: self.feed_size]
            feed = render.rss_feed(edition, items, base_url).encode()
            return _conditional(headers, feed, "application/rss+xml; charset=utf-8", self.changed_at)
        listing = _LISTING_PATH.match(path)
        if listing:
            return self._listing(listing.group(1), query, headers, base_url)
        article_path = _ARTICLE_PATH.match(path)
        if article_path:
            return self._article_page(article_path.group(2), article_path.group(3), path, headers, base_url)
        if path in ("/", "/ru/", "/kz/", "/en/"):
            home = b"<!DOCTYPE html><html><body><a href='/ru/lenta'>Kazinform</a></body></html>"
            return _conditional(headers, home, "text/html; charset=utf-8", NEWEST_AT)
        return _not_found()

    def _listing(self, edition: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        try:
            page = max(1, int(parse_qs(query).get("page", ["1"])[0]))
        except ValueError:
            page = 1
        start = (page - 1) * CARDS_PER_PAGE
        cards = self.live_articles(edition)[start : start + CARDS_PER_PAGE]
        if not cards:
            return _not_found()  # past the last page, as the site does
        markup = self.listing_markup if self.listing_markup != "mixed" else ("A" if page % 2 else "B")
        html = render.listing_page(edition, cards, base_url, markup, page).encode()
        return _conditional(headers, html, "text/html; charset=utf-8", self.changed_at)

    def _article_page(
        self, slug: str, article_id: str, path: str, headers: dict[str, str], base_url: str
    ) -> Response:
        article = self.articles.get(article_id)
        if article is None or not path.startswith(f"/{article.edition}/"):
            return _not_found()
        if article.gone_status is not None:
            return Response(article.gone_status, {"Content-Type": _HTML}, b"<h1>Gone</h1>")
        if slug != article.slug:
            if slug in article.old_slugs:
                return Response(301, {"Location": base_url + article.path})
            return _not_found()
        if path != article.path:  # trailing-slash variant of the English address
            return Response(301, {"Location": base_url + article.path})
        key = (article_id, article.revision, base_url)
        rendered = self._render_cache.get(key)
        if rendered is None:
            related = self._newest_live(article.edition, 4)
            page = render.article_page(article, base_url, related).encode()
            parts = self._chrome.dress(page, article_id) if self._chrome else (page,)
            rendered = parts, _etag(*parts)
            self._render_cache[key] = rendered
        parts, etag = rendered
        return _conditional(headers, parts, "text/html; charset=utf-8", article.modified_at, etag)

    def empty_feed(self, path: str, base_url: str) -> bytes:
        edition = FEED_FILES.get(path.rsplit("/", 1)[-1], "ru")
        return render.rss_feed(edition, [], base_url).encode()

    def empty_listing(self, path: str, base_url: str) -> bytes:
        return render.listing_page("ru", [], base_url, "A", 1).encode()


def check_latency(latency_ms: Latency | None) -> Latency | None:
    """(low, high) in ms with 0 <= low <= high, as floats; None stays None."""
    if latency_ms is None:
        return None
    low, high = (float(x) for x in latency_ms)
    if not 0 <= low <= high:
        raise ValueError(f"latency_ms is (low, high) with 0 <= low <= high, not {latency_ms!r}")
    return low, high


def parse_latency(text: str) -> Latency:
    """ "100-300" → (100.0, 300.0); "200" → (200.0, 200.0). ValueError otherwise."""
    low, _, high = text.partition("-")
    checked = check_latency((float(low), float(high or low)))
    assert checked is not None
    return checked


def _post_fault(fault: Fault, response: Response) -> Response:
    """Faults that alter a normal answer: delay, content type, encoding."""
    p = fault.params
    if fault.kind == "slow":
        response.delay = float(p.get("delay", 2.0))
    elif fault.kind == "content_type":
        response.headers["Content-Type"] = str(p.get("content_type", "application/pdf"))
    elif fault.kind == "encoding" and response.status == 200:
        charset = str(p.get("charset", "windows-1251"))
        text = response.body.decode("utf-8")
        declared = bool(p.get("declared", True))
        text = text.replace('<meta charset="utf-8">', f'<meta charset="{charset}">' if declared else "")
        response.body = text.encode(charset, errors="xmlcharrefreplace")
        response.headers["Content-Type"] = f"text/html; charset={charset}" if declared else "text/html"
        response.headers["ETag"] = _etag(response.body)
    return response


def _oversized(size: int, declare_length: bool) -> Response:
    chunk = b"<p>" + b"x" * 65_530 + b"</p>\n"

    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            sent += len(piece)
            yield piece

    headers = {"Content-Type": "text/html; charset=utf-8"}
    if declare_length:
        headers["Content-Length"] = str(size)
    return Response(200, headers, stream=chunks())


def _etag(*parts: bytes) -> str:
    """The ETag of the body the parts join into."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part)
    return '"' + digest.hexdigest()[:20] + '"'


def _conditional(
    headers: dict[str, str],
    body: bytes | tuple[bytes, ...],
    content_type: str,
    modified_at: datetime,
    etag: str | None = None,
) -> Response:
    """200 with validators, or 304 when the client's validators still hold (RFC 9110 §13.2.2).
    A body in parts is joined only for a 200; `etag` spares hashing a body already hashed."""
    parts = body if isinstance(body, tuple) else (body,)
    etag = etag or _etag(*parts)
    validators = {"ETag": etag, "Last-Modified": render.http_date(modified_at)}
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if etag in tags or "*" in tags:
            return Response(304, validators)
    elif "if-modified-since" in headers:
        try:
            since = parsedate_to_datetime(headers["if-modified-since"])
        except (TypeError, ValueError):
            since = None
        if since is not None and modified_at.replace(microsecond=0) <= since:
            return Response(304, validators)
    return Response(200, {**validators, "Content-Type": content_type}, b"".join(parts))


def _not_found() -> Response:
    return Response(404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404 Not Found</h1>")


def _next_instant(previous: datetime) -> datetime:
    """Now, but always at least a second after `previous`: HTTP dates count whole seconds."""
    now = datetime.now(UTC).replace(microsecond=0)
    return max(now, previous.replace(microsecond=0) + timedelta(seconds=1))
