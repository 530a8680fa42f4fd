"""A text copy's tags line: a lowercase word continues the capitalized tag before it."""

from __future__ import annotations

import pytest

from parsers.api import parse_bytes
from parsers.tags import split_tags_line


@pytest.mark.parametrize(
    ("line", "known", "expected"),
    [
        (
            "Министерство здравоохранения Вакцинация Астана",
            (),
            ["Министерство здравоохранения", "Вакцинация", "Астана"],
        ),
        (
            "Денсаулық сақтау министрлігі Алматы",
            (),
            ["Денсаулық сақтау министрлігі", "Алматы"],
        ),
        # English capitalizes every word of a name: only its lowercase words join.
        ("Ministry of Energy Oil", (), ["Ministry of", "Energy", "Oil"]),
        # A known tag is found before continuation: 'жаңа мектеп' is a tag, not Астана's words.
        ("Астана жаңа мектеп Алматы", ["Жаңа мектеп"], ["Астана", "жаңа мектеп", "Алматы"]),
        # After a known multi-word tag, a lowercase word continues it too.
        ("Касым-Жомарт Токаев визит Китай", (), ["Касым-Жомарт Токаев визит", "Китай"]),
        # Tags printed all in lowercase are never joined: the first starts in lowercase.
        ("экономика бизнес налоги", (), ["экономика", "бизнес", "налоги"]),
        # Capitalized words, digits and quotes start tags of their own, as before.
        (
            "Великий Шелковый путь Формула 1 «Астана»",
            (),
            ["Великий", "Шелковый путь", "Формула", "1", "«Астана»"],
        ),
        ("仙女座 哈萨克斯坦", (), ["仙女座", "哈萨克斯坦"]),
    ],
)
def test_lowercase_word_continues_the_previous_tag(line: str, known: list[str], expected: list[str]) -> None:
    tags = split_tags_line(line, known)
    assert tags == expected
    assert " ".join(tags) == line


def test_text_copy_keeps_a_ministry_tag_whole() -> None:
    text = "\n".join(
        [
            "10:00, 1 Мая 2024",
            "",
            "Минздрав расширил список вакцин",
            "",
            "Первый абзац, он же лид.",
            "",
            "Второй абзац текста.",
            "",
            "Теги:",
            "Министерство здравоохранения Вакцинация Астана",
        ]
    )
    record = parse_bytes(
        text.encode(), locator="copies/health.txt", url="https://www.inform.kz/ru/x-1a2b3c4e"
    )
    assert record.tags == ["Министерство здравоохранения", "Вакцинация", "Астана"]
