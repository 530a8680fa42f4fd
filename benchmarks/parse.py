"""Parse throughput and field accuracy of every parser on the same full-size pages: each source's
dedicated parser, the generic fallback and trafilatura's `bare_extraction`.

Method: every fixture page of every registered source (parsers.registry.all_sources(), pages from
tests/fixtures/<source>/) is wrapped in page chrome of the size real article pages have (100–300
KB: a mega-menu, inline JSON state and scripts, 120–400 "related news" cards, a link-heavy footer),
three variants per fixture. One process, one core, perf_counter, warm-up excluded:
- dedicated: `parsers.api.parse_bytes(raw, url=url)` (the source's own parser versions), for the
  sources that have parser classes, `--parses` parses per source;
- generic: `parse_bytes(raw, url=url, source=generic_source(url))` — the same entry point with the
  generic parser (parsers.generic) — over every page `--generic-rounds` times;
- trafilatura: `bare_extraction(html, url=url, with_metadata=True)` (default settings, the library
  as a user would call it) over every page `--baseline-rounds` times.
Accuracy, on one untimed pass over the same pages, against each fixture's expected record: title,
published_at, authors, tags and lead exact (trafilatura's date has no time of day: it counts as
right when it is the expected instant's calendar day in UTC or in Astana time; its `author` string
is split on ';'; its `description` is its lead); body as difflib's ratio over the word sequences.
"Metadata pages" are the pages that carry JSON-LD or Open Graph, where the generic parser should
beat trafilatura field by field.

    .venv/bin/python benchmarks/parse.py [--parses 2000] [--generic-rounds 2] [--baseline-rounds 2]
                                         [--pages-per-source N] [--tree-parses 60]
"""

from __future__ import annotations

import argparse
import codecs
import difflib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parsers.api import parse_bytes  # noqa: E402
from parsers.fixtures import fixtures_of  # noqa: E402
from parsers.page import Page  # noqa: E402
from parsers.registry import all_sources, generic_source  # noqa: E402
from replica.chrome import SECTIONS, WORDS  # noqa: E402

EXACT_FIELDS = ("title", "published_at", "authors", "tags", "lead")
DEDICATED_SPEED_TARGET = 10.0  # × trafilatura's articles/s
GENERIC_BODY_MARGIN = 0.05  # the generic body similarity may trail trafilatura's by this much
_ASTANA = (timezone(timedelta(hours=5)), timezone(timedelta(hours=6)))


# --- pages ---------------------------------------------------------------------------------


@dataclass(slots=True)
class BenchPage:
    source: str
    name: str
    url: str
    raw: bytes  # as a crawler would receive it, in the page's own charset
    html: str
    expected: dict[str, Any]
    has_metadata: bool = field(default=False)


def _headline(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))).capitalize()


def _mega_menu(rng: random.Random) -> str:
    columns = []
    for section in SECTIONS:
        links = "".join(
            f'<li class="mega-menu__item"><a class="mega-menu__link" href="/ru/{section.lower()}/{i}">'
            f"{_headline(rng)[:40]}</a></li>"
            for i in range(rng.randint(15, 30))
        )
        columns.append(f'<div class="mega-menu__col"><h4>{section}</h4><ul>{links}</ul></div>')
    return f'<div class="mega-menu" hidden>{"".join(columns)}</div>'


def _state_script(rng: random.Random, items: int) -> str:
    state = {
        "feed": [
            {
                "id": f"{rng.getrandbits(32):08x}",
                "title": _headline(rng),
                "views": rng.randint(0, 10**5),
                "tags": rng.sample(WORDS, 3),
                "published": "2025-11-12T19:09:00+05:00",
            }
            for _ in range(items)
        ]
    }
    return f"<script>window.__INITIAL_STATE__ = {json.dumps(state, ensure_ascii=False)};</script>"


def _cards(rng: random.Random, count: int) -> str:
    cards = "".join(
        f'<div class="allNewsCard"><a href="/ru/news-{i}-{rng.getrandbits(32):08x}">'
        f'<img src="/thumbs/{i}.jpg" alt="{_headline(rng)}" loading="lazy">'
        f'<div class="allNewsCard_title">{_headline(rng)}</div>'
        f'<div class="allNewsCard_time">{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}, '
        f"{rng.randint(1, 28)} Ноябрь 2025</div></a></div>"
        for i in range(count)
    )
    return f'<section class="related-news"><h2>Читайте также</h2>{cards}</section>'


def _footer_links(rng: random.Random) -> str:
    links = "".join(f'<a href="/ru/page/{i}">{_headline(rng)[:30]}</a>' for i in range(200))
    return f'<div class="footer__sitemap">{links}</div>'


def _charset(raw: bytes) -> str:
    declared = re.search(rb"""charset=["']?([A-Za-z0-9_-]+)""", raw[:4096])
    if declared:
        try:
            return codecs.lookup(declared.group(1).decode()).name
        except LookupError:
            pass
    return "utf-8"


def _wrap(html: str, rng: random.Random) -> str:
    target = rng.randint(100_000, 300_000)
    html = html.replace("</head>", _state_script(rng, rng.randint(40, 160)) + "\n</head>", 1)
    html = html.replace("</header>", _mega_menu(rng) + "</header>", 1)
    tail = _cards(rng, 120) + _footer_links(rng)
    while len(html.encode()) + len(tail.encode()) < target:
        tail += _cards(rng, 20)
    return html.replace("</body>", tail + "\n</body>", 1)


def source_names() -> list[str]:
    """Registered sources that have fixture pages (tests/fixtures/<name>/)."""
    return [s.name for s in all_sources() if fixtures_of(s.name)]


def full_size_pages(pages_per_source: int | None = None, seed: int = 1) -> list[BenchPage]:
    """Every source's fixtures wrapped to 100–300 KB, three variants each; deterministic for a seed."""
    rng = random.Random(seed)
    pages: list[BenchPage] = []
    for source in source_names():
        chosen: list[BenchPage] = []
        for variant in range(3):
            for fixture in fixtures_of(source):
                expected = fixture.expected()
                if expected is None or fixture.url is None:
                    continue
                raw = fixture.html_bytes()
                charset = _charset(raw)
                html = _wrap(raw.decode(charset, errors="replace").lstrip("\ufeff"), rng)
                page = Page.from_html(html, fixture.url)
                chosen.append(
                    BenchPage(
                        source=source,
                        name=f"{fixture.name}#{variant}",
                        url=fixture.url,
                        raw=html.encode(charset, errors="xmlcharrefreplace"),
                        html=html,
                        expected=expected,
                        has_metadata=bool(page.json_ld) or page.meta_value("og:title") is not None,
                    )
                )
        pages.extend(chosen[:pages_per_source])
    return pages


# --- the three ways of reading a page --------------------------------------------------------


def dedicated(page: BenchPage) -> dict[str, Any]:
    return parse_bytes(page.raw, locator=page.url, url=page.url).to_json_dict()


def generic(page: BenchPage) -> dict[str, Any]:
    return parse_bytes(
        page.raw, locator=page.url, url=page.url, source=generic_source(page.url)
    ).to_json_dict()


def trafilatura_record(page: BenchPage) -> dict[str, Any]:
    from trafilatura import bare_extraction

    document = bare_extraction(page.html, url=page.url, with_metadata=True)
    if document is None:
        return {}
    authors = [a.strip() for a in (document.author or "").split(";") if a.strip()]
    return {
        "title": document.title,
        "published_at": document.date,
        "authors": authors,
        "tags": list(document.tags or []),
        "lead": document.description,
        "body": document.text or "",
    }


# --- accuracy ------------------------------------------------------------------------------


def body_similarity(got: str, expected: str) -> float:
    return difflib.SequenceMatcher(
        None, (got or "").split(), (expected or "").split(), autojunk=False
    ).ratio()


def _same_day(day: str | None, instant: str | None) -> bool:
    if not day or not instant:
        return day == instant
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    days = {
        moment.astimezone(UTC).date().isoformat(),
        *(moment.astimezone(z).date().isoformat() for z in _ASTANA),
    }
    return day[:10] in days


def field_right(name: str, got: dict[str, Any], expected: dict[str, Any], *, day_only: bool = False) -> bool:
    if name == "published_at" and day_only:
        return _same_day(got.get(name), expected.get(name))
    return got.get(name) == expected.get(name)


@dataclass(slots=True)
class Accuracy:
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXACT_FIELDS, 0))
    right_with_metadata: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXACT_FIELDS, 0))
    pages: int = 0
    pages_with_metadata: int = 0
    similarity: float = 0.0
    failures: int = 0

    def add(self, got: dict[str, Any] | None, page: BenchPage, *, day_only: bool = False) -> None:
        self.pages += 1
        self.pages_with_metadata += page.has_metadata
        if got is None:
            self.failures += 1
            return
        for name in EXACT_FIELDS:
            right = field_right(name, got, page.expected, day_only=day_only)
            self.right[name] += right
            self.right_with_metadata[name] += right and page.has_metadata
        self.similarity += body_similarity(got.get("body", ""), page.expected["body"])

    def share(self, name: str, *, metadata_pages: bool = False) -> float:
        if metadata_pages:
            return self.right_with_metadata[name] / max(self.pages_with_metadata, 1)
        return self.right[name] / max(self.pages, 1)

    @property
    def mean_similarity(self) -> float:
        return self.similarity / max(self.pages, 1)

    def exact_metadata(self) -> bool:
        return all(self.right[name] == self.pages for name in EXACT_FIELDS) and not self.failures


def accuracy_of(
    read: Callable[[BenchPage], dict[str, Any]], pages: list[BenchPage], **kwargs: Any
) -> Accuracy:
    result = Accuracy()
    for page in pages:
        try:
            got = read(page)
        except Exception:  # a parse error counts as a page read wrong
            got = None
        result.add(got, page, **kwargs)
    return result


# --- timing --------------------------------------------------------------------------------


def seconds_per_page(read: Callable[[BenchPage], object], pages: list[BenchPage], count: int) -> float:
    for page in pages[:3]:
        read(page)  # warm-up: imports, caches
    start = time.perf_counter()
    for index in range(count):
        read(pages[index % len(pages)])
    return (time.perf_counter() - start) / count


def _tree_builders() -> dict[str, Callable[[str], object]]:
    import lxml.html
    from bs4 import BeautifulSoup, SoupStrainer
    from selectolax.lexbor import LexborHTMLParser

    strainer = SoupStrainer(["h1", "time", "article", "div", "meta", "script"])
    return {
        "selectolax/lexbor": LexborHTMLParser,
        "lxml.html": lxml.html.document_fromstring,
        "bs4+lxml+SoupStrainer": lambda html: BeautifulSoup(html, "lxml", parse_only=strainer),
        "bs4+lxml": lambda html: BeautifulSoup(html, "lxml"),
    }


def _row(label: str, pages: int, per_page: float, parses: int, accuracy: Accuracy) -> str:
    fields = " ".join(f"{name} {accuracy.share(name):4.0%}" for name in EXACT_FIELDS)
    return (
        f"{label:34s} {1 / per_page:8.1f} articles/s {per_page * 1000:7.2f} ms/article ({parses} parses) "
        f"| {pages} pages: {fields} body {accuracy.mean_similarity:.3f} failures {accuracy.failures}"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options.add_argument("--parses", type=int, default=2000, help="parses per dedicated parser")
    options.add_argument("--generic-rounds", type=int, default=2, help="passes of the generic parser")
    options.add_argument("--baseline-rounds", type=int, default=2, help="passes of trafilatura")
    options.add_argument("--tree-parses", type=int, default=60, help="parses per tree builder (0: skip)")
    options.add_argument("--pages-per-source", type=int, default=None, help="pages per source (default: all)")
    args = options.parse_args()

    pages = full_size_pages(args.pages_per_source)
    sizes = [len(page.raw) for page in pages]
    sources = sorted({page.source for page in pages})
    print(
        f"method: {len(pages)} pages from {len({(p.source, p.name.split('#')[0]) for p in pages})} fixtures "
        f"of {len(sources)} sources ({', '.join(sources)}) wrapped in page chrome, "
        f"{min(sizes) // 1000}–{max(sizes) // 1000} KB (mean {sum(sizes) // len(sizes) // 1000} KB); "
        "single process, perf_counter, warm-up excluded"
    )
    if args.tree_parses:
        for name, build in _tree_builders().items():
            per_page = seconds_per_page(lambda page, build=build: build(page.html), pages, args.tree_parses)
            print(f"tree only   {name:24s} {per_page * 1000:7.2f} ms/page ({args.tree_parses} parses)")

    from trafilatura import bare_extraction  # noqa: F401  (imported before timing)

    by_source = {name: [p for p in pages if p.source == name] for name in sources}
    registered = {s.name: s for s in all_sources()}
    trafilatura_accuracy = accuracy_of(trafilatura_record, pages, day_only=True)
    generic_accuracy = accuracy_of(generic, pages)
    spent = {"generic": 0.0, "trafilatura": 0.0}
    verdicts = []
    for name in sources:
        source_pages = by_source[name]
        source = registered[name]
        generic_parses = args.generic_rounds * len(source_pages)
        generic_speed = seconds_per_page(generic, source_pages, generic_parses)
        baseline_parses = args.baseline_rounds * len(source_pages)
        baseline = seconds_per_page(trafilatura_record, source_pages, baseline_parses)
        spent["generic"] += generic_speed * generic_parses
        spent["trafilatura"] += baseline * baseline_parses
        if source.parsers:
            versions = ",".join(v.parser_id() for v in source.parsers)
            per_page = seconds_per_page(dedicated, source_pages, args.parses)
            accuracy = accuracy_of(dedicated, source_pages)
            print(_row(f"{name} dedicated ({versions})", len(source_pages), per_page, args.parses, accuracy))
            ratio = baseline / per_page
            verdicts.append(
                f"{name} dedicated: {ratio:.1f}x trafilatura's speed on its pages (target >= "
                f"{DEDICATED_SPEED_TARGET:.0f}x: {'met' if ratio >= DEDICATED_SPEED_TARGET else 'NOT met'}); "
                f"metadata exact on its fixtures: {'yes' if accuracy.exact_metadata() else 'NO'}"
            )
        else:
            print(f"{name} has no dedicated parser: the generic parser reads it")
        generic_on_source = accuracy_of(generic, source_pages)
        print(_row(f"{name} generic", len(source_pages), generic_speed, generic_parses, generic_on_source))
        trafilatura_on_source = accuracy_of(trafilatura_record, source_pages, day_only=True)
        print(
            _row(f"{name} trafilatura", len(source_pages), baseline, baseline_parses, trafilatura_on_source)
        )
    generic_parses = args.generic_rounds * len(pages)
    generic_speed = spent["generic"] / generic_parses
    trafilatura_parses = args.baseline_rounds * len(pages)
    trafilatura_speed = spent["trafilatura"] / trafilatura_parses
    print(_row("all generic (parsers.generic)", len(pages), generic_speed, generic_parses, generic_accuracy))
    print(
        _row(
            "all trafilatura.bare_extraction",
            len(pages),
            trafilatura_speed,
            trafilatura_parses,
            trafilatura_accuracy,
        )
    )
    for verdict in verdicts:
        print(f"target: {verdict}")
    gap = trafilatura_accuracy.mean_similarity - generic_accuracy.mean_similarity
    print(
        f"target: generic body similarity {generic_accuracy.mean_similarity:.3f} vs trafilatura "
        f"{trafilatura_accuracy.mean_similarity:.3f} (within {GENERIC_BODY_MARGIN:.0%}: "
        f"{'met' if gap <= GENERIC_BODY_MARGIN else 'NOT met'})"
    )
    with_metadata = generic_accuracy.pages_with_metadata
    comparisons = [
        f"{name} {generic_accuracy.share(name, metadata_pages=True):.0%} vs "
        f"{trafilatura_accuracy.share(name, metadata_pages=True):.0%}"
        for name in EXACT_FIELDS
    ]
    better = all(
        generic_accuracy.share(name, metadata_pages=True)
        >= trafilatura_accuracy.share(name, metadata_pages=True)
        for name in EXACT_FIELDS
    )
    print(
        f"target: generic metadata vs trafilatura on the {with_metadata} pages with JSON-LD/OG: "
        f"{', '.join(comparisons)} ({'met' if better else 'NOT met'})"
    )
    print(f"speed: generic is {trafilatura_speed / generic_speed:.1f}x trafilatura's")


if __name__ == "__main__":
    main()
