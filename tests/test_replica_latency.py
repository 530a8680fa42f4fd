"""The replica's simulated network latency: every answer (article pages, feeds, listings, the
mounted sites') waits a seeded uniform draw in (low, high) ms, and concurrent requests wait it out
side by side, as on a real network, so that a crawl over it is bound by latency, not CPU."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from replica import ReplicaSite, serve
from replica.__main__ import main as replica_main
from replica.site import parse_latency

ROOT = Path(__file__).resolve().parent.parent


def _paths(site: ReplicaSite) -> list[str]:
    """One article page, feed and listing page of each site the replica serves."""
    tengrinews, astana = site.mounts["tengrinews"], site.mounts["astanatimes"]
    kazinform_article = site.live_articles("ru")[0]
    tengrinews_article = tengrinews.live_articles("ru")[0]
    astana_article = astana.live_articles()[0]
    return [
        kazinform_article.path,
        "/rss/rus.xml",
        "/ru/lenta",
        tengrinews.article_path(tengrinews_article),
        "/tengrinews.kz/news.rss",
        "/tengrinews.kz/news/",
        astana.article_path(astana_article),
        "/astanatimes.com/feed/",
        "/robots.txt",
        "/no/such/page",
    ]


def test_every_answer_carries_a_delay_in_the_range_drawn_from_the_seed() -> None:
    site = ReplicaSite.generate_all(n_articles=30, seed=3, latency_ms=(100, 300))
    twin = ReplicaSite.generate_all(n_articles=30, seed=3, latency_ms=(100, 300))
    base = "http://127.0.0.1:1"
    delays = [site.respond("GET", path, "", {}, base).delay for path in _paths(site) * 5]
    assert all(0.1 <= delay <= 0.3 for delay in delays), delays
    assert len(set(delays)) > 10  # drawn, not one fixed value
    assert delays == [twin.respond("GET", path, "", {}, base).delay for path in _paths(twin) * 5]
    # without latency the answers are immediate, and the catalogue is the same
    plain = ReplicaSite.generate_all(n_articles=30, seed=3)
    assert {plain.respond("GET", path, "", {}, base).delay for path in _paths(plain)} == {0.0}
    assert sorted(plain.articles) == sorted(site.articles)


def test_a_slow_fault_adds_to_the_latency() -> None:
    site = ReplicaSite.generate(n_articles=5, seed=1, latency_ms=(50, 50))
    path = site.live_articles()[0].path
    site.set_fault(path, "slow", delay=1.0, times=1)
    assert site.respond("GET", path, "", {}, "http://x").delay == pytest.approx(1.05)
    assert site.respond("GET", path, "", {}, "http://x").delay == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [(300, 100), (-1, 10)])
def test_a_latency_range_must_be_ordered_and_not_negative(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        ReplicaSite.generate(n_articles=2, latency_ms=bad)


def test_latency_is_served_over_http() -> None:
    site = ReplicaSite.generate_all(n_articles=10, seed=2, latency_ms=(200, 250))
    with serve(site) as base, httpx.Client(base_url=base) as client:
        for path in _paths(site)[:8]:
            started = time.monotonic()
            response = client.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 200, path
            assert elapsed >= 0.2, (path, elapsed)


def test_concurrent_requests_overlap_their_latency() -> None:
    """20 requests, 8 in flight: about 3 latencies (20 / 8 rounded up), not 20."""
    latency_s = 0.5
    site = ReplicaSite.generate(n_articles=40, seed=4, latency_ms=(latency_s * 1000, latency_s * 1000))
    paths = [article.path for article in site.live_articles()[:20]]
    with serve(site) as base:

        def fetch(path: str) -> int:
            # a connection of its own per request, as eight crawler connections would be
            return httpx.get(base + path, timeout=30).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(fetch, paths))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert elapsed >= 3 * latency_s  # each round waits its latency
    # served one at a time it would take 20 × 0.5 = 10 s; the bound leaves room for a loaded machine
    assert elapsed < 10 * latency_s, f"20 requests took {elapsed:.1f} s: the latencies did not overlap"


def test_the_command_line_takes_a_latency_range() -> None:
    assert parse_latency("100-300") == (100.0, 300.0)
    assert parse_latency("200") == (200.0, 200.0)
    with pytest.raises(SystemExit) as stop:
        replica_main(["--latency-ms", "300-100"])
    assert stop.value.code == 2
    replica = subprocess.Popen(
        [sys.executable, "-m", "replica", "--port", "0", "--articles", "5", "--latency-ms", "300-400"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert replica.stdout is not None
        first_line = replica.stdout.readline()
        base = first_line.rsplit(" at ", 1)[1].strip()
        assert "latency: 300–400 ms" in replica.stdout.readline()
        started = time.monotonic()
        assert httpx.get(base + "/rss/rus.xml", timeout=30).status_code == 200
        assert time.monotonic() - started >= 0.3
    finally:
        replica.terminate()
        replica.wait(timeout=30)
