"""A polite, defensive async HTTP fetcher: conditional GET, robots.txt, limits, retries, allow-list.

A fetch never raises for anything the network or the server does: every outcome is a
`FetchResult` whose `error` says, in words, why there is no usable body.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from protego import Protego

from crawler.content_encoding import BodyProblem, BoundedDecoder
from crawler.politeness import AddressGuard, HostLimiter, SlotGivenUp
from parsers.limits import MAX_INPUT_BYTES
from parsers.source import Source

ContentKind = Literal["page", "feed", "robots"]
Validators = tuple[str | None, str | None]  # (ETag, Last-Modified) stored from the last visit

USER_AGENT = "kazinform-ingest/0.1 (+https://github.com/kazinform-ingest/kazinform-ingest)"
ROBOTS_AGENT = "kazinform-ingest"  # the product token robots.txt groups are matched against
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Statuses a later attempt can change: server errors, a request timeout, and "too many requests".
_RETRY_STATUSES = frozenset({408, 429})
# Only encodings we decompress ourselves with a bound on the unpacked size. httpx would also offer
# br and zstd once their packages are installed, and its decoders unpack each network chunk whole
# (a 64 KB chunk of a bomb can become ~64 MB), so the header is set explicitly.
ACCEPT_ENCODING = "gzip, deflate"
# httpcore's h11 connection refuses a response head larger than this (h11 says "Receive buffer too long").
_MAX_HEAD_BYTES = 100 * 1024


@dataclass(frozen=True, slots=True)
class FetchConfig:
    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # per read: a server sending a byte now and then never trips it
    # One request from its start to the body's last byte (connect, headers, body). The read timeout
    # alone lets a server that drips a byte a second hold a connection forever. A 300 KB page
    # needs ~15 s even at 20 KB/s, and a stalled page costs its host slot at most this long.
    request_deadline: float = 30.0
    # One URL over all its attempts, backoffs and Retry-After pauses. It leaves room for the longest
    # pause a host may ask for (retry_after_cap) plus one full attempt after it, so one URL can
    # never cost more than ~3 minutes of its own however the server answers.
    url_deadline: float = 180.0
    # Of a body as received and again once decompressed (Content-Encoding gzip/deflate).
    max_body_bytes: int = MAX_INPUT_BYTES
    requests_per_second: float = 1.0  # per host; 0 lifts the limit (local benchmarks only)
    concurrency_per_host: int = 2
    max_attempts: int = 4  # first try + retries on timeouts, connection errors, 5xx, 408, 429
    backoff_base: float = 1.0  # seconds; doubles each retry, full jitter in [half, whole]
    backoff_max: float = 30.0
    # A Retry-After up to this long pauses the host; a host asking for longer is given up for the
    # run (its URLs are `failed` and stay due for the next run) instead of holding the crawl.
    retry_after_cap: float = 120.0
    max_redirects: int = 5
    obey_robots: bool = True


@dataclass(slots=True)
class FetchResult:
    requested_url: str
    final_url: str
    http_status: int | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    body: bytes | None
    error: str | None
    fetched_at: datetime  # aware UTC
    redirected: bool = False
    attempts: int = 0
    response_headers: list[tuple[str, str]] = field(default_factory=list)  # as received (WARC export)
    request_headers: list[tuple[str, str]] = field(default_factory=list)  # as sent on the last hop
    # The run reached its time limit before this URL had a complete answer. Such a URL is no visit:
    # nothing is known about it, and the next run asks for it again.
    unfetched: bool = False

    @property
    def outcome(self) -> Literal["ok", "not_modified", "gone", "failed"]:
        if self.error is not None:
            return "failed"
        if self.http_status == 304:
            return "not_modified"
        if self.http_status in (404, 410):
            return "gone"
        return "ok"


@dataclass(slots=True)
class _Exchange:
    """One URL's answer after retries: status and body, or the reason there is none."""

    status: int | None = None
    headers: httpx.Headers | None = None
    body: bytes | None = None
    error: str | None = None
    attempts: int = 0
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    retry: bool = False  # another attempt could answer differently (timeouts, 5xx, 408, 429, network)
    elapsed: float = 0.0  # seconds the request itself took, waiting for the host's turn excluded
    spent: float = 0.0  # seconds of the URL's deadline used by all attempts and their waits


class _Refused(Exception):
    pass


class _RunOver(Exception):
    """The run's time limit came before this URL's answer was complete."""


class Fetcher:
    """Use as `async with Fetcher.for_source(source) as fetcher: await fetcher.fetch_many(urls)`.

    `stop_at` (a `time.monotonic()` instant) is the run's time limit: no request starts after it,
    a request still running then is cut, and such URLs come back `unfetched`.
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str] | set[str],
        config: FetchConfig | None = None,
        *,
        trusted_hosts: frozenset[str] = frozenset(),
        rng: random.Random | None = None,
        stop_at: float | None = None,
    ) -> None:
        self.config = config or FetchConfig()
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.stop_at = stop_at
        self._guard = AddressGuard(trusted_hosts, resolve_timeout=self.config.connect_timeout)
        self._limiter = HostLimiter(self.config.requests_per_second, self.config.concurrency_per_host)
        self._rng = rng or random.Random()
        self._robots: dict[str, Protego | str] = {}  # origin → rules, or the reason all is refused
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._given_up: dict[str, str] = {}  # host → why no more requests go to it in this run
        self._client = httpx.AsyncClient(
            http1=True,
            http2=True,
            follow_redirects=False,  # redirects are checked hop by hop against the allow-list
            headers={"User-Agent": self.config.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout, pool=None),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            trust_env=False,  # no proxies from the environment: traffic goes where the allow-list says
        )

    @classmethod
    def for_source(cls, source: Source, config: FetchConfig | None = None, **kwargs: object) -> Fetcher:
        """A fetcher limited to the source's hosts at the source's default rate (unless `config` says)."""
        config = config or FetchConfig(requests_per_second=source.requests_per_second)
        return cls(source.allowed_hosts, config, trusted_hosts=source.private_hosts_allowed, **kwargs)  # type: ignore[arg-type]

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def run_over(self) -> bool:
        """True once the run's time limit has passed: nothing more will be fetched."""
        return self.stop_at is not None and time.monotonic() >= self.stop_at

    async def fetch_many(
        self,
        urls: Sequence[str],
        validators: Mapping[str, Validators] | None = None,
        *,
        kind: ContentKind = "page",
    ) -> list[FetchResult]:
        """All `urls` concurrently (per-host limits apply); results in the order of `urls`."""
        return list(await asyncio.gather(*(self._fetch_guarded(u, kind, validators) for u in urls)))

    async def _fetch_guarded(
        self, url: str, kind: ContentKind, validators: Mapping[str, Validators] | None
    ) -> FetchResult:
        # One URL's surprise (a protocol error httpx does not wrap, say) must not sink the batch.
        try:
            return await self.fetch(url, kind=kind, validators=validators)
        except Exception as error:  # recorded as the visit's reason, never swallowed
            reason = f"unexpected error: {type(error).__name__}: {error}"
            return _failed(url, url, reason, datetime.now(UTC), 0)

    async def fetch(
        self, url: str, *, kind: ContentKind = "page", validators: Mapping[str, Validators] | None = None
    ) -> FetchResult:
        fetched_at = datetime.now(UTC)
        try:
            return await self._follow(url, kind, validators, fetched_at)
        except _RunOver:
            return FetchResult(
                requested_url=url,
                final_url=url,
                http_status=None,
                etag=None,
                last_modified=None,
                content_type=None,
                body=None,
                error="not fetched: the run reached its time limit",
                fetched_at=fetched_at,
                unfetched=True,
            )

    async def _follow(
        self, url: str, kind: ContentKind, validators: Mapping[str, Validators] | None, fetched_at: datetime
    ) -> FetchResult:
        chain = [url]
        current = url
        attempts = 0
        time_left = self.config.url_deadline  # shared by every hop of a redirect chain
        for _ in range(self.config.max_redirects + 1):
            given_up = self._given_up.get((urlsplit(current).hostname or "").lower())
            if given_up:
                return _failed(url, current, given_up, fetched_at, attempts)
            if time_left <= 0:
                reason = f"no time left of the {_seconds(self.config.url_deadline)} s per URL (redirects)"
                return _failed(url, current, reason, fetched_at, attempts)
            try:
                await self._check_allowed(current)
            except _Refused as refusal:
                reason = str(refusal) if len(chain) == 1 else f"redirect refused: {refusal}"
                return _failed(url, current, reason, fetched_at, attempts)
            etag, last_modified = (validators or {}).get(current, (None, None))
            exchange = await self._exchange(
                current, kind, _conditional_headers(etag, last_modified), time_left
            )
            attempts += exchange.attempts
            time_left -= exchange.spent
            location = exchange.headers.get("location") if exchange.headers is not None else None
            if exchange.error is None and exchange.status in _REDIRECTS and location:
                target = _without_fragment(urljoin(current, location))
                if target in chain:
                    loop = " → ".join([*chain[chain.index(target) :], target])
                    return _failed(url, current, f"redirect loop: {loop}", fetched_at, attempts)
                chain.append(target)
                current = target
                continue
            return _result(url, current, exchange, fetched_at, attempts, (etag, last_modified))
        reason = f"too many redirects (more than {self.config.max_redirects})"
        return _failed(url, current, reason, fetched_at, attempts)

    async def _check_allowed(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Refused(f"scheme not allowed: {parts.scheme or '(none)'}")
        host = (parts.hostname or "").lower()
        if host not in self.allowed_hosts:
            raise _Refused(f"host not in allow-list: {host or '(none)'}")
        reason = await self._guard.refusal(host)
        if reason:
            raise _Refused(reason)
        if self.config.obey_robots:
            refusal = await self._robots_refusal(url)
            if refusal:
                raise _Refused(refusal)

    async def _robots_refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:  # concurrent first requests to a host wait for one robots.txt fetch
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin, parts.hostname or "")
        rules = self._robots[origin]
        if isinstance(rules, str):
            return rules
        return None if rules.can_fetch(url, ROBOTS_AGENT) else "disallowed by robots.txt"

    async def _load_robots(self, origin: str, host: str) -> Protego | str:
        exchange = await self._exchange(f"{origin}/robots.txt", "robots", {})
        if exchange.error is None and exchange.status is not None and 400 <= exchange.status < 500:
            return Protego.parse("")  # RFC 9309: an unavailable robots.txt allows everything
        if exchange.error is not None or exchange.status != 200:
            # RFC 9309: an unreachable robots.txt (5xx, network) means complete disallow.
            return f"robots.txt unreachable: {exchange.error or exchange.status}"
        rules = Protego.parse((exchange.body or b"").decode("utf-8", errors="replace"))
        delay = rules.crawl_delay(ROBOTS_AGENT)
        if delay:
            self._limiter.set_min_interval(host, float(delay))
        return rules

    async def _exchange(
        self, url: str, kind: ContentKind, headers: dict[str, str], time_left: float | None = None
    ) -> _Exchange:
        """One URL with bounded retries; 429/503 wait for Retry-After, others back off with jitter.

        Only answers another attempt can change are retried, and all attempts together, with their
        waits, stay within `time_left` (`url_deadline` unless less is left). A Retry-After beyond
        `retry_after_cap` gives the host up.
        """
        config = self.config
        allowed = config.url_deadline if time_left is None else time_left
        host = urlsplit(url).hostname or ""
        spent = 0.0  # this URL's own time: requests, backoffs, pauses (not its turn in the queue)
        last = _Exchange()
        for attempt in range(1, config.max_attempts + 1):
            last = await self._attempt(url, kind, headers, host, allowed - spent)
            last.attempts = attempt
            spent += last.elapsed
            last.spent = spent
            if not last.retry:
                return last
            retry_after = None
            if last.status in (429, 503) and last.headers is not None:
                retry_after = _retry_after_seconds(last.headers.get("retry-after"))
            if retry_after is not None and retry_after > config.retry_after_cap:
                # Waiting would hold the whole crawl: the host is left alone until the next run.
                last.error = f"rate limited by host, retry after {_seconds(retry_after)} s"
                self._given_up.setdefault(host.lower(), last.error)
                return last
            if attempt == config.max_attempts:
                break
            wait = self._backoff(attempt) if retry_after is None else retry_after
            if spent + wait >= allowed:
                limit = _seconds(config.url_deadline)
                tries = f"{attempt} attempt" + ("s" if attempt > 1 else "")
                last.error = f"{last.error} after {tries} (no time left of the {limit} s per URL)"
                return last
            spent += wait
            last.spent = spent
            if retry_after is None:
                await self._sleep(wait)
            else:
                self._limiter.pause(host, wait)  # every request to the host waits, this one too
        if last.attempts > 1:
            last.error = f"{last.error} after {last.attempts} attempts"
        return last

    async def _attempt(
        self, url: str, kind: ContentKind, headers: dict[str, str], host: str, budget_left: float
    ) -> _Exchange:
        """One request: it waits for its turn at the host (cut at the run's limit), then has until
        the earlier of its own deadline and what is left of the URL's; the run's limit cuts it too."""
        run_left = None if self.stop_at is None else self.stop_at - time.monotonic()
        if run_left is not None and run_left <= 0:
            raise _RunOver
        try:
            async with asyncio.timeout(run_left):
                # the limit may come nearer while this one waits (a stop asked for: flows.stop)
                async with self._limiter.slot(host, give_up=self.run_over):
                    given_up = self._given_up.get(host.lower())  # decided while this one waited
                    if given_up:
                        return _Exchange(error=given_up)
                    return await self._timed_send(url, kind, headers, budget_left)
        except (TimeoutError, SlotGivenUp):
            raise _RunOver from None

    async def _timed_send(
        self, url: str, kind: ContentKind, headers: dict[str, str], budget_left: float
    ) -> _Exchange:
        limit = max(0.0, min(self.config.request_deadline, budget_left))
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                exchange = await self._send(url, kind, headers)
        except TimeoutError:
            exchange = _Exchange(error=f"no complete answer within {_seconds(limit)} s", retry=True)
        except httpx.TimeoutException as exc:
            exchange = _Exchange(error=f"timeout ({type(exc).__name__})", retry=True)
        except httpx.TransportError as exc:
            exchange = _transport_failure(exc)
        else:
            status = exchange.status
            if exchange.error is None and status is not None and (status >= 500 or status in _RETRY_STATUSES):
                exchange.error = f"HTTP {status}"
                exchange.retry = True
        exchange.elapsed = time.monotonic() - started
        return exchange

    async def _send(self, url: str, kind: ContentKind, headers: dict[str, str]) -> _Exchange:
        cap = self.config.max_body_bytes
        async with self._client.stream("GET", url, headers=headers) as response:
            sent = [(k.decode(), v.decode()) for k, v in response.request.headers.raw]
            exchange = _Exchange(status=response.status_code, headers=response.headers, request_headers=sent)
            if response.status_code in _REDIRECTS or response.status_code == 304:
                return exchange
            if response.status_code == 200:
                wrong_type = _content_type_problem(response.headers.get("content-type"), kind)
                if wrong_type:
                    exchange.error = wrong_type
                    return exchange
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                exchange.error = f"body larger than {cap} bytes (declared {declared})"
                return exchange
            try:
                # Raw bytes, decoded here: the cap holds for what arrives and for what it unpacks to.
                decoder = BoundedDecoder(response.headers.get("content-encoding"), cap)
                received = 0
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if received > cap:
                        raise BodyProblem(f"body larger than {cap} bytes")
                    decoder.feed(chunk)
                exchange.body = decoder.finish()
            except BodyProblem as problem:
                exchange.error = str(problem)
            return exchange

    async def _sleep(self, seconds: float) -> None:
        """A backoff; one that would outlast the run's time limit ends the URL's turn instead."""
        if self.stop_at is not None and time.monotonic() + seconds >= self.stop_at:
            await asyncio.sleep(max(0.0, self.stop_at - time.monotonic()))
            raise _RunOver
        await asyncio.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)


def _transport_failure(error: httpx.TransportError) -> _Exchange:
    """A network or protocol failure, and whether another attempt could fare better."""
    message = str(error) or type(error).__name__
    if isinstance(error, httpx.RemoteProtocolError) and "receive buffer too long" in message.lower():
        # h11's words for a response head over its limit: the same request gets the same head.
        return _Exchange(error=f"response headers too large (more than {_MAX_HEAD_BYTES // 1024} KB)")
    if isinstance(error, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return _Exchange(error=f"request refused by the client ({type(error).__name__}: {message})")
    return _Exchange(error=f"connection error ({type(error).__name__}: {message})", retry=True)


def _seconds(value: float) -> str:
    """Seconds for a message: whole above 10 (30, 100000), one decimal below (0.5)."""
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _content_type_problem(content_type: str | None, kind: ContentKind) -> str | None:
    if kind == "robots":
        return None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if kind == "page" and media_type in _PAGE_TYPES:
        return None
    if kind == "feed" and ("xml" in media_type or media_type.endswith(("rss", "atom"))):
        return None
    return f"unexpected content type for a {kind}: {media_type or '(none)'}"


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))


def _result(
    requested: str, final: str, exchange: _Exchange, fetched_at: datetime, attempts: int, sent: Validators
) -> FetchResult:
    headers = exchange.headers or httpx.Headers()
    status = exchange.status
    error = exchange.error
    if error is None and status is not None and status >= 400 and status not in (404, 410):
        error = f"HTTP {status}"
    etag = headers.get("etag") or (sent[0] if status == 304 else None)
    last_modified = headers.get("last-modified") or (sent[1] if status == 304 else None)
    return FetchResult(
        requested_url=requested,
        final_url=final,
        http_status=status,
        etag=etag,
        last_modified=last_modified,
        content_type=headers.get("content-type"),
        body=exchange.body,
        error=error,
        fetched_at=fetched_at,
        redirected=final != requested,
        attempts=attempts,
        response_headers=list(headers.multi_items()),
        request_headers=exchange.request_headers,
    )


def _failed(requested: str, current: str, reason: str, fetched_at: datetime, attempts: int) -> FetchResult:
    return FetchResult(
        requested_url=requested,
        final_url=current,
        http_status=None,
        etag=None,
        last_modified=None,
        content_type=None,
        body=None,
        error=reason,
        fetched_at=fetched_at,
        redirected=current != requested,
        attempts=attempts,
    )
