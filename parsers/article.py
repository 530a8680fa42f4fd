"""The selector-driven news article parser every source's layouts build on.

Sources of each field, in order: the visible markup first (what a reader sees is what we record),
then JSON-LD NewsArticle, then Open Graph / meta tags, used only to fill a field the markup lacks
(image_url, updated_at and the page address usually come from them). No field depends on
metadata alone: a page without OG or JSON-LD parses the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from parsers.base import BaseParser, attribute
from parsers.blocks import extract_blocks, followed_by_content, image_block
from parsers.dates import parse_iso_date, parse_page_date
from parsers.limits import MAX_BLOCKS, MAX_TEXT_LINES
from parsers.metadata import edition_language, ld_authors, ld_keywords, ld_text, strip_site_suffix
from parsers.record import Block, ParseError, normalize_text
from parsers.text import TAG_LABELS, author_names, body_text, dedupe, detect_language

# Selectors that hold on either generation and on pages of a layout not seen yet.
_ROOTS = ("article", ".article", "[itemtype*=Article]", "main")
_TITLES = ("h1", "[itemprop=headline]")
_LEADS = (".article__description", "[itemprop=description]", ".article__lead", ".lead")
_BODIES = (
    ".article__body-text",
    ".article__content",
    "[itemprop=articleBody]",
    ".article__text",
    ".article-body",
    ".news-text",
)
_DATES = ("time.meta-date", ".article__date", "time", "[class*=date]", "[class*=time]")
_TAGS = (".article__tags a", "[class*=tags] a", "a[rel=tag]")
_AUTHORS = (
    ".article__author [class*=name]",
    "[rel=author]",
    "[itemprop=author] [itemprop=name]",
    "a[href*='/author/']",
    "a[href*='/authors/']",
)
_AUTHOR_BLOCKS = (".article__author", "[class*=author]", "[itemprop=author]")
_CATEGORIES = (".article__category a", ".article__category", ".breadcrumbs a:last-child")
_MAIN_IMAGES = ("figure", ".article__photo", "[class*=photo]", "[class*=image]")


class ArticleParser(BaseParser):
    """A news article page read by selectors: each tuple lists selectors in priority order, and a
    source's layout is a subclass that puts its own selectors first and overrides only what differs."""

    ROOTS: ClassVar[tuple[str, ...]] = _ROOTS
    TITLES: ClassVar[tuple[str, ...]] = _TITLES
    LEADS: ClassVar[tuple[str, ...]] = _LEADS
    BODIES: ClassVar[tuple[str, ...]] = _BODIES
    DATES: ClassVar[tuple[str, ...]] = _DATES
    TAGS: ClassVar[tuple[str, ...]] = _TAGS
    AUTHORS: ClassVar[tuple[str, ...]] = _AUTHORS
    CATEGORIES: ClassVar[tuple[str, ...]] = _CATEGORIES
    MAIN_IMAGES: ClassVar[tuple[str, ...]] = _MAIN_IMAGES
    # Blocks holding an author's name as plain text (no name element inside), labels around it.
    AUTHOR_BLOCKS: ClassVar[tuple[str, ...]] = _AUTHOR_BLOCKS
    AGENCY_NAMES: ClassVar[frozenset[str]] = frozenset()  # bylines that name the outlet, not a person

    def _root(self) -> Any:
        if "_root" not in self.values:
            root = self.page.first(self.ROOTS)
            self.values["_root"] = root if root is not None else self.page.tree.body
        return self.values["_root"]

    def _text(self, selectors: tuple[str, ...]) -> str | None:
        node = self.page.first(selectors, self._root())
        return normalize_text(node.text(deep=True, separator=" ")) or None if node is not None else None

    def has_article_signal(self) -> bool:
        """Something on the page says it is an article; a bare <title> over a page's text is not one
        (maintenance and error pages would otherwise become articles)."""
        return (
            self.page.first(self.ROOTS) is not None
            or self._body_node() is not None
            or self.page.first(self.TITLES) is not None
            or self.page.ld_value("headline") is not None
            or (self.page.meta_value("og:type") or "").lower() == "article"
        )

    def _body_node(self) -> Any:
        return self.page.first(self.BODIES, self._root()) or self.page.first(self.BODIES)

    @attribute
    def title(self) -> str | None:
        return (
            self._text(self.TITLES)
            or ld_text(self.page.ld_value("headline"))
            or strip_site_suffix(self.page.meta_value("og:title", "twitter:title"))
            or strip_site_suffix(self._document_title())
        )

    def _document_title(self) -> str | None:
        node = self.page.tree.css_first("title")
        return normalize_text(node.text()) if node is not None else None

    @attribute
    def blocks(self) -> list[Block]:
        body = self._body_node()
        lead = self.lead_from_markup()
        if body is not None:
            blocks = extract_blocks(body, self.page.url)
        else:
            # Unknown layout: read the whole article element and drop what other fields hold.
            root = self._root()
            taken = {self.title(), lead, self.published_text()}
            blocks = [b for b in extract_blocks(root, self.page.url) if b.text not in taken] if root else []
        if blocks and lead and blocks[0].kind == "paragraph" and blocks[0].text == lead:
            blocks = blocks[1:]  # some pages repeat the lead as the first paragraph
        main_image = self._main_image()
        if main_image is not None and not any(b.kind == "image" for b in blocks):
            blocks = [main_image, *blocks]
        raw_body = self.page.ld_value("articleBody")
        has_text = any(b.kind != "image" for b in blocks)
        if not has_text and isinstance(raw_body, str) and not self.page.truncated:
            # Markup gave no text: JSON-LD articleBody, one paragraph per line, as the last resort.
            lines = raw_body.splitlines()
            if len(lines) > MAX_TEXT_LINES:
                raise ParseError(f"JSON-LD articleBody has more than {MAX_TEXT_LINES:,} lines")
            paragraphs = (normalize_text(line) for line in lines)
            blocks = [*blocks, *(Block("paragraph", text) for text in paragraphs if text)][: MAX_BLOCKS + 1]
            if len(blocks) > MAX_BLOCKS:
                raise ParseError(f"article body has more than {MAX_BLOCKS:,} blocks")
        return blocks

    def _main_image(self) -> Block | None:
        body = self._body_node()
        for node in self.page.all(self.MAIN_IMAGES, self._root()):
            if body is not None and _is_inside(node, body):
                continue
            block = image_block(node, self.page.url)
            if block is not None:
                return block
        return None

    def body_is_complete(self) -> bool:
        """False when the page was cut off inside the article body (nothing follows the body)."""
        if not self.page.truncated:
            return True
        body = self._body_node() or self._root()
        return body is not None and followed_by_content(body)

    @attribute
    def body(self) -> str:
        return body_text(self.blocks())

    def lead_from_markup(self) -> str | None:
        return self._text(self.LEADS)

    @attribute
    def lead(self) -> str | None:
        lead = self.lead_from_markup()
        if lead:
            return lead
        described = ld_text(self.page.ld_value("description")) or self.page.meta_value("og:description")
        first = next((b.text for b in self.blocks() if b.kind != "image"), "")
        # A description that merely repeats the start of the body is a teaser, not a lead.
        if described and not first.startswith(described.rstrip(".… ")):
            return described
        return None

    @attribute
    def published_text(self) -> str | None:
        for node in self.page.all(self.DATES, self._root())[:3]:
            text = normalize_text(node.text(deep=True, separator=" "))
            if parse_page_date(text):
                return text
        return self.page.meta_value("article:published_time") or ld_text(self.page.ld_value("datePublished"))

    @attribute
    def published_at(self) -> datetime | None:
        shown = parse_page_date(self.published_text())
        if shown:
            return shown
        node = self.page.first(("time[datetime]", "[itemprop=datePublished]"), self._root())
        candidates = (
            node.attributes.get("datetime") or node.attributes.get("content") if node is not None else None,
            self.page.meta_value("article:published_time"),
            ld_text(self.page.ld_value("datePublished")),
        )
        return next((value for value in map(parse_iso_date, candidates) if value), None)

    @attribute
    def updated_at(self) -> datetime | None:
        return parse_iso_date(
            ld_text(self.page.ld_value("dateModified")) or self.page.meta_value("article:modified_time")
        )

    @attribute
    def authors(self) -> list[str]:
        """However the page shows it: a name element or link, plain text in the author block,
        JSON-LD `author`, `meta[name=author]` — the first that gives a person's name."""
        agencies = self.AGENCY_NAMES
        names = author_names(
            (n.text(deep=True, separator=" ") for n in self.page.all(self.AUTHORS)), agencies
        )
        if not names:
            blocks = self.page.all(self.AUTHOR_BLOCKS, self._root())[:3]
            names = author_names((_own_text(node) for node in blocks), agencies)
        if not names:
            names = author_names(ld_authors(self.page.ld_value("author")), agencies)
        if not names:
            names = author_names(self.page.meta.get("author", []), agencies)
        return names

    @attribute
    def tags(self) -> list[str]:
        tags = [normalize_text(n.text(deep=True, separator=" ")) for n in self.page.all(self.TAGS)]
        tags = [t.lstrip("#") for t in tags if t and not TAG_LABELS.match(t)]
        if not tags:
            tags = self.page.meta.get("article:tag", []) or ld_keywords(self.page.ld_value("keywords"))
        return dedupe([normalize_text(t) for t in tags])

    @attribute
    def category(self) -> str | None:
        return (
            self._text(self.CATEGORIES)
            or ld_text(self.page.ld_value("articleSection"))
            or self.page.meta_value("article:section")
        )

    @attribute
    def image_url(self) -> str | None:
        image = next((b for b in self.blocks() if b.kind == "image" and b.src), None)
        if image is not None:
            return image.src
        ld_image = self.page.ld_value("image")
        if isinstance(ld_image, list):
            ld_image = ld_image[0] if ld_image else None
        if isinstance(ld_image, dict):
            ld_image = ld_image.get("url")
        return self.page.meta_value("og:image") or (ld_image if isinstance(ld_image, str) else None)

    @attribute
    def image_caption(self) -> str | None:
        return next((b.text or None for b in self.blocks() if b.kind == "image"), None)

    @attribute
    def image_credit(self) -> str | None:
        return next((b.credit for b in self.blocks() if b.kind == "image"), None)

    @attribute
    def language(self) -> str | None:
        # The edition in the address is certain; next the script of the text itself, because
        # templates often carry one `lang` for every edition; `lang` only settles ru vs kk.
        from_url = self.page.edition_language or edition_language(self.page.url)
        if from_url:
            return from_url
        detected = detect_language(" ".join((self.title() or "", self.body()[:2000])))
        declared = edition_language(self.page.html_lang)
        if detected == "ru" and declared == "kk":
            return declared
        return detected or declared


def _is_inside(node: Any, ancestor: Any) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id == ancestor.mem_id:
            return True
        parent = parent.parent
    return False


def _own_text(node: Any) -> str:
    """An author block's text with each name printed once (some layouts print it twice)."""
    parts = [normalize_text(t) for t in node.text(deep=True, separator="\n").split("\n")]
    return ", ".join(dedupe([p for p in parts if p]))
