"""An article body container → ordered blocks (heading, paragraph, list_item, quote, image).

One walk over the container's subtree. Left out: scripts, styles, embeds, forms and every
element whose class or id names boilerplate (ads, share, read-also, related, tags, author…),
plus paragraphs that are "read also" links or photo credits (a credit is attached to the image
block above it instead). A body of more than MAX_BLOCKS blocks is a ParseError: the walk stops
there, so a hostile page costs at most that many blocks.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborNode

from parsers.limits import MAX_BLOCKS
from parsers.record import Block, ParseError, normalize_text
from parsers.text import PHOTO_CREDIT, READ_ALSO, looks_like_heading

_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "iframe",
        "form",
        "button",
        "svg",
        "nav",
        "aside",
        "footer",
        "template",
        "ins",
        "object",
        "embed",
        "video",
        "audio",
        "input",
        "select",
        "textarea",
        "link",
    }
)
_INLINE_TAGS = frozenset(
    {
        "a",
        "span",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "sup",
        "sub",
        "small",
        "mark",
        "abbr",
        "cite",
        "code",
        "q",
        "time",
        "font",
        "label",
        "wbr",
        "-text",
    }
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_EMPHASIS = frozenset({"strong", "b"})
# Whole words inside class/id values (split on -, _ and spaces) that mark boilerplate.
NOISE_CLASS = re.compile(
    r"(?:^|[\s_-])(?:ad|ads|adv|advert\w*|adsbygoogle|banner|share|sharing|social|related|also|"
    r"readalso|subscribe|cookies?|promo|widget|recommend\w*|comments?|instagram-media|twitter-tweet|"
    r"telegram|tags?|author\w*|breadcrumbs?|views?|print|rating|sponsor\w*|teaser|popup|modal)"
    r"(?=$|[\s_-])",
    re.IGNORECASE,
)
_FIGURE_CLASS = re.compile(r"photo|image|figure|picture|img", re.IGNORECASE)
_TRAILING_CREDIT_LABEL = re.compile(r"(?:photo\s+credit|photo|фото|сурет)\s*[:：]?\s*$", re.IGNORECASE)


def _credit_text(text: str) -> str | None:
    line = PHOTO_CREDIT.match(text)
    return (line["credit"].strip() if line else text) or None


# Characters of a class or id value read for noise words: real values are a few dozen characters,
# and the regex costs ~0.1 s a megabyte on a hostile one.
_MARKER_CHARS = 1_000


def is_noise(node: LexborNode) -> bool:
    attributes = node.attributes
    class_value, id_value = attributes.get("class") or "", attributes.get("id") or ""
    marker = f"{class_value[:_MARKER_CHARS]} {id_value[:_MARKER_CHARS]}"
    return len(marker) > 1 and NOISE_CLASS.search(marker) is not None


def image_block(container: LexborNode, page_url: str | None) -> Block | None:
    """A figure-like element → image block: src, caption (figcaption or alt), credit."""
    image = container if container.tag == "img" else container.css_first("img")
    if image is None:
        return None
    attributes = image.attributes
    src = attributes.get("data-src") or attributes.get("src") or None
    if src and page_url:
        src = urljoin(page_url, src)
    caption = credit = None
    if container.tag != "img":
        credit_node = container.css_first("[class*=credit], [class*=source], [class*=copyright]")
        if credit_node is not None:
            credit = _credit_text(normalize_text(credit_node.text(deep=True)))
        caption_node = container.css_first("[class*=caption]") or container.css_first("figcaption")
        if caption_node is not None:
            caption = normalize_text(caption_node.text(deep=True, separator=" "))
            line = PHOTO_CREDIT.match(caption)
            if line:  # the caption is only a credit line
                credit, caption = credit or line["credit"].strip(), None
            elif credit and caption.endswith(credit):
                caption = _TRAILING_CREDIT_LABEL.sub("", caption[: -len(credit)]).strip() or None
    caption = caption or normalize_text(attributes.get("alt")) or None
    return Block(kind="image", text=caption or "", src=src, credit=credit)


class _BlockCollector:
    def __init__(self, page_url: str | None) -> None:
        self.page_url = page_url
        self.blocks: list[Block] = []
        self.pending: list[str] = []

    def flush(self) -> None:
        if self.pending:
            self.add_text("paragraph", "".join(self.pending))
            self.pending = []

    def add_text(self, kind: str, raw: str, node: LexborNode | None = None) -> None:
        text = normalize_text(raw)
        if not text or READ_ALSO.match(text):
            return
        credit = PHOTO_CREDIT.match(text)
        if credit and kind == "paragraph":
            last = self.blocks[-1] if self.blocks else None
            if last is not None and last.kind == "image" and not last.credit:
                self.blocks[-1] = Block("image", last.text, last.src, credit["credit"].strip())
            return
        if kind == "paragraph" and node is not None and self._is_bold_heading(node, text):
            kind = "heading"
        self.append(Block(kind=kind, text=text))  # type: ignore[arg-type]

    def append(self, block: Block) -> None:
        if len(self.blocks) >= MAX_BLOCKS:
            raise ParseError(f"article body has more than {MAX_BLOCKS:,} blocks")
        self.blocks.append(block)

    @staticmethod
    def _is_bold_heading(node: LexborNode, text: str) -> bool:
        children = [child for child in node.iter(include_text=True) if child.text(deep=True).strip()]
        return len(children) == 1 and children[0].tag in _EMPHASIS and looks_like_heading(text)

    def add_image(self, node: LexborNode) -> None:
        block = image_block(node, self.page_url)
        if block is not None:
            self.append(block)

    def walk(self, container: LexborNode) -> None:
        """Every child in reading order; containers are entered through a stack, not by recursion, so
        no nesting depth can exhaust Python's call stack."""
        pending_children = [container.iter(include_text=True)]
        while pending_children:
            child = next(pending_children[-1], None)
            if child is None:
                pending_children.pop()
                self.flush()  # a container's text ends at its end
                continue
            tag = child.tag
            if tag == "-text":
                self.pending.append(child.text(deep=False))
                continue
            if tag in _SKIP_TAGS or is_noise(child):
                continue
            if tag == "br":
                self.pending.append(" ")
            elif tag in _INLINE_TAGS:
                self.pending.append(child.text(deep=True))
            elif tag == "img":
                self.flush()
                self.add_image(child)
            else:
                self.flush()
                if self.block(child, tag):
                    pending_children.append(child.iter(include_text=True))

    def block(self, node: LexborNode, tag: str) -> bool:
        """Add the blocks a block-level element makes; True when its children are to be walked."""
        if tag == "p":
            if node.css_first("img") is not None:
                return True  # a picture wrapped in a paragraph
            self.add_text("paragraph", node.text(deep=True), node)
        elif tag in _HEADINGS:
            self.add_text("heading", node.text(deep=True))
        elif tag in ("ul", "ol"):
            for item in node.iter():
                if item.tag == "li" and not is_noise(item):
                    self.add_text("list_item", item.text(deep=True))
        elif tag == "blockquote":
            self.add_text("quote", node.text(deep=True, separator=" "))
        elif tag == "figure" or (
            _FIGURE_CLASS.search(node.attributes.get("class") or "") and node.css_first("img") is not None
        ):
            self.add_image(node)
        elif tag == "table":
            for row in node.css("tr"):
                self.add_text("paragraph", row.text(deep=True, separator=" | "))
        else:
            return True
        return False


def extract_blocks(container: LexborNode, page_url: str | None) -> list[Block]:
    """The container's readable content in reading order."""
    collector = _BlockCollector(page_url)
    collector.walk(container)
    return collector.blocks


def followed_by_content(node: Any) -> bool:
    """Whether any element comes after `node` in the document (a cut-off page ends inside its last node)."""
    while node is not None and node.tag != "html":
        sibling = node.next
        while sibling is not None:
            if sibling.tag != "-text" or (sibling.text(deep=False) or "").strip():
                return True
            sibling = sibling.next
        node = node.parent
    return False
