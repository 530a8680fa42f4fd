"""The crawler against a hostile server on 127.0.0.1: every case ends in bounded time and memory,
leaves a visit that says why, and the good pages beside it are loaded.

Crawls whose memory matters run in a child process, whose own peak RSS `os.wait4` reports.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from child_usage import run_measured
from crawler.fetch import FetchConfig, Fetcher, FetchResult
from flows.crawl import CrawlSummary, crawl_sources
from hostile_http import (
    Behaviour,
    HostileServer,
    big_feed,
    deep_page,
    file_body,
    head,
    huge_head,
    retry_after,
    serving,
    slow_body,
    slow_head,
    static,
    write_all,
    write_gzip_bomb,
)
from parsers.limits import MAX_INPUT_BYTES
from replica import ReplicaSite
from warehouse.db import open_reader
from warehouse.state import revisit_targets

# Deadlines a hundred times shorter than the defaults keep each case to a few seconds. The read
# timeout is longer than the drip interval, so only the total deadline can stop a dripping answer.
HOSTILE_FETCH = FetchConfig(
    requests_per_second=0,
    concurrency_per_host=4,
    connect_timeout=1.0,
    read_timeout=5.0,
    request_deadline=1.0,
    url_deadline=3.0,
    max_attempts=2,
    backoff_base=0.05,
    backoff_max=0.2,
    retry_after_cap=2.0,
)
ROOT = Path(__file__).resolve().parent.parent
# A crawl of the small site below peaks near 250 MB (Python, Prefect, DuckDB); a bomb unpacked in
# memory would take GBs. The margin absorbs allocator and CI differences.
PEAK_RSS_LIMIT_MB = 400
# A process that only fetches peaks near 45 MB. Letting httpx decode the bomb cost ~130 MB more on
# 127.0.0.1 (each 64 KB read unpacks whole to ~64 MB), bounded decoding ~10 MB.
FETCH_ONLY_RSS_LIMIT_MB = 110
CHILD_TIMEOUT_S = 180


@dataclass
class Hostile:
    server: HostileServer
    site: ReplicaSite
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def article_paths(self) -> list[str]:
        return [a.path for a in self.site.live_articles()]


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> Iterator[Hostile]:
    """A 9-article replica behind a hostile server; the crawl's base address points at it."""
    site = ReplicaSite.generate(n_articles=9, seed=3)
    with serving(site) as server:
        monkeypatch.setenv("KAZINFORM_BASE_URL", server.base_url)
        yield Hostile(server, site, server.base_url)


@pytest.fixture(scope="session")
def gzip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~4 MB of gzip that unpacks to 4 GiB of zeros (under the body cap as sent), built once."""
    return write_gzip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.html.gz", unpacked_gib=4)


def crawl(warehouse: Path, **kwargs: Any) -> tuple[CrawlSummary, float]:
    settings: dict[str, Any] = {"revisit": "none", "max_pages": 1, "fetch_settings": HOSTILE_FETCH}
    started = time.monotonic()
    summary = asyncio.run(crawl_sources(["kazinform"], str(warehouse), **{**settings, **kwargs}))
    return summary, time.monotonic() - started


@dataclass
class ChildCrawl:
    run_id: str
    counts: dict[str, int]
    text: str
    links_not_followed: int
    seconds: float
    peak_rss_mb: float


_CHILD = """
import asyncio, json, sys
from flows.crawl import crawl_sources
from crawler.fetch import FetchConfig
args = json.loads(sys.argv[1])
summary = asyncio.run(crawl_sources(
    ["kazinform"], args["warehouse"], revisit="none", max_pages=1,
    fetch_settings=FetchConfig(**args["fetch"]), max_links_per_page=args["max_links"]))
with open(args["out"], "w") as out:
    json.dump({"run_id": summary.run_id, "counts": dict(summary.counts), "text": summary.to_text(),
               "links_not_followed": summary.links_not_followed}, out)
"""


def run_child(tmp_path: Path, code: str, args: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """`code` in its own process (it writes JSON to args["out"]): (that JSON, seconds, peak RSS in MB)."""
    out = tmp_path / "child.json"
    child = run_measured(code, [json.dumps({**args, "out": str(out)})], timeout=CHILD_TIMEOUT_S)
    assert child.returncode == 0, (child.stdout + child.stderr)[-4000:]
    return json.loads(out.read_text()), child.seconds, child.peak_rss_mb


def crawl_in_child(tmp_path: Path, warehouse: Path, max_links: int = 300) -> ChildCrawl:
    args = {"warehouse": str(warehouse), "fetch": asdict(HOSTILE_FETCH), "max_links": max_links}
    result, seconds, peak_rss_mb = run_child(tmp_path, _CHILD, args)
    return ChildCrawl(**result, seconds=seconds, peak_rss_mb=peak_rss_mb)


def visits_of(warehouse: Path, run_id: str, path: str) -> list[tuple[str, str | None]]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select outcome, error from visits where run_id = ? and (url like ? or requested_url like ?)",
            [run_id, f"%{path}", f"%{path}"],
        ).fetchall()


def outcomes(warehouse: Path, run_id: str) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select outcome, count(*) from visits where run_id = ? group by 1", [run_id]
        ).fetchall()
    return dict(rows)


def assert_others_loaded(hostile: Hostile, warehouse: Path, run_id: str, bad_paths: set[str]) -> None:
    """Every other article was created, and every feed was read."""
    for path in hostile.article_paths():
        if path not in bad_paths:
            assert visits_of(warehouse, run_id, path) == [("created", None)], path
    for feed in ("/rss/rus.xml", "/rss/kaz.xml", "/rss/eng.xml"):
        assert [outcome for outcome, _ in visits_of(warehouse, run_id, feed)] == ["listed"], feed


def report(case: str, seconds: float, visit: object, peak_rss_mb: float | None = None) -> None:
    """The figures of a case, shown with `pytest -s` (and kept in the log of a failing run)."""
    memory = f", peak RSS {peak_rss_mb:.0f} MB" if peak_rss_mb is not None else ""
    print(f"\n[hostile] {case}: {seconds:.1f} s{memory}, visit {visit}")


# --- slow servers ----------------------------------------------------------------------------


def test_slow_headers_fail_at_the_deadline_and_the_batch_loads(hostile: Hostile, tmp_path: Path) -> None:
    slow = hostile.article_paths()[0]
    hostile.server.routes[slow] = slow_head(interval=1.0)  # a byte a second: no read ever times out
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    summary, seconds = child, child.seconds
    visit = visits_of(warehouse, summary.run_id, slow)
    report("slow headers (1 byte/s)", seconds, visit, child.peak_rss_mb)
    assert visit == [("failed", "no complete answer within 1 s after 2 attempts")]
    assert len(hostile.server.requests_to(slow)) == 2
    assert seconds < 30  # two 1 s attempts and the crawl's own cost; unbounded before
    assert_others_loaded(hostile, warehouse, summary.run_id, {slow})


def test_slow_body_and_slow_listing_page(hostile: Hostile, tmp_path: Path) -> None:
    slow_article, listing = hostile.article_paths()[1], "/ru/lenta"
    hostile.server.routes[slow_article] = slow_body(interval=1.0)
    hostile.server.routes[listing] = slow_body(interval=1.0)
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    summary, seconds = child, child.seconds
    article_visit = visits_of(warehouse, summary.run_id, slow_article)
    listing_visit = visits_of(warehouse, summary.run_id, listing)
    report("slow body (1 byte/s)", seconds, article_visit, child.peak_rss_mb)
    assert article_visit == listing_visit == [("failed", "no complete answer within 1 s after 2 attempts")]
    assert seconds < 30
    # The feeds read before the slow listing page are loaded with the rest.
    assert_others_loaded(hostile, warehouse, summary.run_id, {slow_article})


# --- bodies that unpack to GBs ---------------------------------------------------------------


def test_gzip_bomb_body_stops_at_the_cap(hostile: Hostile, tmp_path: Path, gzip_bomb: Path) -> None:
    bomb = hostile.article_paths()[2]
    hostile.server.routes[bomb] = file_body(gzip_bomb, content_encoding="gzip")
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    visit = visits_of(warehouse, child.run_id, bomb)
    report("gzip bomb, Content-Encoding: gzip (4 MB → 4 GiB)", child.seconds, visit, child.peak_rss_mb)
    assert visit == [("failed", f"body larger than {MAX_INPUT_BYTES} bytes once decompressed (gzip)")]
    assert len(hostile.server.requests_to(bomb)) == 1  # a size cap is not retried
    assert child.peak_rss_mb < PEAK_RSS_LIMIT_MB
    assert child.seconds < 60
    assert_others_loaded(hostile, warehouse, child.run_id, {bomb})


def test_gzip_body_without_content_encoding_is_bounded_by_the_parser(
    hostile: Hostile, tmp_path: Path, gzip_bomb: Path
) -> None:
    # Served as plain text/html, the bytes arrive as they are (under the cap) and the parser
    # meets the gzip magic: its decompression must stop at the same cap.
    bomb = hostile.article_paths()[3]
    hostile.server.routes[bomb] = file_body(gzip_bomb)
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    visit = visits_of(warehouse, child.run_id, bomb)
    report("gzip body without Content-Encoding (4 MB → 4 GiB)", child.seconds, visit, child.peak_rss_mb)
    assert len(visit) == 1 and visit[0][0] == "parse_error", visit
    assert visit[0][1] and str(MAX_INPUT_BYTES) in visit[0][1].replace(",", "").replace("_", ""), visit
    assert child.peak_rss_mb < PEAK_RSS_LIMIT_MB
    assert child.seconds < 60
    assert_others_loaded(hostile, warehouse, child.run_id, {bomb})


_FETCH_CHILD = """
import asyncio, json, sys
from crawler.fetch import FetchConfig, Fetcher
args = json.loads(sys.argv[1])
hosts = frozenset({"127.0.0.1"})
async def fetch():
    async with Fetcher(hosts, FetchConfig(requests_per_second=0), trusted_hosts=hosts) as fetcher:
        return await fetcher.fetch(args["url"])
result = asyncio.run(fetch())
with open(args["out"], "w") as out:
    json.dump({"error": result.error, "body": len(result.body or b"")}, out)
"""


def test_gzip_bomb_costs_a_fetch_little_memory(hostile: Hostile, tmp_path: Path, gzip_bomb: Path) -> None:
    # The fetch alone, without Prefect and DuckDB around it, so the bomb's own cost is visible.
    hostile.server.routes["/ru/bomb-8221b43c"] = file_body(gzip_bomb, content_encoding="gzip")
    result, seconds, peak_rss_mb = run_child(
        tmp_path, _FETCH_CHILD, {"url": hostile.url("/ru/bomb-8221b43c")}
    )
    report("gzip bomb, fetch only", seconds, result, peak_rss_mb)
    assert result == {
        "error": f"body larger than {MAX_INPUT_BYTES} bytes once decompressed (gzip)",
        "body": 0,
    }
    assert peak_rss_mb < FETCH_ONLY_RSS_LIMIT_MB


# --- answers that cannot succeed, and hosts that ask to wait ------------------------------------


def test_huge_response_headers_fail_once_without_retry(hostile: Hostile, tmp_path: Path) -> None:
    huge = hostile.article_paths()[4]
    hostile.server.routes[huge] = huge_head(size=2_000_000)
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    summary, seconds = child, child.seconds
    visit = visits_of(warehouse, summary.run_id, huge)
    report("2 MB response headers", seconds, visit, child.peak_rss_mb)
    assert visit == [("failed", "response headers too large (more than 100 KB)")]
    assert len(hostile.server.requests_to(huge)) == 1
    assert seconds < 30
    assert_others_loaded(hostile, warehouse, summary.run_id, {huge})


def test_endless_retry_after_gives_the_host_up_and_keeps_articles_due(
    hostile: Hostile, tmp_path: Path
) -> None:
    for article in hostile.site.articles.values():  # recent enough to be revisited on schedule
        article.published_at = datetime.now(UTC) - timedelta(hours=2)
    warehouse = tmp_path / "w.duckdb"
    crawl(warehouse)  # every article known, each with its next visit scheduled
    with open_reader(warehouse) as connection:
        scheduled = dict(connection.execute("select article_id, next_visit_at from article_state").fetchall())

    limited = hostile.article_paths()[5]
    hostile.server.routes[limited] = retry_after(seconds=100_000)
    # One request at a time, so the order is plain: what came before the 429 is answered, the rest
    # of the host's URLs are failed without a request.
    settings = replace(HOSTILE_FETCH, concurrency_per_host=1)
    first_crawl_requests = len(hostile.server.requests)
    summary, seconds = crawl(warehouse, revisit="all", fetch_settings=settings)
    requests = hostile.server.requests[first_crawl_requests:]
    (answered_at,) = [r.at for r in requests if r.path == limited]
    reason = "rate limited by host, retry after 100000 s"
    report("429 with Retry-After: 100000", seconds, visits_of(warehouse, summary.run_id, limited))

    assert seconds < 30  # 4 attempts each waiting 120 s (~28 min) before
    assert [r for r in requests if r.at > answered_at] == []
    given_up = []
    for article in hostile.site.live_articles():
        visits = visits_of(warehouse, summary.run_id, article.path)
        assert len(visits) == 1, (article.path, visits)  # once each
        if visits[0][0] == "failed":
            assert visits[0][1] == reason
            given_up.append(article.article_id)
        else:
            assert visits[0] == ("not_modified", None)
            assert [r.path for r in requests].count(article.path) == 1
    assert hostile.site.live_articles()[5].article_id in given_up
    # A failed visit leaves the schedule as it was: the next `--revisit due` run asks again.
    with open_reader(warehouse) as connection:
        after = dict(connection.execute("select article_id, next_visit_at from article_state").fetchall())
        # A `--revisit due` run once the last one is due asks for these again.
        due_then = {
            aid for aid, _ in revisit_targets(connection, "kazinform", "due", max(scheduled.values()))
        }
    assert given_up and all(scheduled[article_id] is not None for article_id in given_up)
    for article_id in given_up:
        assert after[article_id] == scheduled[article_id]
        assert article_id in due_then


# --- pages that list or nest without end ------------------------------------------------------


def test_feed_of_100k_items_is_capped(hostile: Hostile, tmp_path: Path) -> None:
    real = [hostile.url(a.path) for a in hostile.site.live_articles("ru")]
    feed = big_feed(real, fake_items=100_000)
    assert len(feed) < MAX_INPUT_BYTES  # the feed itself is a body the crawler accepts
    hostile.server.routes["/rss/rus.xml"] = static(feed, "application/rss+xml")
    warehouse = tmp_path / "w.duckdb"
    cap = 20
    child = crawl_in_child(tmp_path, warehouse, max_links=cap)
    visit = visits_of(warehouse, child.run_id, "/rss/rus.xml")
    report("RSS feed of 100,000 items", child.seconds, visit, child.peak_rss_mb)
    total = len(real) + 100_000
    assert visit == [("listed", f"links capped: kept {cap} of {total}")]
    assert child.links_not_followed == total - cap
    assert f"links not followed: {total - cap}" in child.text
    fake_requests = [r for r in hostile.server.requests if r.path.startswith("/ru/n-")]
    assert len(fake_requests) == cap - len(real)
    assert child.peak_rss_mb < PEAK_RSS_LIMIT_MB
    assert child.seconds < 90
    for path in hostile.article_paths():
        assert visits_of(warehouse, child.run_id, path) == [("created", None)], path


def test_page_nested_100k_deep_fails_quickly(hostile: Hostile, tmp_path: Path) -> None:
    deep = hostile.article_paths()[6]
    hostile.server.routes[deep] = static(deep_page(100_000))
    warehouse = tmp_path / "w.duckdb"
    child = crawl_in_child(tmp_path, warehouse)
    visit = visits_of(warehouse, child.run_id, deep)
    report("page nested 100,000 deep", child.seconds, visit, child.peak_rss_mb)
    assert len(visit) == 1 and visit[0][0] in ("parse_error", "failed") and visit[0][1], visit
    assert child.seconds < 30  # ~41 s of parsing alone before
    assert child.peak_rss_mb < PEAK_RSS_LIMIT_MB
    assert_others_loaded(hostile, warehouse, child.run_id, {deep})


# --- a whole run's time limit -----------------------------------------------------------------


def test_max_duration_stops_the_run_and_loads_what_was_fetched(hostile: Hostile, tmp_path: Path) -> None:
    paths = hostile.article_paths()
    slow = paths[0]
    hostile.server.routes[slow] = slow_body(interval=1.0)
    # Only the run's limit can stop this one: its own deadline is far away.
    settings = replace(HOSTILE_FETCH, concurrency_per_host=1, request_deadline=60.0, url_deadline=120.0)
    warehouse = tmp_path / "w.duckdb"
    started = time.monotonic()
    summary, seconds = crawl(warehouse, fetch_settings=settings, max_duration_s=3.0)
    report("run limit 3 s with a dripping page", seconds, visits_of(warehouse, summary.run_id, slow))
    assert seconds < 20
    assert summary.stopped_at_time_limit and summary.unfetched >= 1
    assert f"stopped at its time limit (3 s): {summary.unfetched} URLs left unfetched" in summary.to_text()
    assert visits_of(warehouse, summary.run_id, slow) == []  # cut, not failed: the next run asks again
    counts = outcomes(warehouse, summary.run_id)
    assert counts["listed"] >= 3  # the feeds
    # Each article is either loaded or counted as left unfetched.
    assert counts.get("created", 0) + summary.unfetched == len(paths)
    # Nothing started after the limit (the flow's start is a little after `started`).
    assert [r.path for r in hostile.server.requests if r.at > started + 3.0] == []


# --- fetch-level checks on the same server ----------------------------------------------------


def fetch_all(hostile: Hostile, paths: list[str], config: FetchConfig = HOSTILE_FETCH) -> list[FetchResult]:
    from parsers.registry import get_source

    async def go() -> list[FetchResult]:
        source = get_source("kazinform", hostile.base_url)
        async with Fetcher.for_source(source, config, rng=random.Random(0)) as fetcher:
            return await fetcher.fetch_many([hostile.url(p) for p in paths])

    return asyncio.run(go())


def test_content_encodings_are_undone_here_within_the_cap(hostile: Hostile) -> None:
    page = b"<!DOCTYPE html><html><body>" + "<p>Абзац новости.</p>".encode() * 2_000 + b"</body></html>"
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    cases: dict[str, tuple[bytes, str, str | None]] = {  # path → (body as sent, Content-Encoding, error)
        "/enc/gzip": (gzip.compress(page), "gzip", None),
        "/enc/deflate": (zlib.compress(page), "deflate", None),
        "/enc/raw-deflate": (raw_deflate.compress(page) + raw_deflate.flush(), "deflate", None),
        "/enc/two-members": (gzip.compress(page[:5000]) + gzip.compress(page[5000:]), "gzip", None),
        "/enc/twice": (gzip.compress(gzip.compress(page)), "gzip, gzip", None),
        "/enc/truncated": (gzip.compress(page)[:-20], "gzip", "gzip body ends before its end marker"),
        "/enc/corrupt": (gzip.compress(page)[:40] + b"\xff" * 200, "gzip", "corrupt gzip body"),
        "/enc/br": (page, "br", "unsupported content encoding: br"),
    }
    for path, (body, coding, _) in cases.items():
        hostile.server.routes[path] = static(body, Content_Encoding=coding)
    results = fetch_all(hostile, list(cases))
    for (path, (_, _, error)), result in zip(cases.items(), results, strict=True):
        if error is None:
            assert (result.error, result.body) == (None, page), path
        else:
            assert result.error is not None and result.error.startswith(error), (path, result.error)
        assert len(hostile.server.requests_to(path)) == 1, path  # none of these is retried
    # Only what is decoded here with a bound is asked for.
    assert {r.headers["accept-encoding"] for r in hostile.server.requests} == {"gzip, deflate"}


def test_body_cap_holds_for_bytes_received_and_unpacked(hostile: Hostile) -> None:
    cap = 100_000
    config = replace(HOSTILE_FETCH, max_body_bytes=cap)
    hostile.server.routes["/big/unpacked"] = static(gzip.compress(bytes(cap + 1)), Content_Encoding="gzip")
    hostile.server.routes["/big/exact"] = static(gzip.compress(b"a" * cap), Content_Encoding="gzip")
    unpacked, exact = fetch_all(hostile, ["/big/unpacked", "/big/exact"], config)
    assert unpacked.error == f"body larger than {cap} bytes once decompressed (gzip)"
    assert exact.error is None and exact.body == b"a" * cap


def test_a_redirect_chain_shares_one_url_deadline(hostile: Hostile) -> None:
    def slow_redirect(to: str) -> Behaviour:
        async def answer(writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.6)
            await write_all(writer, head(302, {"Location": to, "Content-Length": "0"}))

        return answer

    for hop in range(5):
        hostile.server.routes[f"/hop/{hop}"] = slow_redirect(f"/hop/{hop + 1}")
    config = replace(HOSTILE_FETCH, url_deadline=1.5)
    started = time.monotonic()
    (result,) = fetch_all(hostile, ["/hop/0"], config)
    assert time.monotonic() - started < 3  # five hops of 0.6 s each would take 3 s and more
    assert (
        result.error == "no complete answer within 0.3 s after 1 attempt (no time left of the 1.5 s per URL)"
    )
    assert [len(hostile.server.requests_to(f"/hop/{hop}")) for hop in range(4)] == [1, 1, 1, 0]
