"""Text rules shared by the text-copy and HTML parsers: language, labels that are not body text."""

from __future__ import annotations

import re

from parsers.record import Block, normalize_text

_KAZAKH_LETTERS = frozenset("ӘҒҚҢӨҰҮҺІәғқңөұүһі")
_HAN = re.compile(r"[\u4e00-\u9fff]")

# Lines that introduce a link to another article; neither they nor the linked title are body text.
READ_ALSO = re.compile(
    r"^\s*(?:читайте\s+также|также\s+читайте|читать\s+также|оқи\s+отырыңыз|оқыңыз|"
    r"read\s+also|also\s+read|see\s+also|related\s*:|另请阅读|相关新闻)\s*[:.\-–—]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
# A photo credit as printed under a picture; group 'credit' is the name without the label.
PHOTO_CREDIT = re.compile(
    r"^\s*(?:photo\s+credit|photo|фото|сурет|图片来源|图片)\s*[:：]\s*(?P<credit>.+)$", re.IGNORECASE
)
AUTHOR_LABELS = frozenset({"автор", "авторы", "author", "authors", "авторлар", "作者"})
TAG_LABELS = re.compile(r"^\s*(?:теги|тегтер|tags|标签)\s*[:：]\s*(?P<rest>.*)$", re.IGNORECASE)
_FINAL_PUNCTUATION = tuple('.!?:;…,»"”)')
HEADING_MAX_CHARS = 90


# Characters the language guess reads: a few pages of text settle the script, and the per-character
# loop below would cost ~0.7 s on a 5 MB body.
LANGUAGE_SAMPLE_CHARS = 20_000


def detect_language(text: str) -> str | None:
    """Guess by script: Han → zh; Cyrillic with Kazakh-only letters → kk, other Cyrillic → ru; Latin → en.

    Only the first LANGUAGE_SAMPLE_CHARS characters are read."""
    text = text[:LANGUAGE_SAMPLE_CHARS]
    cyrillic = latin = kazakh = 0
    for char in text:
        if "\u0400" <= char <= "\u04ff":
            cyrillic += 1
            if char in _KAZAKH_LETTERS:
                kazakh += 1
        elif char.isascii() and char.isalpha():
            latin += 1
    han = len(_HAN.findall(text)) if cyrillic + latin < len(text) // 2 else 0
    if han > max(cyrillic, latin):
        return "zh"
    if cyrillic == 0 and latin == 0:
        return None
    if cyrillic >= latin:
        # Russian never uses these letters; a few in any Kazakh sentence are certain.
        return "kk" if kazakh >= 3 or kazakh * 100 >= cyrillic else "ru"
    return "en"


def looks_like_heading(line: str) -> bool:
    """A short line without final punctuation, as section headings appear once markup is gone."""
    text = normalize_text(line)
    return (
        0 < len(text) <= HEADING_MAX_CHARS and not text.endswith(_FINAL_PUNCTUATION) and text[0] not in "•-–—"
    )


def body_text(blocks: list[Block]) -> str:
    """The record's body: every non-image block's text, one paragraph each, blank line between."""
    return "\n\n".join(block.text for block in blocks if block.kind != "image" and block.text)


def dedupe(values: list[str]) -> list[str]:
    """Order-keeping de-duplication (an author printed twice is one author)."""
    seen: set[str] = set()
    kept = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            kept.append(value)
    return kept
