"""`python -m replica --port 8000 --articles 50`: serve a replica until interrupted."""

from __future__ import annotations

import argparse
import time

from replica import ReplicaSite, serve


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
    args = parser.parse_args(argv)
    site = ReplicaSite.generate_all(
        n_articles=args.articles, seed=args.seed, other_articles=args.other_articles
    )
    with serve(site, host=args.host, port=args.port) as base_url:
        print(f"Kazinform replica with {len(site.articles)} articles at {base_url}")
        print(f"  feeds: {base_url}/rss/rus.xml {base_url}/rss/kaz.xml {base_url}/rss/eng.xml")
        print(f"  lenta: {base_url}/ru/lenta?page=1")
        for name, mounted in site.mounts.items():
            where = ", ".join(base_url + prefix for prefix in mounted.prefixes)
            print(f"{name}: {len(mounted.articles)} articles under {where}")
        print(f"  feeds: {base_url}/tengrinews.kz/news.rss {base_url}/kaz.tengrinews.kz/news.rss", end=" ")
        print(f"{base_url}/en.tengrinews.kz/rss {base_url}/astanatimes.com/feed/   (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
