"""The fallback parser for any news page: metadata from JSON-LD / Open Graph / meta tags, the body
from trafilatura.

A source defined only as data (no parser class), or an address no registered source claims, is
read by this parser; its records say `parser = generic@<VERSION>`.

Fields, each from the first place that has it:
- title: JSON-LD headline, og:title/twitter:title (site name cut off), the first <h1>, <title>;
- lead: JSON-LD description, og:description, meta description, unless it only repeats the
  body's first paragraph (a teaser, not a lead);
- body: trafilatura's main-text tree → paragraphs, headings, list items, quotes, table rows;
  JSON-LD articleBody when trafilatura finds nothing; our own block walk over an
  `<article>`-like element last (a very short article trafilatura refuses);
- dates: JSON-LD datePublished/dateModified, article:published_time/modified_time, <time>;
- authors: JSON-LD Person authors, meta author, article:author, rel=author — without the
  outlet's own name (JSON-LD organisations, publisher, og:site_name);
- tags: article:tag, JSON-LD keywords, a[rel=tag], meta keywords;
- category: JSON-LD articleSection, article:section;
- image: og:image / JSON-LD image; caption and credit from the JSON-LD ImageObject or the
  page's <figure> around that image;
- language: JSON-LD inLanguage, <html lang>, og:locale, checked against the text's script.

trafilatura runs with `fast=True` (no readability/jusText fallbacks), `favor_recall=True` and
formatting kept, which keeps headings and lists apart; see benchmarks/parse.py for its speed and
body similarity against the default settings.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from parsers.base import BaseParser, attribute
from parsers.blocks import extract_blocks, followed_by_content, image_block
from parsers.dates import parse_iso_date, parse_page_date
from parsers.limits import MAX_BLOCKS, MAX_TEXT_LINES
from parsers.metadata import (
    language_code,
    ld_authors,
    ld_image,
    ld_keywords,
    ld_organisation_names,
    ld_text,
    strip_site_name,
)
from parsers.record import Block, ParseError, normalize_text
from parsers.text import (
    COMMON_PROMO_PATTERNS,
    PHOTO_CREDIT,
    TAG_LABELS,
    author_names,
    body_text,
    dedupe,
    detect_language,
    drop_promo_blocks,
    split_caption_credit,
)

# Characters of HTML handed to trafilatura. Its time is linear in the markup and steepest on
# link-dense markup (its link-density pruning): ~2 s a megabyte of <div><a> chrome, ~0.3 s a
# megabyte of paragraphs, ~30 ms for a 200 KB news page (2-core machine). Real news pages are
# 100–300 KB. A larger page gives trafilatura its article element instead (a news article's own
# markup is a few tens of KB), and what is handed over is cut at this size: with the 5 MB input
# cap (parsers.limits) a hostile page costs trafilatura 1–2 s at most (link-dense, measured).
TRAFILATURA_MAX_HTML_CHARS = 500_000
# Where the article's own markup usually sits; used to find a body container for the own-walk
# fallback and to decide whether a cut-off page ends inside the body.
ARTICLE_CONTAINERS = (
    "[itemprop=articleBody]",
    ".entry-content",
    ".post-content",
    ".article-body",
    ".article__content",
    ".article__body-text",
    "article",
    "main",
)
_NOT_TEXT_TAGS = ("script", "style", "noscript", "template", "svg")
_TITLES = ("article h1", "h1", "[itemprop=headline]")
# Markup used only when the metadata lacks a field: class names common to news templates.
_ROOTS = ("article", "[itemtype*=Article]", "main")
_LEADS = ("[itemprop=description]", "[class*=lead]", "[class*=description]", "[class*=excerpt]")
_DATES = ("time", "[itemprop=datePublished]", "[class*=date]", "[class*=time]")
_AUTHORS = (
    "[itemprop=author] [itemprop=name]",
    "[rel=author]",
    "[class*=author] [class*=name]",
    "a[href*='/author/']",
)
_TAGS = ("a[rel=tag]", "[class*=tags] a", "[class*=tag-list] a")
_CATEGORIES = ("[class*=categor] a", "[class*=breadcrumb] a:last-child")
_FIGURES = ("figure", "[class*=photo]", "[class*=image]")
_SIZE_SUFFIX = re.compile(r"[-_]\d{2,5}x\d{2,5}$")
_DATE_NODES_READ = 3  # the article's own date comes first; later matches are related-news cards
_TRAFILATURA_BLOCK_KINDS = {"p": "paragraph", "head": "heading", "quote": "quote", "code": "paragraph"}
_ARTICLE_TYPES_SEEN = ("headline", "articleBody", "datePublished")


class GenericParser(BaseParser):
    """Any news page, read through its metadata and trafilatura's main-text extraction."""

    NAME = "generic"
    VERSION = "1.0"
    # Promo lines many outlets print; "read also" lines are always dropped (parsers.text.READ_ALSO).
    PROMO_PATTERNS: tuple[str, ...] = COMMON_PROMO_PATTERNS

    # --- signals ----------------------------------------------------------------------------

    def has_article_signal(self) -> bool:
        """JSON-LD article, og:type article, an <article>-like element or a headline: a bare
        <title> over a page's text (an error or maintenance page) is not an article."""
        return (
            any(self.page.ld_value(key) is not None for key in _ARTICLE_TYPES_SEEN)
            or (self.page.meta_value("og:type") or "").lower() == "article"
            or self.page.first(ARTICLE_CONTAINERS[:-1]) is not None
            or self.page.first(_TITLES) is not None
        )

    def body_is_complete(self) -> bool:
        """On a cut-off page the body is complete only when markup follows its container."""
        if not self.page.truncated:
            return True
        container = self.page.first(ARTICLE_CONTAINERS)
        return container is not None and followed_by_content(container)

    # --- text -------------------------------------------------------------------------------

    def _root(self) -> Any:
        """The element the article sits in (markup fallbacks look only there), else <body>."""
        if "_root" not in self.values:
            root = self.page.first(_ROOTS)
            self.values["_root"] = root if root is not None else self.page.tree.body
        return self.values["_root"]

    def _markup_texts(self, selectors: tuple[str, ...], limit: int = 20) -> list[str]:
        """Texts of the first selector that matches in the article element, else in the whole page
        (templates that wrap only the body text in <article> print the date and tags beside it)."""
        root = self._root()
        nodes = self.page.all(selectors, root) if root is not None else []
        if not nodes and root is not None and root is not self.page.tree.body:
            nodes = self.page.all(selectors)
        return [text for n in nodes[:limit] if (text := normalize_text(n.text(deep=True, separator=" ")))]

    def _site_names(self) -> list[str]:
        """What the outlet calls itself: never a title's part, an author or a tag."""
        if "_site_names" not in self.values:
            names = [
                self.page.meta_value("og:site_name"),
                *ld_organisation_names(self.page.ld_value("publisher")),
                *ld_organisation_names(self.page.ld_value("author")),
            ]
            self.values["_site_names"] = dedupe([n for n in names if n])
        return self.values["_site_names"]

    @attribute
    def title(self) -> str | None:
        site = next(iter(self._site_names()), None)
        heading = self.page.first(_TITLES)
        document_title = self.page.tree.css_first("title")
        candidates = (
            ld_text(self.page.ld_value("headline")),
            strip_site_name(self.page.meta_value("og:title", "twitter:title"), site),
            normalize_text(heading.text(deep=True, separator=" ")) if heading is not None else None,
            strip_site_name(normalize_text(document_title.text()), site)
            if document_title is not None
            else None,
        )
        return next((c for c in candidates if c), None)

    @attribute
    def lead(self) -> str | None:
        described = (
            ld_text(self.page.ld_value("description"))
            or self.page.meta_value("og:description", "twitter:description", "description")
            or next(iter(self._markup_texts(_LEADS, limit=1)), None)
        )
        if not described:
            return None
        first = next((b.text for b in self._extracted() if b.kind != "image" and b.text != described), "")
        # A description that merely repeats the start of the body is a teaser, not a lead.
        return None if first.startswith(described.rstrip(".… ")) else described

    def _extracted(self) -> list[Block]:
        """The body's text blocks before the lead is taken out of them."""
        if "_extracted" not in self.values:
            blocks = _trafilatura_blocks(self._extraction_html(), self.page.url)
            if not blocks:
                blocks = self._ld_body_blocks() or self._own_walk_blocks()
            blocks = [b for b in blocks if not PHOTO_CREDIT.match(b.text)]  # the image's credit
            self.values["_extracted"] = drop_promo_blocks(blocks, self.PROMO_PATTERNS)
        return self.values["_extracted"]

    def _extraction_html(self) -> str:
        """The markup trafilatura reads: the page, or on a page over TRAFILATURA_MAX_HTML_CHARS its
        article element, cut at that size."""
        html = self.page.html
        if len(html) <= TRAFILATURA_MAX_HTML_CHARS:
            return html
        container = self.page.first(ARTICLE_CONTAINERS)
        # Scripts and styles go first (a copy is parsed: the page's tree is shared, not edited).
        # lexbor builds even a 5 MB page in ~20 ms.
        stripped = LexborHTMLParser(container.html or "" if container is not None else html)
        stripped.strip_tags(list(_NOT_TEXT_TAGS), recursive=True)
        return (stripped.html or "")[:TRAFILATURA_MAX_HTML_CHARS]

    def _ld_body_blocks(self) -> list[Block]:
        raw_body = self.page.ld_value("articleBody")
        if not isinstance(raw_body, str) or self.page.truncated:
            return []
        lines = raw_body.splitlines()
        if len(lines) > MAX_TEXT_LINES:
            raise ParseError(f"JSON-LD articleBody has more than {MAX_TEXT_LINES:,} lines")
        blocks = [Block("paragraph", text) for text in map(normalize_text, lines) if text]
        if len(blocks) > MAX_BLOCKS:
            raise ParseError(f"article body has more than {MAX_BLOCKS:,} blocks")
        return blocks

    def _own_walk_blocks(self) -> list[Block]:
        container = self.page.first(ARTICLE_CONTAINERS)
        if container is None:
            return []
        taken = {self.title()}
        return [
            b for b in extract_blocks(container, self.page.url) if b.kind != "image" and b.text not in taken
        ]

    @attribute
    def blocks(self) -> list[Block]:
        # The lead and the title are fields of their own: trafilatura often keeps the lead as a
        # paragraph (first or last) and, on pages without metadata, the headline as the first.
        taken = {self.lead(), self.title()}
        blocks = [b for b in self._extracted() if b.text not in taken]
        main_image = self._main_image()
        return [main_image, *blocks] if main_image is not None else blocks

    @attribute
    def body(self) -> str:
        return body_text(self.blocks())

    # --- dates ------------------------------------------------------------------------------

    def _time_element(self, attribute_name: str) -> str | None:
        node = self.page.first((f"article time[{attribute_name}]", f"time[{attribute_name}]"))
        return node.attributes.get(attribute_name) if node is not None else None

    @attribute
    def published_text(self) -> str | None:
        """The date as the page states it: the visible <time> when it reads as a date, else the
        metadata value."""
        for shown in self._markup_texts(_DATES, limit=_DATE_NODES_READ):
            if parse_page_date(shown):
                return shown
        return (
            ld_text(self.page.ld_value("datePublished"))
            or self.page.meta_value("article:published_time", "og:published_time", "date", "pubdate")
            or self._time_element("datetime")
        )

    @attribute
    def published_at(self) -> datetime | None:
        candidates = (
            ld_text(self.page.ld_value("datePublished")),
            self.page.meta_value("article:published_time", "og:published_time", "date", "pubdate"),
            self._time_element("datetime"),
        )
        found = next((value for value in map(parse_iso_date, candidates) if value), None)
        return found or parse_page_date(self.published_text())

    @attribute
    def updated_at(self) -> datetime | None:
        return parse_iso_date(
            ld_text(self.page.ld_value("dateModified"))
            or self.page.meta_value("article:modified_time", "og:updated_time")
        )

    # --- people and topics ------------------------------------------------------------------

    @attribute
    def authors(self) -> list[str]:
        bylines: list[str] = ld_authors(self.page.ld_value("author"))
        if not bylines:
            bylines = self.page.meta.get("author", []) or self.page.meta.get("article:author", [])
        if not bylines:
            bylines = self._markup_texts(_AUTHORS, limit=10)
        return author_names(bylines, agency_names=self._site_names())

    @attribute
    def tags(self) -> list[str]:
        tags = self.page.meta.get("article:tag", []) or ld_keywords(self.page.ld_value("keywords"))
        if not tags:
            tags = self._markup_texts(_TAGS, limit=50)
        if not tags:
            tags = ld_keywords(self.page.meta_value("keywords", "news_keywords"))
        cleaned = (normalize_text(t).lstrip("#") for t in tags)
        return dedupe([t for t in cleaned if t and not TAG_LABELS.match(t)])

    @attribute
    def category(self) -> str | None:
        return (
            ld_text(self.page.ld_value("articleSection"))
            or self.page.meta_value("article:section")
            or next(iter(self._markup_texts(_CATEGORIES, limit=1)), None)
        )

    # --- image ------------------------------------------------------------------------------

    def _main_image(self) -> Block | None:
        """The lead picture: og:image / JSON-LD image, with the caption and credit the JSON-LD
        ImageObject or the page's <figure> around the same picture gives."""
        if "_main_image" in self.values:
            return self.values["_main_image"]
        ld_url, ld_caption, ld_credit = ld_image(self.page.ld_value("image"))
        url = self.page.meta_value("og:image", "twitter:image") or ld_url
        block = None
        if not url:  # no metadata: the first picture in the article's markup
            block = next(filter(None, (image_block(n, self.page.url) for n in self._figures()[:3])), None)
        if url:
            url = urljoin(self.page.url or "", url)
            figure = _figure_of(self._figures(), url, self.page.url)
            caption, printed_credit = split_caption_credit(ld_caption or (figure.text if figure else None))
            credit = ld_credit or (figure.credit if figure else None) or printed_credit
            if credit:
                line = PHOTO_CREDIT.match(credit)
                credit = line["credit"].strip() if line else credit
            block = Block("image", caption or "", src=url, credit=credit)
        self.values["_main_image"] = block
        return block

    def _figures(self) -> list[Any]:
        root = self._root()
        return self.page.all(_FIGURES, root)[:20] if root is not None else []

    @attribute
    def image_url(self) -> str | None:
        image = self._main_image()
        return image.src if image is not None else None

    @attribute
    def image_caption(self) -> str | None:
        image = self._main_image()
        return (image.text or None) if image is not None else None

    @attribute
    def image_credit(self) -> str | None:
        image = self._main_image()
        return image.credit if image is not None else None

    @attribute
    def language(self) -> str | None:
        """The declared language, unless the text's script contradicts it (templates often carry
        one `lang` for every edition); Kazakh-only letters settle ru vs kk."""
        declared = (
            language_code(ld_text(self.page.ld_value("inLanguage")))
            or language_code(self.page.html_lang)
            or language_code(self.page.meta_value("og:locale"))
        )
        detected = detect_language(" ".join((self.title() or "", self.body()[:2000])))
        if declared and (detected is None or _script(declared) == _script(detected)):
            return "kk" if declared == "ru" and detected == "kk" else declared
        return detected or declared


# --- trafilatura -----------------------------------------------------------------------------


def _trafilatura_blocks(html: str, url: str | None) -> list[Block]:
    """trafilatura's main text as blocks; [] when it finds none."""
    from trafilatura import bare_extraction  # imported on first use: ~0.3 s, only the generic path needs it

    document = bare_extraction(
        html,
        url=url,
        fast=True,
        favor_recall=True,
        include_comments=False,
        include_formatting=True,
        include_images=False,
        include_links=False,
        with_metadata=False,
    )
    body = getattr(document, "body", None) if document is not None else None
    return blocks_from_trafilatura(body) if body is not None else []


def blocks_from_trafilatura(body: Any) -> list[Block]:
    """trafilatura's XML body (p, head, list/item, quote, table/row/cell, code) → record blocks."""
    blocks: list[Block] = []

    def add(kind: str, text: str) -> None:
        text = normalize_text(text)
        if not text:
            return
        if len(blocks) >= MAX_BLOCKS:
            raise ParseError(f"article body has more than {MAX_BLOCKS:,} blocks")
        blocks.append(Block(kind, text))  # type: ignore[arg-type]

    for element in body.iterchildren():
        tag = element.tag
        if tag in _TRAFILATURA_BLOCK_KINDS:
            add(_TRAFILATURA_BLOCK_KINDS[tag], _element_text(element))
        elif tag == "list":
            for item in element.iter("item"):
                add("list_item", _own_item_text(item))
        elif tag == "table":
            for row in element.iter("row"):
                add("paragraph", " | ".join(normalize_text(_element_text(cell)) for cell in row.iter("cell")))
        elif isinstance(tag, str):
            add("paragraph", _element_text(element))
    return blocks


def _element_text(element: Any) -> str:
    """All text inside, a line break (<lb/>) read as a space."""
    return " ".join(part for part in element.itertext() if part)


def _own_item_text(item: Any) -> str:
    """A list item's text without the items of a list nested in it (those are items of their own)."""
    parts = [item.text or ""]
    for child in item:
        if child.tag != "list":
            parts.append(_element_text(child))
        parts.append(child.tail or "")
    return " ".join(parts)


# --- page structure --------------------------------------------------------------------------


def _figure_of(figures: list[Any], image_url: str, page_url: str | None) -> Block | None:
    """The figure (its caption and credit) around the picture at `image_url`, if the page has one;
    the lead picture comes early, so only the first figures are looked at."""
    wanted = _picture_name(image_url)
    for figure in figures:
        image = figure if figure.tag == "img" else figure.css_first("img")
        src = (image.attributes.get("data-src") or image.attributes.get("src") or "") if image else ""
        if wanted and _picture_name(src) == wanted:
            return image_block(figure, page_url)
    return None


def _picture_name(url: str) -> str:
    """'…/uploads/2026/03/bakhty-terminal-696x464.jpg?v=2' → 'bakhty-terminal': the same picture
    in another size (WordPress and most CMSs add the size to the name) has the same name."""
    name = url.split("?")[0].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _SIZE_SUFFIX.sub("", name)


_CYRILLIC_LANGUAGES = frozenset({"ru", "kk", "uk", "be", "bg", "sr", "mk", "ky", "tg", "mn"})
_HAN_LANGUAGES = frozenset({"zh", "ja"})


def _script(language: str) -> str:
    if language in _CYRILLIC_LANGUAGES:
        return "cyrillic"
    return "han" if language in _HAN_LANGUAGES else "latin"
