"""Tengrinews (tengrinews.kz, kaz.tengrinews.kz, en.tengrinews.kz): the source definition and its
article page layouts.

What is known of the site and how sure it is: SITE.md of the project's research notes (H: seen in
several sources or real output, M: one credible source, L: a guess). Every M/L fact below has a
fallback behind it, so a wrong guess costs a field read another way, never a failed page:

- Editions number their articles separately (a Kazakh id ~364,674 beside Russian ids ~531,000):
  the key is "{edition}-{id}" (M).
- Current layout (2024 on): JSON-LD NewsArticle, sometimes inside @graph (M); title
  `h1.head-single` (H 2024, M now); body `div.content_main_text` paragraphs (H) whose tag block
  `div.content_main_text_tags` sits inside or right after it (H) and whose last lines are promos
  (H ru, M kk); lead only in meta description / og:description (L); image og:image, else
  `picture.content_main_thumb_img img` (M); date JSON-LD, else article:published_time, else the
  visible `div.date-time` in drifting shapes (M); author unknown: meta author, /author/ links (L).
- Older layout (before ~2024): `div.tn-news-content`, `h1.tn-content-title`, `article.tn-news-text`.
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urljoin, urlsplit

from parsers.article import ArticleParser
from parsers.base import attribute
from parsers.dates import parse_iso_date, parse_shown_date
from parsers.metadata import ld_text, strip_site_suffix
from parsers.record import Block, normalize_text
from parsers.source import CardSelectors, Edition, Listing, Source
from parsers.text import TAG_LABELS, drop_promo_blocks

# Lines the site appends to articles to advertise its channels and app; never article text.
# Short lines only (lookahead): a long paragraph that mentions a subscription is news, not a promo.
PROMO_MAX_CHARS = 300
PROMO_PATTERNS = (
    rf"^(?=.{{0,{PROMO_MAX_CHARS}}}$).*?(?:наши новости теперь в|подписывайтесь|подписаться|google news)",
    rf"^(?=.{{0,{PROMO_MAX_CHARS}}}$).*?(?:сілтемесіз жаңалық оқисыз ба|қосымшада оқыңыз|"
    r"толығырақ оқу үшін қосымшаға өтіңіз)",
)

# The edition of each host: the address settles the language; on a mirror the host is the path's
# first segment.
_HOST_LANGUAGES = {
    "tengrinews.kz": "ru",
    "www.tengrinews.kz": "ru",
    "kaz.tengrinews.kz": "kk",
    "en.tengrinews.kz": "en",
}
_TAG_BLOCKS = ("div.content_main_text_tags",)


class Tengrinews2024(ArticleParser):
    """The current layout: JSON-LD first, then `h1.head-single`, `div.content_main_text`, `div.date-time`."""

    NAME = "tengrinews"
    VERSION = "2024.1"
    VALID_FROM = date(2024, 1, 1)
    VALID_UNTIL = None
    MARKERS = ("div.content_main_text", "h1.head-single")
    ROOTS = ("div.content_main", *ArticleParser.ROOTS)
    TITLES = ("h1.head-single", *ArticleParser.TITLES)
    LEADS = ()  # no lead element is known on article pages: meta description instead (lead())
    BODIES = ("div.content_main_text", *ArticleParser.BODIES)
    DATES = ("div.date-time", *ArticleParser.DATES)
    # Last: tag links printed as a plain line of the body, should the block lose its class.
    TAGS = ("div.content_main_text_tags a", *ArticleParser.TAGS, "div.content_main_text a[href*='/tag/']")
    TAG_BLOCKS = _TAG_BLOCKS
    AUTHORS = ("a[href*='/author/']", *ArticleParser.AUTHORS)
    AUTHOR_BLOCKS = ()  # no author block is known; a guessed one would read other text as names
    CATEGORIES = ()  # the section comes from JSON-LD articleSection or article:section
    MAIN_IMAGES = ("picture.content_main_thumb_img", "figure")
    AGENCY_NAMES = frozenset({"tengrinews", "tengrinews.kz", "tengri news", "тенгриньюс"})

    @attribute
    def title(self) -> str | None:
        return (
            ld_text(self.page.ld_value("headline"))
            or self._text(self.TITLES)
            or strip_site_suffix(self.page.meta_value("og:title", "twitter:title"))
            or strip_site_suffix(self._document_title())
        )

    @attribute
    def blocks(self) -> list[Block]:
        """The body's blocks without promo lines and without the tag block's words (the tag block
        may sit inside the body container)."""
        tag_texts = {t.casefold() for t in self._tag_block_texts()}
        tags = {t.casefold() for t in self.tags()}
        kept = []
        for block in drop_promo_blocks(super().blocks(), PROMO_PATTERNS):
            text = block.text.casefold()
            if block.kind != "image" and (text in tag_texts or text in tags or _only_tags(text, tags)):
                continue
            kept.append(block)
        return kept

    def _tag_block_texts(self) -> list[str]:
        return [
            normalize_text(node.text(deep=True, separator=" ")) for node in self.page.all(self.TAG_BLOCKS)
        ]

    @attribute
    def lead(self) -> str | None:
        described = self.page.meta_value("description", "og:description", "twitter:description") or ld_text(
            self.page.ld_value("description")
        )
        first = next((b.text for b in self.blocks() if b.kind != "image"), "")
        # A description that merely repeats the start of the body is a teaser, not a lead.
        if described and not first.startswith(described.rstrip(".… ")):
            return described
        return None

    def _shown_date(self) -> str | None:
        # Inside the article's container first: related-news blocks elsewhere carry dates too.
        for node in (self.page.all(self.DATES, self._root()) or self.page.all(self.DATES))[:3]:
            text = normalize_text(node.text(deep=True, separator=" "))
            if parse_shown_date(text, self._now()):
                return text
        return None

    def _now(self) -> datetime | None:
        # Relative words ("Сегодня, 14:30") count from when the page was fetched, if the page says.
        return getattr(self.page, "fetched_at", None)

    @attribute
    def published_text(self) -> str | None:
        return (
            self._shown_date()
            or ld_text(self.page.ld_value("datePublished"))
            or self.page.meta_value("article:published_time")
        )

    @attribute
    def published_at(self) -> datetime | None:
        return (
            parse_iso_date(ld_text(self.page.ld_value("datePublished")))
            or parse_iso_date(self.page.meta_value("article:published_time"))
            or parse_shown_date(self._shown_date(), self._now())
        )

    @attribute
    def image_url(self) -> str | None:
        og_image = self.page.meta_value("og:image")
        if og_image:
            return urljoin(self.page.url or "", og_image)
        return super().image_url()

    @attribute
    def language(self) -> str | None:
        url = self.page.url
        if url:
            parts = urlsplit(url)
            first_segment = parts.path.strip("/").split("/")[0]
            for host in ((parts.hostname or "").lower(), first_segment.lower()):
                if host in _HOST_LANGUAGES:
                    return _HOST_LANGUAGES[host]
        return super().language()


class TengrinewsBefore2024(Tengrinews2024):
    """The layout before ~2024: `div.tn-news-content`, `h1.tn-content-title`, `article.tn-news-text`."""

    VERSION = "2019.1"
    VALID_FROM = None  # first seen: unknown
    VALID_UNTIL = date(2023, 12, 31)
    MARKERS = ("h1.tn-content-title", "article.tn-news-text", "div.tn-news-content")
    ROOTS = ("div.tn-news-content", *ArticleParser.ROOTS)
    TITLES = ("h1.tn-content-title", *ArticleParser.TITLES)
    BODIES = ("article.tn-news-text", *ArticleParser.BODIES)
    DATES = (".tn-date", "time", "[class*=date]")
    TAGS = (".tn-tags a", "[class*=tags] a", "a[rel=tag]")
    TAG_BLOCKS = (".tn-tags", "[class*=tags]")
    MAIN_IMAGES = (".tn-news-photo", "figure", "picture")


def _only_tags(text: str, tags: set[str]) -> bool:
    """A line made of tag words only ("Казахстан Астана"), as a tag block reads once flattened."""
    if not tags:
        return False
    label = TAG_LABELS.match(text)
    rest = label["rest"] if label else text
    for tag in sorted(tags, key=len, reverse=True):
        rest = rest.replace(tag, " ")
    return not rest.strip(" ,;#")


CARDS = (
    CardSelectors(
        generation="2024",
        card="div.content_main_item",
        link="span.content_main_item_title > a[href]",
        title="span.content_main_item_title",
        time="div.content_main_item_meta > span",
    ),
)


def _edition(code: str, language: str, host: str, feed: str, listed: bool) -> Edition:
    home = f"https://{host}/"
    listings = (Listing(url=f"{home}news/", page_url=home + "news/page/{n}/", cards=CARDS),) if listed else ()
    return Edition(code=code, language=language, home=home, feeds=(home + feed,), listings=listings)


SOURCE = Source(
    name="tengrinews",
    title="Tengrinews",
    editions=(
        _edition("ru", "ru", "tengrinews.kz", "news.rss", listed=True),
        _edition("kz", "kk", "kaz.tengrinews.kz", "news.rss", listed=True),
        # The English edition's listing is unknown (SITE.md): its feed alone.
        _edition("en", "en", "en.tengrinews.kz", "rss", listed=False),
    ),
    hosts=frozenset({"tengrinews.kz", "www.tengrinews.kz", "kaz.tengrinews.kz", "en.tengrinews.kz"}),
    # /{section}/{latin-slug}-{id}/: the section varies for one story, the trailing number does not.
    article_patterns=(r"-(?P<id>\d+)/?$",),
    # The editions number separately: ru-531527 and kz-364674 are different articles.
    article_key="{edition}-{id}",
    parsers=(Tengrinews2024, TengrinewsBefore2024),
    requests_per_second=1.0,  # nothing is known of its limits: as polite as with Kazinform
)
