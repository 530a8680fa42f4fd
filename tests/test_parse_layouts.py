"""Pages in layouts the fixtures do not cover: the parser must still find the article."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from parsers.api import parse_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "kazinform"
URL = "https://www.inform.kz/ru/ii-povisit-tochnost-prognozov-virabotki-vie-do-80-v-kazahstane-8221b43c"


def _reference():
    return parse_bytes((FIXTURES / "gen_b_ru.html").read_bytes(), locator="gen_b_ru.html", url=URL)


def test_reordered_classes_extra_wrappers_and_no_lead() -> None:
    record = parse_bytes((FIXTURES / "unseen_ru.html").read_bytes(), locator="unseen_ru.html", url=URL)
    reference = _reference()
    assert record.lead is None
    assert record.title == reference.title
    assert record.body == reference.body
    assert record.tags == reference.tags  # '#' prefixes dropped
    assert record.authors == reference.authors
    assert record.published_at == reference.published_at


def test_bare_article_element_with_unknown_body_wrapper() -> None:
    page = FIXTURES / "unseen_generic_en.html"
    record = parse_bytes(page.read_bytes(), locator=str(page))
    assert record.title == "Oil spill detected in Caspian Sea"
    assert record.published_at == datetime(2025, 12, 2, 12, 45, tzinfo=UTC)
    assert record.body.startswith("The spill was spotted by satellite monitoring")
    assert "Oil spill detected" not in record.body and "17:45" not in record.body
    assert record.tags == ["Caspian Sea", "Ecology", "Mangystau"]
    assert record.language == "en"


def test_body_in_plain_divs_and_bold_subheadings() -> None:
    html = """<html lang="ru"><head><meta charset="utf-8"></head><body>
    <div class="article"><h1 class="article__title">Новость</h1>
    <div class="article__date">12:00, 1 Декабря 2025</div>
    <div class="article__body-text"><div>Текст без абзацев, <a href="#">со ссылкой</a>.</div>
    <p><b>Подробности</b></p><div><div>Вложенный текст.<br>Вторая строка.</div></div>
    <p><img src="/a.jpg" alt="Фото события"></p><p>Фото: Kazinform</p>
    <table><tr><td>Год</td><td>Объем</td></tr></table>
    <div class="banner">Реклама</div><p>Читайте также: Другая новость</p></div></div></body></html>"""
    record = parse_bytes(
        html.encode(), locator="plain-divs.html", url="https://www.inform.kz/ru/novost-abcdef12"
    )
    assert [(b.kind, b.text) for b in record.blocks] == [
        ("paragraph", "Текст без абзацев, со ссылкой."),
        ("heading", "Подробности"),
        ("paragraph", "Вложенный текст. Вторая строка."),
        ("image", "Фото события"),
        ("paragraph", "Год | Объем"),
    ]
    assert record.image_url == "https://www.inform.kz/a.jpg"
    assert record.image_credit == "Kazinform"
    assert record.published_at == datetime(2025, 12, 1, 7, 0, tzinfo=UTC)


def test_json_ld_fills_a_page_whose_markup_lacks_fields() -> None:
    html = """<!DOCTYPE html><html><head><meta charset="utf-8">
    <script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebPage"},
    {"@type":"NewsArticle","headline":"Заголовок из JSON-LD","datePublished":"2025-03-04T10:00:00+05:00",
    "author":[{"@type":"Person","name":"Асель Нурова"},{"@type":"Organization","name":"Kazinform"}],
    "keywords":"Астана, Экономика","url":"https://www.inform.kz/ru/zagolovok-0a1b2c3d"}]}</script>
    <script type="application/ld+json">{broken json</script></head>
    <body><div class="article__body-text"><p>Первый абзац.</p></div></body></html>"""
    record = parse_bytes(html.encode(), locator="ld-only.html")
    assert record.title == "Заголовок из JSON-LD"
    assert record.article_id == "0a1b2c3d"
    assert record.authors == ["Асель Нурова"]
    assert record.tags == ["Астана", "Экономика"]
    assert record.published_at == datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
    assert record.language == "ru"


def test_json_ld_article_body_is_the_last_resort() -> None:
    html = """<html><head><meta charset="utf-8"><script type="application/ld+json">
    {"@type":"NewsArticle","headline":"Only metadata","articleBody":"First line.\\nSecond line."}
    </script></head><body><div class="article"><h1>Only metadata</h1></div></body></html>"""
    record = parse_bytes(html.encode(), locator="ld-body.html", url="https://en.inform.kz/news/x-abcdef")
    assert record.body == "First line.\n\nSecond line."
