"""The fetcher against the replica over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC
from typing import Any, TypeVar

import pytest

from crawler.fetch import FetchConfig, Fetcher, FetchResult
from flows.visits import visit_from_fetch
from parsers.registry import get_source, registered
from replica import ReplicaSite

Replica = tuple[ReplicaSite, str]
T = TypeVar("T")

# Short timeouts and backoffs keep the fault tests fast; no rate limit unless a test sets one.
FAST = FetchConfig(
    connect_timeout=1.0,
    read_timeout=0.5,
    requests_per_second=0,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=0.2,
    retry_after_cap=3.0,
    max_body_bytes=200_000,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def fetch(base: str, url: str, config: FetchConfig = FAST, **kwargs: Any) -> FetchResult:
    async with Fetcher.for_source(get_source("kazinform", base), config, rng=random.Random(0)) as fetcher:
        return await fetcher.fetch(url, **kwargs)


def test_fetches_an_article_with_validators(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles("kz")[0]
    result = run(fetch(base, base + article.path))
    assert result.outcome == "ok" and result.http_status == 200 and not result.redirected
    assert result.body and article.title.encode() in result.body
    assert result.etag and result.last_modified and result.content_type == "text/html; charset=utf-8"
    assert result.fetched_at.tzinfo is UTC
    (request,) = site.requests_to(article.path)
    assert request.headers["user-agent"].startswith("kazinform-ingest/0.1 (+")


def test_conditional_get_sends_validators_and_gets_304(replica: Replica) -> None:
    site, base = replica
    url = base + site.live_articles()[3].path
    first = run(fetch(base, url))
    second = run(fetch(base, url, validators={url: (first.etag, first.last_modified)}))
    assert second.http_status == 304 and second.outcome == "not_modified" and second.body is None
    assert second.etag == first.etag
    sent = site.requests_to(site.live_articles()[3].path)[-1].headers
    assert (sent["if-none-match"], sent["if-modified-since"]) == (first.etag, first.last_modified)
    visit = visit_from_fetch(second, get_source("kazinform", base))
    assert visit.status == "not_modified" and visit.article_id == site.live_articles()[3].article_id


def test_robots_fetched_once_and_disallow_respected(replica: Replica) -> None:
    site, base = replica
    site.robots_txt = "User-agent: *\nDisallow: /ru/\n"
    ru, en = site.live_articles("ru")[0], site.live_articles("en")[0]

    async def both() -> list[FetchResult]:
        async with Fetcher.for_source(get_source("kazinform", base), FAST) as fetcher:
            return await fetcher.fetch_many([base + ru.path, base + en.path, base + en.path])

    refused, allowed, again = run(both())
    assert refused.outcome == "failed" and refused.error == "disallowed by robots.txt"
    assert allowed.outcome == again.outcome == "ok"
    assert site.requests_to(ru.path) == []
    assert len(site.requests_to("/robots.txt")) == 1


def test_missing_robots_allows_everything(replica: Replica) -> None:
    site, base = replica
    site.robots_txt = None
    assert run(fetch(base, base + site.live_articles()[0].path)).outcome == "ok"


def test_rate_limit_spaces_requests_per_host(replica: Replica) -> None:
    site, base = replica
    site.robots_txt = None
    urls = [base + a.path for a in site.live_articles()[:3]]
    config = FetchConfig(requests_per_second=5, read_timeout=2.0)

    async def timed() -> tuple[float, list[FetchResult]]:
        async with Fetcher.for_source(get_source("kazinform", base), config) as fetcher:
            await fetcher.fetch(base + "/ru/")  # robots.txt and a first request out of the way
            started = time.monotonic()
            results = await fetcher.fetch_many(urls)
            return time.monotonic() - started, results

    elapsed, results = run(timed())
    assert all(r.outcome == "ok" for r in results)
    assert elapsed >= 0.55  # 3 starts after the first, 0.2 s apart (a lower bound only)


def test_retry_after_on_429_is_waited_for(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles()[1]
    site.set_fault(article.path, "retry_after", seconds=1, times=1)
    started = time.monotonic()
    result = run(fetch(base, base + article.path))
    assert result.outcome == "ok" and result.attempts == 2
    assert time.monotonic() - started >= 0.9
    assert [r.status for r in site.requests_to(article.path)] == [429, 200]


def test_retry_after_http_date_on_503(replica: Replica) -> None:
    from datetime import datetime, timedelta

    site, base = replica
    article = site.live_articles()[2]
    until = datetime.now(UTC) + timedelta(seconds=1)
    site.set_fault(article.path, "retry_after", status=503, until=until, times=1)
    result = run(fetch(base, base + article.path))
    assert result.outcome == "ok" and [r.status for r in site.requests_to(article.path)] == [503, 200]


def test_server_errors_retried_then_failed_with_reason(replica: Replica) -> None:
    site, base = replica
    flaky, broken = site.live_articles()[4], site.live_articles()[5]
    site.set_fault(flaky.path, "status", status=502, times=2)
    site.set_fault(broken.path, "status", status=500)
    recovered = run(fetch(base, base + flaky.path))
    failed = run(fetch(base, base + broken.path))
    assert recovered.outcome == "ok" and recovered.attempts == 3
    assert failed.outcome == "failed" and failed.error == "HTTP 500 after 3 attempts"
    assert failed.body == b"<h1>Error 500</h1>"  # the raw body is kept
    assert len(site.requests_to(broken.path)) == 3
    visit = visit_from_fetch(failed, get_source("kazinform", base))
    assert (visit.status, visit.error, visit.body()) == ("failed", failed.error, failed.body)


def test_slow_response_times_out_and_fails(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles()[6]
    site.set_fault(article.path, "slow", delay=1.5)
    config = FetchConfig(read_timeout=0.3, requests_per_second=0, max_attempts=2, backoff_base=0.05)
    result = run(fetch(base, base + article.path, config))
    assert result.outcome == "failed"
    assert result.error == "timeout (ReadTimeout) after 2 attempts"


def test_redirect_loop_is_detected(replica: Replica) -> None:
    site, base = replica
    site.set_fault("/ru/loop-8221b43c", "redirect_loop")
    result = run(fetch(base, base + "/ru/loop-8221b43c"))
    assert result.outcome == "failed" and result.error is not None
    assert result.error.startswith("redirect loop: ")
    assert len(site.requests_to("/ru/loop-8221b43c")) == 2


def test_too_many_redirects(replica: Replica) -> None:
    site, base = replica
    for hop in range(7):
        site.set_fault(f"/ru/hop-{hop}-8221b43c", "redirect", to=f"/ru/hop-{hop + 1}-8221b43c")
    result = run(fetch(base, base + "/ru/hop-0-8221b43c"))
    assert result.error == "too many redirects (more than 5)"


def test_moved_article_followed_and_final_url_recorded(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles("en")[0]
    old_url = base + article.path
    site.move(article.article_id, "new-slug")
    result = run(fetch(base, old_url))
    assert result.outcome == "ok" and result.redirected
    assert result.final_url == f"{base}/en/news/new-slug-{article.article_id}/"
    visit = visit_from_fetch(result, get_source("kazinform", base), status="parsed")
    assert (visit.locator, visit.requested_url, visit.article_id) == (
        result.final_url,
        old_url,
        article.article_id,
    )


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://example.com/ru/elsewhere-8221b43c", "redirect refused: host not in allow-list: example.com"),
        ("file:///etc/passwd", "redirect refused: scheme not allowed: file"),
    ],
)
def test_redirect_outside_allow_list_refused(replica: Replica, target: str, reason: str) -> None:
    site, base = replica
    path = site.live_articles()[7].path
    site.set_fault(path, "redirect", to=target, status=302)
    result = run(fetch(base, base + path))
    assert (result.outcome, result.error) == ("failed", reason)


def test_hosts_outside_allow_list_and_private_addresses_refused(replica: Replica) -> None:
    site, base = replica
    path = site.live_articles()[0].path

    async def attempts() -> list[FetchResult]:
        async with Fetcher.for_source(registered()["kazinform"], FAST) as real_site_only:
            outside = await real_site_only.fetch(base + path)
        async with Fetcher({"127.0.0.1", "localhost"}, FAST) as untrusted:
            loopback = await untrusted.fetch(base + path)
            by_name = await untrusted.fetch(base.replace("127.0.0.1", "localhost") + path)
        return [outside, loopback, by_name]

    outside, loopback, by_name = run(attempts())
    assert outside.error == "host not in allow-list: 127.0.0.1"
    assert loopback.error == "127.0.0.1 resolves to a non-public address (127.0.0.1)"
    assert by_name.error is not None and "non-public address" in by_name.error
    assert site.request_log == []


@pytest.mark.parametrize("declare_length", [True, False])
def test_oversized_body_aborted(replica: Replica, declare_length: bool) -> None:
    site, base = replica
    path = site.live_articles()[8].path
    site.set_fault(path, "oversized", size=2_000_000, declare_length=declare_length)
    result = run(fetch(base, base + path))
    assert result.outcome == "failed" and result.error is not None
    assert result.error.startswith("body larger than 200000 bytes")


def test_unexpected_content_types_refused(replica: Replica) -> None:
    site, base = replica
    path = site.live_articles()[9].path
    site.set_fault(path, "content_type", content_type="application/pdf")
    refused = run(fetch(base, base + path))
    assert refused.error == "unexpected content type for a page: application/pdf"
    feed_as_page = run(fetch(base, base + "/rss/rus.xml"))
    assert feed_as_page.error == "unexpected content type for a page: application/rss+xml"
    assert run(fetch(base, base + "/rss/rus.xml", kind="feed")).outcome == "ok"


def test_deleted_article_is_gone(replica: Replica) -> None:
    site, base = replica
    first, second = site.live_articles()[10], site.live_articles()[11]
    site.delete(first.article_id)
    site.delete(second.article_id, status=410)
    for article, status in ((first, 404), (second, 410)):
        result = run(fetch(base, base + article.path))
        assert (result.outcome, result.http_status, result.error) == ("gone", status, None)
        visit = visit_from_fetch(result, get_source("kazinform", base))
        assert (visit.status, visit.article_id) == ("gone", article.article_id)


def test_undeclared_encoding_is_delivered_as_received(replica: Replica) -> None:
    site, base = replica
    article = site.live_articles("ru")[0]
    site.set_fault(article.path, "encoding", charset="windows-1251", declared=False)
    result = run(fetch(base, base + article.path))
    assert result.outcome == "ok" and result.content_type == "text/html"
    assert result.body is not None and article.title in result.body.decode("windows-1251")


def test_a_usable_body_needs_a_status_from_the_caller(replica: Replica) -> None:
    site, base = replica
    result = run(fetch(base, base + site.live_articles()[0].path))
    with pytest.raises(ValueError):
        visit_from_fetch(result, get_source("kazinform", base))
    visit = visit_from_fetch(result, get_source("kazinform", base), status="parse_error", error="no title")
    assert (visit.status, visit.error, visit.body()) == ("parse_error", "no title", result.body)


def test_warc_export_round_trips(replica: Replica, tmp_path: Any) -> None:
    from warcio.archiveiterator import ArchiveIterator

    from crawler.warc import write_warc

    site, base = replica
    article = site.live_articles()[0]
    ok = run(fetch(base, base + article.path))
    not_found = run(fetch(base, base + "/ru/missing-8221b43c"))
    refused = run(fetch(base, "http://example.com/"))
    archive = tmp_path / "crawl.warc.gz"
    assert write_warc([ok, not_found, refused], archive) == 2
    with archive.open("rb") as stream:
        records = [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.http_headers,
                r.content_stream().read(),
            )
            for r in ArchiveIterator(stream)
        ]
    assert [(kind, uri) for kind, uri, _, _ in records] == [
        ("request", ok.final_url),
        ("response", ok.final_url),
        ("request", not_found.final_url),
        ("response", not_found.final_url),
    ]
    assert records[1][3] == ok.body and records[1][2].get_header("ETag") == ok.etag
    assert records[0][2].get_header("User-Agent").startswith("kazinform-ingest/")
    assert records[3][2].get_statuscode() == "404"


def test_unreachable_robots_txt_disallows_the_host(replica: Replica) -> None:
    site, base = replica
    site.set_fault("/robots.txt", "status", status=503)
    article = site.live_articles()[0]
    result = run(fetch(base, base + article.path))
    assert result.error == "robots.txt unreachable: HTTP 503 after 3 attempts"
    assert site.requests_to(article.path) == []


def test_an_unexpected_error_on_one_url_fails_that_url_only(replica: Replica) -> None:
    site, base_url = replica
    good = site.url_of(site.live_articles("ru")[0].article_id, base_url)

    async def run() -> list:
        async with Fetcher.for_source(get_source("kazinform", base_url), FAST) as fetcher:
            original = fetcher.fetch

            async def flaky(url: str, **kwargs: Any) -> Any:
                if url.endswith("/boom"):
                    raise RuntimeError("protocol surprise")
                return await original(url, **kwargs)

            fetcher.fetch = flaky  # type: ignore[method-assign]
            return await fetcher.fetch_many([good, base_url + "/ru/boom"])

    ok, failed = asyncio.run(run())
    assert ok.http_status == 200 and ok.error is None
    assert failed.error == "unexpected error: RuntimeError: protocol surprise"


def test_only_answers_a_retry_can_change_are_retried(replica: Replica) -> None:
    site, base = replica
    timed_out, forbidden, bad = (a.path for a in site.live_articles()[12:15])
    site.set_fault(timed_out, "status", status=408)
    site.set_fault(forbidden, "status", status=403)
    site.set_fault(bad, "status", status=400)
    assert run(fetch(base, base + timed_out)).error == "HTTP 408 after 3 attempts"
    assert run(fetch(base, base + forbidden)).error == "HTTP 403"
    assert run(fetch(base, base + bad)).error == "HTTP 400"
    assert [len(site.requests_to(p)) for p in (timed_out, forbidden, bad)] == [3, 1, 1]


def test_a_host_asking_to_wait_too_long_is_given_up_while_another_goes_on(replica: Replica) -> None:
    from replica import serve

    site, base = replica
    limited, *rest = site.live_articles()[:4]
    site.set_fault(limited.path, "retry_after", seconds=100_000)
    with serve(site, host="127.0.0.2") as other_base:
        hosts = frozenset({"127.0.0.1", "127.0.0.2"})

        async def both() -> list[FetchResult]:
            async with Fetcher(hosts, replace(FAST, concurrency_per_host=1), trusted_hosts=hosts) as fetcher:
                first = await fetcher.fetch(base + limited.path)
                others = [base + a.path for a in rest] + [other_base + a.path for a in rest]
                return [first, *await fetcher.fetch_many(others)]

        started = time.monotonic()
        results = run(both())
    assert time.monotonic() - started < 10
    reason = "rate limited by host, retry after 100000 s"
    assert [(r.error, r.http_status) for r in results[:4]] == [(reason, 429)] + [(reason, None)] * 3
    assert [r.outcome for r in results[4:]] == ["ok"] * 3
    # One request to the limited page, none more to its host than before: the others were asked
    # of the second host only.
    assert len(site.requests_to(limited.path)) == 1
    assert all(len(site.requests_to(a.path)) == 1 for a in rest)


def test_retries_stay_within_the_url_deadline(replica: Replica) -> None:
    site, base = replica
    path = site.live_articles()[15].path
    site.set_fault(path, "retry_after", status=503, seconds=1)  # within the cap, for ever
    config = replace(FAST, max_attempts=10, url_deadline=2.5)
    started = time.monotonic()
    result = run(fetch(base, base + path, config))
    assert time.monotonic() - started < 5
    assert result.error is not None and result.error.startswith("HTTP 503 after ")
    assert result.error.endswith(" attempts (no time left of the 2.5 s per URL)")
    assert 2 <= len(site.requests_to(path)) <= 3


def test_the_run_limit_cuts_a_request_and_starts_none_after_it(replica: Replica) -> None:
    site, base = replica
    slow, later = site.live_articles()[16], site.live_articles()[17]
    site.set_fault(slow.path, "slow", delay=5.0)
    config = replace(FAST, read_timeout=10.0, request_deadline=30.0, concurrency_per_host=1)

    async def limited() -> list[FetchResult]:
        source = get_source("kazinform", base)
        async with Fetcher.for_source(source, config, stop_at=time.monotonic() + 1.0) as fetcher:
            return await fetcher.fetch_many([base + slow.path, base + later.path])

    started = time.monotonic()
    cut, not_started = run(limited())
    assert time.monotonic() - started < 3
    for result in (cut, not_started):
        assert result.unfetched and result.error == "not fetched: the run reached its time limit"
    assert len(site.requests_to(slow.path)) == 1 and site.requests_to(later.path) == []
