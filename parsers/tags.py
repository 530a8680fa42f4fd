"""Splitting a run-together tags line back into tags.

A text copy loses the links around each tag, so `Касым-Жомарт Токаев Акорда Казахстан` arrives as
one line. The rule, applied left to right:

1. At each word, take the longest run of words that equals a known multi-word tag (compared
   case-insensitively, NBSP-insensitively). Known tags are the caller's `known_tags` (tags the
   warehouse has seen on HTML pages, where links keep them apart) plus BUILTIN_MULTIWORD_TAGS
   below: a short list of the agency's multi-word tags we are sure of.
2. Otherwise a word that starts with a lowercase letter continues the tag before it, when that
   tag starts with a capital: tags are printed capitalized, so `Министерство здравоохранения`,
   `Денсаулық сақтау министрлігі` stay whole. A line whose tags are all lowercase
   (`экономика бизнес`) is not joined: its first tag starts in lowercase.
3. Any other word is a tag on its own.

Each tag keeps the words exactly as the line printed them, so ' '.join(tags) == the line
(after its spaces are normalized). An unknown multi-word tag whose later words are capitalized
(`Великий Шелковый путь` → `Великий`, `Шелковый путь`; English names, `Ministry of`, `Energy`)
therefore still comes out split; it stays whole once the warehouse has seen it on an HTML page
and passes it in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from parsers.record import normalize_text

BUILTIN_MULTIWORD_TAGS: tuple[str, ...] = (
    "Касым-Жомарт Токаев",
    "Қасым-Жомарт Тоқаев",
    "Kassym-Jomart Tokayev",
    "Владимир Путин",
    "Vladimir Putin",
    "Нурсултан Назарбаев",
    "Олжас Бектенов",
    "Алихан Смаилов",
    "Си Цзиньпин",
    "Xi Jinping",
    "Дональд Трамп",
    "Donald Trump",
    "Центральная Азия",
    "Орталық Азия",
    "Central Asia",
)


def _phrase_index(tags: Iterable[str]) -> dict[tuple[str, ...], int]:
    index: dict[tuple[str, ...], int] = {}
    for tag in tags:
        words = tuple(normalize_text(tag).casefold().split(" "))
        if len(words) > 1:
            index[words] = len(words)
    return index


_BUILTIN_INDEX = _phrase_index(BUILTIN_MULTIWORD_TAGS)


def split_tags_line(line: str, known_tags: Collection[str] = ()) -> list[str]:
    """'Касым-Жомарт Токаев Акорда Казахстан' → ['Касым-Жомарт Токаев', 'Акорда', 'Казахстан']."""
    words = normalize_text(line).split(" ") if normalize_text(line) else []
    index = {**_BUILTIN_INDEX, **_phrase_index(known_tags)} if known_tags else _BUILTIN_INDEX
    longest = max(index.values(), default=1)
    folded = [word.casefold() for word in words]
    tags: list[str] = []
    position = 0
    while position < len(words):
        size = 1
        for candidate in range(min(longest, len(words) - position), 1, -1):
            if tuple(folded[position : position + candidate]) in index:
                size = candidate
                break
        if size == 1 and tags and _continues(words[position], tags[-1]):
            tags[-1] = f"{tags[-1]} {words[position]}"
        else:
            tags.append(" ".join(words[position : position + size]))
        position += size
    return tags


def _continues(word: str, previous_tag: str) -> bool:
    """A lowercase word after a capitalized tag is that tag's next word (rule 2 above)."""
    return word[:1].islower() and previous_tag[:1].isupper()
