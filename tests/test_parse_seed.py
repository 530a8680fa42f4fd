"""The seed text copy: every fact the issue lists, and the text-copy rules around it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from parsers.api import parse_bytes, parse_file
from parsers.tags import split_tags_line

SEED = Path(__file__).parent.parent / "seeds" / "000_7da5a18f75e09145.txt"
TAGS_LINE = "Касым-Жомарт Токаев Акорда Казахстан Сотрудничество Владимир Путин Россия"
HEADINGS = [
    "Транзитно-транспортная сфера",
    "Энергетика",
    "Новые инновационные точки роста",
    "Культурно-гуманитарная сфера",
    "Образование и спорт",
]


@pytest.fixture(scope="module")
def seed():
    return parse_file(SEED)


def test_seed_identity_and_dates(seed) -> None:
    assert seed.article_id == "000_7da5a18f75e09145"
    assert seed.url is None
    assert seed.source == "kazinform"
    assert seed.language == "ru"
    assert seed.published_at == datetime(2025, 11, 12, 14, 9, tzinfo=UTC)
    assert seed.published_text == "19:09, 12 Ноябрь 2025 | GMT +5"
    assert seed.parser == "text-copy@1.1"


def test_seed_title_lead_image_author(seed) -> None:
    assert seed.title == "Госвизит Токаева в Москву: о чем договорились Президенты Казахстана и России"
    assert seed.lead.startswith("Договоренности Касым-Жомарта Токаева и Владимира Путина")
    assert seed.image_caption == "Tokayev and Putin"
    assert "Akorda" in seed.image_credit
    assert seed.authors == ["Наталья Мосунова"]


def test_seed_tags_split_and_rejoin(seed) -> None:
    assert seed.tags == [
        "Касым-Жомарт Токаев",
        "Акорда",
        "Казахстан",
        "Сотрудничество",
        "Владимир Путин",
        "Россия",
    ]
    assert " ".join(seed.tags) == TAGS_LINE


def test_seed_body_has_every_heading_and_bullet(seed) -> None:
    raw_lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
    bullets = [" ".join(line.lstrip("•").split()) for line in raw_lines if line.startswith("•")]
    assert len(bullets) == 20
    paragraphs = seed.body.split("\n\n")
    for text in HEADINGS + bullets:
        assert text in paragraphs
    assert [b.text for b in seed.blocks if b.kind == "heading"] == HEADINGS
    assert [b.text for b in seed.blocks if b.kind == "list_item"] == bullets
    assert paragraphs[-1] == "Также сегодня состоялись переговоры Президентов Казахстана и России."


def test_seed_body_excludes_title_date_tags_authors_and_photo(seed) -> None:
    for excluded in (
        seed.title,
        "19:09",
        "Теги",
        TAGS_LINE,
        "Наталья Мосунова",
        "Автор",
        "Tokayev and Putin",
        "Photo credit",
        "•",
        "\u00a0",
    ):
        assert excluded not in seed.body
    assert seed.lead not in seed.body


def test_known_tags_keep_multiword_tags_whole() -> None:
    record = parse_bytes(SEED.read_bytes(), locator=str(SEED), known_tags=["Акорда Казахстан"])
    assert record.tags == [
        "Касым-Жомарт Токаев",
        "Акорда Казахстан",
        "Сотрудничество",
        "Владимир Путин",
        "Россия",
    ]


@pytest.mark.parametrize(
    ("line", "known", "expected"),
    [
        ("Астана Экономика", (), ["Астана", "Экономика"]),
        ("Центральная Азия Туризм", (), ["Центральная Азия", "Туризм"]),
        (
            "Туризм Великий Шелковый путь Китай",
            ["Великий Шелковый путь", "Шелковый путь"],
            ["Туризм", "Великий Шелковый путь", "Китай"],
        ),
        ("жаңа  мектеп\u00a0Алматы", ["Жаңа мектеп"], ["жаңа мектеп", "Алматы"]),
        ("", (), []),
    ],
)
def test_split_tags_line(line: str, known: list[str], expected: list[str]) -> None:
    tags = split_tags_line(line, known)
    assert tags == expected
    assert " ".join(tags) == " ".join(line.replace("\u00a0", " ").split())


def test_edited_copy_under_the_same_name_is_the_same_article(tmp_path: Path) -> None:
    edited = tmp_path / SEED.name
    edited.write_text(
        SEED.read_text(encoding="utf-8").replace("Госвизит Токаева", "Визит Токаева"), encoding="utf-8"
    )
    original, changed = parse_file(SEED), parse_file(edited)
    assert changed.article_id == original.article_id
    assert changed.title.startswith("Визит Токаева")
    assert changed.content_hash != original.content_hash


def test_text_copy_variants(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "  10:00, 1 Мая 2023",
            "",
            "  Заголовок новости",
            "",
            "  Первый абзац, он же лид.",
            "",
            "  Читайте также:",
            "  Другая новость о чем-то",
            "",
            "  Второй абзац текста.",
            "",
            "  Тегтер:",
            "  Астана",
            "  Айгүл Сәрсенова",
            "  Айгүл Сәрсенова",
            "  Иван Петров",
            "  Иван Петров",
            "  Авторы",
        ]
    )
    record = parse_bytes(text.encode(), locator="copies/other.txt", url="https://www.inform.kz/ru/x-1a2b3c4d")
    assert record.article_id == "1a2b3c4d"
    assert record.published_at == datetime(2023, 5, 1, 4, 0, tzinfo=UTC)  # UTC+6 before March 2024
    assert record.lead == "Первый абзац, он же лид."
    assert record.body == "Второй абзац текста."
    assert record.tags == ["Астана"]
    assert record.authors == ["Айгүл Сәрсенова", "Иван Петров"]
