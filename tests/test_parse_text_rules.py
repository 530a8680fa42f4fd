"""The text rules every parser shares, against the plain definitions they were written from: the
content hash rests on `normalize_text`, so its fast form must give the very same strings."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.record import normalize_text
from parsers.text import LANGUAGE_SAMPLE_CHARS, detect_language

_KAZAKH_LETTERS = frozenset("ӘҒҚҢӨҰҮҺІәғқңөұүһі")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+")


def normalize_text_by_regex(text: str | None) -> str:
    """The definition: NFC, then every run of spaces (any kind) one ASCII space, trimmed."""
    if not text:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def detect_language_by_loop(text: str) -> str | None:
    """The definition: each character of the sample counted by its script."""
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
        return "kk" if kazakh >= 3 or kazakh * 100 >= cyrillic else "ru"
    return "en"


# Every whitespace character Python knows, the zero-width ones, combining marks (NFC joins them),
# the edges of the Cyrillic block, Kazakh letters, Latin, Han, Latin-1 letters and a surrogate.
_WHITESPACE = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace())
_ALPHABET = (
    _WHITESPACE
    + "\u200b\ufeff\u0301\u0308"
    + "\u03ff\u0400\u04ff\u0500"
    + "".join(sorted(_KAZAKH_LETTERS))
    + "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБЯ"
    + "abcxyzABCXYZ0129.,;:!?«»—-"
    + "中国新闻\u4e00\u9fff"
    + "éÀñßµ\x7f\ud800"
)
texts = st.text(alphabet=_ALPHABET, max_size=300)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_normalize_text_equals_its_regex_definition(text: str) -> None:
    assert normalize_text(text) == normalize_text_by_regex(text)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_the_language_guess_equals_its_per_character_definition(text: str) -> None:
    assert detect_language(text) == detect_language_by_loop(text)


def test_the_language_guess_reads_only_its_sample() -> None:
    kazakh_tail = "әғқңөұүһі" * 100
    russian = "Президент провёл встречу " * (LANGUAGE_SAMPLE_CHARS // 20)
    assert detect_language(russian + kazakh_tail) == "ru"
    assert detect_language(kazakh_tail + russian) == "kk"
    assert detect_language("Tokayev met the delegation in Astana") == "en"
    assert detect_language("哈萨克斯坦总统会见代表团") == "zh"
    assert detect_language("2025 — 12:00") is None


def test_normalize_text_folds_every_kind_of_space() -> None:
    assert normalize_text("\ufeff Астана\u00a0\u2007\u202f\u200bсегодня\n\t ") == "Астана сегодня"
    assert normalize_text("е\u0301") == "\u0435\u0301"  # no composed form: NFC keeps the pair
    assert normalize_text(None) == "" and normalize_text(" \u200b ") == ""
