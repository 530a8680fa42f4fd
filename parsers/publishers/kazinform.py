"""Kazinform (inform.kz, en.inform.kz): the source definition and its article page layouts.

Layouts, newest first (SITE.md; the dates are those of the pages the markup was seen on, so the
boundaries are approximate and the layout is chosen by its markers, not by date):

- Generation A, seen on 2026 pages: listing cards `a.news-card` with `time.meta-date`, genitive
  dates (`21:38, 18 Августа 2026`); article pages `article.article-page`, `time.meta-date`,
  lead `.article__description`, body `div.article__content`, tags `div.article__tags`.
- Generation B, 2023 redesign (hex ids in addresses) to the end of 2025: listing cards
  `.allNewsCard`, nominative dates (`13:51, 15 Август 2025 | GMT +5`); article pages
  `div.article`, `.article__date`, lead `.article__description`, body `div.article__body-text`,
  tags `div.article__tags`, author card `.article__author` (the name printed twice, then `Автор`).
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

from parsers.article import ArticleParser
from parsers.source import CardSelectors, Edition, Listing, Source


class _Kazinform(ArticleParser):
    NAME = "kazinform"
    AGENCY_NAMES = frozenset({"kazinform", "казинформ", "қазақпарат", "inform.kz", "миа «казинформ»"})


class LayoutA(_Kazinform):
    """Generation A: `article.article-page`, `time.meta-date`, body `div.article__content`."""

    VERSION = "2026.1"  # generation A
    VALID_FROM = date(2026, 1, 1)
    VALID_UNTIL = None
    MARKERS = ("article.article-page", "time.meta-date")
    ROOTS = ("article.article-page", *ArticleParser.ROOTS)
    TITLES = ("h1.article-page__title", *ArticleParser.TITLES)
    BODIES = ("div.article__content", *ArticleParser.BODIES)
    DATES = ("time.meta-date", *ArticleParser.DATES)
    AUTHORS = (".article-page__authors [class*=name]", *ArticleParser.AUTHORS)
    CATEGORIES = (".breadcrumbs a:last-child", *ArticleParser.CATEGORIES)
    MAIN_IMAGES = ("figure.article-page__figure", *ArticleParser.MAIN_IMAGES)


class LayoutB(_Kazinform):
    """Generation B: `div.article`, `.article__date`, body `div.article__body-text`."""

    VERSION = "2023.1"  # generation B
    VALID_FROM = date(2023, 1, 1)
    VALID_UNTIL = date(2025, 12, 31)
    MARKERS = ("div.article__body-text", ".article__date")
    ROOTS = ("div.article", *ArticleParser.ROOTS)
    TITLES = ("h1.article__title", *ArticleParser.TITLES)
    BODIES = ("div.article__body-text", *ArticleParser.BODIES)
    DATES = (".article__date", *ArticleParser.DATES)
    AUTHORS = (".article__author .author__name", *ArticleParser.AUTHORS)
    CATEGORIES = (".article__category a", *ArticleParser.CATEGORIES)
    MAIN_IMAGES = (".article__photo", *ArticleParser.MAIN_IMAGES)


CARDS = (
    # Generation A (current): the card is the anchor.
    CardSelectors(generation="A", card="a.news-card", link=None, title=".card-title", time="time.meta-date"),
    # Generation B (older): a wrapper with an anchor inside.
    CardSelectors(
        generation="B",
        card=".allNewsCard",
        link="a[href]",
        title=".allNewsCard_title",
        time=".allNewsCard_time",
    ),
)


def _lenta(edition: str) -> Listing:
    url = f"https://www.inform.kz/{edition}/lenta"
    return Listing(url=url, page_url=url + "?page={n}", cards=CARDS)


SOURCE = Source(
    name="kazinform",
    title="Kazinform International News Agency",
    editions=(
        Edition(
            code="ru",
            language="ru",
            home="https://www.inform.kz/ru/",
            article_prefix="/ru/",
            feeds=("https://www.inform.kz/rss/rus.xml",),
            listings=(_lenta("ru"),),
        ),
        Edition(
            code="kz",
            language="kk",
            home="https://www.inform.kz/kz/",
            article_prefix="/kz/",
            feeds=("https://www.inform.kz/rss/kaz.xml",),
            listings=(_lenta("kz"),),
        ),
        Edition(
            code="en",
            language="en",
            home="https://en.inform.kz/",
            article_prefix="/news/",
            feeds=("https://www.inform.kz/rss/eng.xml",),
        ),
        # No feed or listing known for it: its pages come from files, links and revisits.
        Edition(code="cn", language="zh", home="https://cn.inform.kz/", article_prefix="/news/"),
    ),
    hosts=frozenset(
        {"www.inform.kz", "inform.kz", "en.inform.kz", "cn.inform.kz", "www.kazinform.kz", "kazinform.kz"}
    ),
    # New layout: the slug ends in "-<hex id>" (6+ lowercase hex digits); old layout: "_a<digits>".
    # The editions share one id sequence, so the id alone is the key.
    article_patterns=(r"-(?P<id>[0-9a-f]{6,16})/?$", r"_(?P<id>a\d+)/?$"),
    parsers=(LayoutA, LayoutB),
    reads_text_copies=True,  # the seed's plain-text copies are Kazinform's
    requests_per_second=1.0,
    # The replica serves Kazinform at its root, the English host under /en.
    mirror_paths=MappingProxyType({"www.inform.kz": "", "inform.kz": "", "en.inform.kz": "/en"}),
)
