"""A fast scan of an HTML page's tag stream that refuses shapes too costly to build into a tree.

lexbor (and any HTML tree builder) pays for every element once per open ancestor: 100,000 nested
divs took ~41 s to build, 200,000 took 122 s. This scan runs before the tree is built, in time
linear in the page, and counts what the tree builder would keep open:

- void elements (br, img, meta…) never open; elements whose end tag is optional (p, li, td,
  option…) are not counted, so pages that leave `<p>` or `<li>` unclosed are never refused —
  a new `<p>` or `<li>` closes the previous one in the tree builder too, and they only nest inside
  counted elements (a list, a table), which bounds the true depth at twice the counted one;
- an end tag closes everything opened after its matching start tag, as the tree builder's
  generic rule does; an end tag with no open match is ignored;
- script, style, title, textarea… hold text, not tags, and are skipped to their end tag;
- `<x/>` closes itself only inside svg or math: in HTML the slash is ignored and the element stays
  open, so it counts.

The count is an upper bound of lexbor's depth up to that factor of two for the uncounted kinds,
close enough for a bound set ~10 times above any real page.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from parsers.limits import MAX_ELEMENTS, MAX_NESTING_DEPTH
from parsers.record import ParseError

_VOID = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img"}
    | {"input", "keygen", "link", "meta", "param", "source", "track", "wbr"}
)
# Elements whose end tag may be left out (the tree builder closes them when a sibling starts).
_OPTIONAL_END = frozenset(
    {"html", "head", "body", "p", "li", "dt", "dd", "rb", "rt", "rtc", "rp", "optgroup", "option"}
    | {"colgroup", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"}
)
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}", re.IGNORECASE)
    for name in ("script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes")
}
_FOREIGN = frozenset({"svg", "math"})
# A tag (group 1 = '/' for an end tag, group 2 = name), a comment opening, or <!…> / <?…>.
_TOKEN = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*)|(!--)|[!?])")
# End tags as well as start tags cost a step of the scan; a page of MAX_ELEMENTS elements has at
# most twice as many tags.
MAX_TAGS = 2 * MAX_ELEMENTS


class HtmlShape(NamedTuple):
    deepest: int  # most elements open at once
    elements: int  # start tags
    tags: int  # start and end tags
    complete: bool  # False when the scan stopped at MAX_ELEMENTS or MAX_TAGS


def measure_html_shape(html: str) -> HtmlShape:
    """Depth and size of the page as the tree builder would see them, up to the scan's bounds."""
    stack: list[str] = []
    open_counts: dict[str, int] = {}
    foreign = 0  # open svg/math elements: inside them `<x/>` closes itself
    deepest = elements = tags = 0
    position = 0
    length = len(html)
    while position < length:
        token = _TOKEN.search(html, position)
        if token is None:
            break
        if token.group(3):  # a comment, up to -->
            close = html.find("-->", token.end())
            if close < 0:
                break
            position = close + 3
            continue
        close = html.find(">", token.end())
        if close < 0:
            break  # a tag cut off by the end of the input: the tokenizer drops it
        position = close + 1
        name = token.group(2)
        if name is None:  # doctype, CDATA, processing instruction
            continue
        tags += 1
        if tags > MAX_TAGS:
            break
        name = name.lower()
        if token.group(1):  # end tag: close up to the matching open element, if any
            if open_counts.get(name):
                while True:
                    closed = stack.pop()
                    open_counts[closed] -= 1
                    if closed in _FOREIGN:
                        foreign -= 1
                    if closed == name:
                        break
            continue
        elements += 1
        if elements > MAX_ELEMENTS:
            break
        if name in _VOID or name in _OPTIONAL_END:
            continue
        if foreign == 0 and name in _RAW_TEXT_END:
            end_tag = _RAW_TEXT_END[name].search(html, position)
            if end_tag is None:
                break  # the rest of the page is this element's text
            position = end_tag.end()
            continue
        if foreign == 0 and name == "plaintext":
            break
        if html[close - 1] == "/" and (foreign or name in _FOREIGN):
            continue
        stack.append(name)
        open_counts[name] = open_counts.get(name, 0) + 1
        if name in _FOREIGN:
            foreign += 1
        if len(stack) > deepest:
            deepest = len(stack)
    return HtmlShape(deepest, elements, tags, complete=tags <= MAX_TAGS and elements <= MAX_ELEMENTS)


def check_html_shape(html: str, locator: str) -> None:
    """ParseError when the page nests deeper than MAX_NESTING_DEPTH or has more than MAX_ELEMENTS."""
    shape = measure_html_shape(html)
    if shape.deepest > MAX_NESTING_DEPTH:
        found = f"{shape.deepest:,}" if shape.complete else f"{shape.deepest:,} or more"
        raise ParseError(
            f"HTML nesting deeper than {MAX_NESTING_DEPTH:,} elements (found {found})", source_name=locator
        )
    if shape.elements > MAX_ELEMENTS:
        raise ParseError(f"HTML has more than {MAX_ELEMENTS:,} elements", source_name=locator)
    if shape.tags > MAX_TAGS:
        raise ParseError(f"HTML has more than {MAX_TAGS:,} tags", source_name=locator)
