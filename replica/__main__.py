"""`python -m replica --port 8000 --articles 50 [--latency-ms 100-300]`: serve a replica until
interrupted."""

from __future__ import annotations

import argparse
import time

from replica import ReplicaSite, serve
from replica.site import Latency, parse_latency


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m replica", description="Serve a replica of the news sites."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--articles", type=int, default=50, help="Kazinform articles")
    parser.add_argument(
        "--other-articles", type=int, default=None, help="Tengrinews articles (default: --articles)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--latency-ms",
        type=_latency,
        default=None,
        metavar="LOW-HIGH",
        help="simulated network latency of every answer, uniform in LOW-HIGH ms (e.g. 100-300)",
    )
    args = parser.parse_args(argv)
    site = ReplicaSite.generate_all(
        n_articles=args.articles,
        seed=args.seed,
        other_articles=args.other_articles,
        latency_ms=args.latency_ms,
    )
    with serve(site, host=args.host, port=args.port) as base_url:
        print(f"Kazinform replica with {len(site.articles)} articles at {base_url}", flush=True)
        if site.latency_ms is not None:
            print(f"  latency: {site.latency_ms[0]:g}–{site.latency_ms[1]:g} ms per answer")
        print(f"  feeds: {base_url}/rss/rus.xml {base_url}/rss/kaz.xml {base_url}/rss/eng.xml")
        print(f"  lenta: {base_url}/ru/lenta?page=1")
        for name, mounted in site.mounts.items():
            where = ", ".join(base_url + prefix for prefix in mounted.prefixes)
            print(f"{name}: {len(mounted.articles)} articles under {where}")
        print(f"  feeds: {base_url}/tengrinews.kz/news.rss {base_url}/kaz.tengrinews.kz/news.rss", end=" ")
        print(f"{base_url}/en.tengrinews.kz/rss {base_url}/astanatimes.com/feed/", end=" ")
        print("(Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _latency(text: str) -> Latency:
    try:
        return parse_latency(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"LOW-HIGH in ms with 0 <= LOW <= HIGH, not {text!r}") from None


if __name__ == "__main__":
    main()
