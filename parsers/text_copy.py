"""Text copies of articles: what a person gets by copying an article page into a file (the seed's
format, a Kazinform copy; the source whose definition `reads_text_copies` owns copies without an address).

Layout, top to bottom (every line may be indented, NBSPs kept; blank lines separate paragraphs):

    19:09, 12 Ноябрь 2025 | GMT +5      date line (the offset part is optional)
    <title>
    <lead>                              first paragraph after the title
    Tokayev and Putin                   photo alt text, directly followed by
    Photo credit: Akorda                its credit line → image_caption / image_credit, not body
    Транзитно-транспортная сфера        short line without final punctuation → heading
    • Договорились …                    bullet → list_item (bullet stripped)
    …paragraphs…
    Теги: / Тегтер: / Tags:             then the run-together tags line (see parsers.tags)
    Наталья Мосунова                    author name, printed twice on the page,
    Наталья Мосунова
    Автор                               then the role label (Автор/Авторы/Author/Authors/Авторлар)

"Читайте также" / "Оқи отырыңыз" / "Read also" lines, with the linked title when it stands on the
next line, are dropped.
"""

from __future__ import annotations

from collections.abc import Collection

from parsers.dates import parse_page_date
from parsers.limits import MAX_BLOCKS, MAX_TAG_WORDS, MAX_TEXT_LINES
from parsers.record import ArticleRecord, Block, ParseError, normalize_text
from parsers.tags import split_tags_line
from parsers.text import (
    AUTHOR_LABELS,
    PHOTO_CREDIT,
    READ_ALSO,
    TAG_LABELS,
    body_text,
    dedupe,
    detect_language,
    looks_like_heading,
)

PARSER_NAME = "text-copy@1.1"
_BULLETS = ("•", "●", "▪", "·")
_DATE_LINE_WINDOW = 3  # the date line is the first line; allow a stray line or two before it


def _looks_like_name(line: str) -> bool:
    return len(line) <= 60 and not line.endswith((".", "!", "?", ":")) and not TAG_LABELS.match(line)


def _split_tail(lines: list[str]) -> tuple[list[str], list[str], str | None]:
    """Cut the authors block and the tags block off the end: (remaining lines, authors, tags line)."""
    authors: list[str] = []
    if lines and lines[-1].casefold() in AUTHOR_LABELS:
        start = len(lines) - 1
        # Each name is printed twice; take the pairs. A name printed once is taken alone.
        while start >= 2 and lines[start - 1] == lines[start - 2] and not TAG_LABELS.match(lines[start - 1]):
            start -= 2
        if start == len(lines) - 1 and start >= 1 and _looks_like_name(lines[start - 1]):
            start -= 1
        authors = dedupe(lines[start:-1])
        lines = lines[:start]
    for position in range(len(lines) - 1, max(len(lines) - 4, -1), -1):
        label = TAG_LABELS.match(lines[position])
        if label:
            rest = label["rest"].strip()
            tags_line = rest or " ".join(lines[position + 1 :])
            return lines[:position], authors, tags_line or None
    return lines, authors, None


def _body_blocks(lines: list[str]) -> tuple[list[Block], str | None, str | None]:
    """Lines between the lead and the tags → blocks; the first photo's alt and credit are returned too."""
    blocks: list[Block] = []
    caption = credit = None
    skip_next = False
    for position, line in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        next_line = lines[position + 1] if position + 1 < len(lines) else ""
        read_also = READ_ALSO.match(line)
        if read_also:
            skip_next = not read_also["rest"]
            continue
        credit_match = PHOTO_CREDIT.match(next_line)
        if credit_match and not line.startswith(_BULLETS):
            blocks.append(Block(kind="image", text=line, credit=credit_match["credit"].strip()))
            if caption is None:
                caption, credit = line, credit_match["credit"].strip()
            skip_next = True
            continue
        if PHOTO_CREDIT.match(line):
            continue  # a credit with no alt text above it
        if line.startswith(_BULLETS):
            text = normalize_text(line.lstrip("".join(_BULLETS)))
            if text:
                blocks.append(Block(kind="list_item", text=text))
        elif looks_like_heading(line):
            blocks.append(Block(kind="heading", text=line))
        else:
            blocks.append(Block(kind="paragraph", text=line))
    return blocks, caption, credit


def parse_text_copy(
    text: str,
    *,
    locator: str,
    source: str,
    article_id: str,
    url: str | None = None,
    known_tags: Collection[str] = (),
) -> ArticleRecord:
    """A decoded text copy → record; ParseError when it has no date line or no title."""
    raw_lines = text.splitlines()
    if len(raw_lines) > MAX_TEXT_LINES:
        raise ParseError(
            f"text copy has {len(raw_lines):,} lines, more than the {MAX_TEXT_LINES:,}-line limit",
            source_name=locator,
        )
    lines = [normalize_text(line) for line in raw_lines]
    lines = [line for line in lines if line]
    if not lines:
        raise ParseError("empty text copy (only whitespace)", source_name=locator)
    date_index = next((i for i, line in enumerate(lines[:_DATE_LINE_WINDOW]) if parse_page_date(line)), None)
    if date_index is None:
        raise ParseError(
            f"text copy has no date line (expected e.g. '19:09, 12 Ноябрь 2025 | GMT +5'), "
            f"first line is {lines[0][:60]!r}",
            source_name=locator,
        )
    published_text = lines[date_index]
    rest = lines[date_index + 1 :]
    if not rest:
        raise ParseError("text copy has a date line but no title", source_name=locator)
    title, rest = rest[0], rest[1:]
    rest, authors, tags_line = _split_tail(rest)

    lead = None
    # The lead is the first paragraph unless that is a photo, a bullet or a heading.
    photo_first = len(rest) > 1 and PHOTO_CREDIT.match(rest[1]) is not None
    if rest and not photo_first and not rest[0].startswith(_BULLETS) and not looks_like_heading(rest[0]):
        lead, rest = rest[0], rest[1:]
    blocks, caption, credit = _body_blocks(rest)
    if len(blocks) > MAX_BLOCKS:
        raise ParseError(f"article body has more than {MAX_BLOCKS:,} blocks", source_name=locator)
    body = body_text(blocks)
    tag_words = tags_line.count(" ") + 1 if tags_line else 0
    if tag_words > MAX_TAG_WORDS:
        limit = f"more than the {MAX_TAG_WORDS:,}-word limit"
        raise ParseError(f"tags line has {tag_words:,} words, {limit}", source_name=locator)
    tags = split_tags_line(tags_line, known_tags) if tags_line else []
    return ArticleRecord(
        source=source,
        article_id=article_id,
        url=url,
        language=detect_language(" ".join((title, lead or "", body))),
        title=title,
        lead=lead,
        body=body,
        blocks=blocks,
        published_at=parse_page_date(published_text),
        published_text=published_text,
        updated_at=None,
        authors=authors,
        tags=tags,
        category=None,
        image_url=None,
        image_caption=caption,
        image_credit=credit,
        parser=PARSER_NAME,
    )
