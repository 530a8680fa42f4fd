"""Tengrinews: every fixture page against its expected record, keys per edition, the body without
tag words or promo lines, the older layout for older markup, fallbacks when a guess is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parsers.api import parse_bytes, parse_file
from parsers.base import choose_version
from parsers.dates import parse_relative_date
from parsers.page import Page
from parsers.publishers.tengrinews import SOURCE, Tengrinews2024, TengrinewsBefore2024
from parsers.registry import source_for_url

FIXTURES = Path(__file__).parent / "fixtures" / "tengrinews"
PAGES = sorted(FIXTURES.glob("*.html"))
FIELDS = (
    "source",
    "article_id",
    "url",
    "language",
    "title",
    "lead",
    "body",
    "blocks",
    "published_at",
    "published_text",
    "updated_at",
    "authors",
    "tags",
    "category",
    "image_url",
    "image_caption",
    "image_credit",
    "parser",
    "content_hash",
)
PROMO_WORDS = (
    "WhatsApp",
    "Google News",
    "Подпис",
    "Сілтемесіз",
    "Қосымшада",
    "қосымшаға",
)


def _url(page: Path) -> str:
    return json.loads(page.with_suffix(".meta.json").read_text(encoding="utf-8"))["url"]


_CACHE: dict[str, dict] = {}


def _parsed(name: str) -> dict:
    if name not in _CACHE:
        page = FIXTURES / f"{name}.html"
        _CACHE[name] = parse_file(page, url=_url(page)).to_json_dict()
    return _CACHE[name]


def _html(name: str) -> str:
    return (FIXTURES / f"{name}.html").read_text(encoding="utf-8")


def test_there_are_enough_fixture_pages() -> None:
    assert len(PAGES) >= 6
    for page in PAGES:
        assert page.with_suffix(".json").exists(), f"{page.name} has no expected record"
        assert page.with_suffix(".meta.json").exists(), f"{page.name} has no meta (url)"


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_fixture_field(page: Path, field: str) -> None:
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert _parsed(page.stem)[field] == expected[field]


@pytest.mark.parametrize(
    ("name", "key", "language"),
    [
        ("ru_jsonld", "ru-531527", "ru"),
        ("kz_graph", "kz-364674", "kk"),
        ("en_no_jsonld", "en-27345", "en"),
        ("ru_old_layout", "ru-361200", "ru"),
    ],
)
def test_keys_are_edition_and_id(name: str, key: str, language: str) -> None:
    record = _parsed(name)
    assert (record["source"], record["article_id"], record["language"]) == ("tengrinews", key, language)


def test_editions_number_separately() -> None:
    ru = SOURCE.article_id("https://tengrinews.kz/kazakhstan_news/a-364674/")
    kz = SOURCE.article_id("https://kaz.tengrinews.kz/kazakhstan_news/a-364674/")
    assert (ru, kz) == ("ru-364674", "kz-364674")
    # The section is not part of the identity: the same story under another section is one article.
    assert SOURCE.article_id("https://tengrinews.kz/world_news/other-slug-531527") == "ru-531527"
    assert SOURCE.article_id("https://tengrinews.kz/news/page/2/") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://tengrinews.kz/kazakhstan_news/x-531527/",
        "https://kaz.tengrinews.kz/kazakhstan_news/x-364674/",
        "https://en.tengrinews.kz/kazakhstan_news/x-27345/",
    ],
)
def test_every_edition_host_is_tengrinews(url: str) -> None:
    assert source_for_url(url).name == "tengrinews"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_body_holds_no_tag_words_or_promo_lines(page: Path) -> None:
    record = _parsed(page.stem)
    paragraphs = record["body"].split("\n\n")
    for tag in record["tags"]:
        assert tag not in paragraphs, f"tag {tag!r} is a body paragraph"
        assert " ".join(record["tags"]) not in record["body"]
    for word in PROMO_WORDS:
        assert word not in record["body"]


def test_tag_links_printed_as_a_plain_body_line_are_tags_not_body() -> None:
    # Should the tag block lose its class, its links are a line of the body: still tags, not text.
    html = _html("ru_jsonld").replace('<div class="content_main_text_tags">', "<p>Теги: ")
    html = html.replace("МЧС РК</a></div>", "МЧС РК</a></p>")
    assert "content_main_text_tags" not in html
    record = parse_bytes(html.encode(), locator="labels.html", url=_url(FIXTURES / "ru_jsonld.html"))
    assert record.tags == ["Турция", "паводки", "МЧС РК"]
    assert record.body == _parsed("ru_jsonld")["body"]


def test_a_long_paragraph_that_mentions_subscribing_is_kept() -> None:
    news = (
        "Жители смогут подписаться на уведомления о паводках через портал eGov: сервис будет "
        "присылать предупреждения о подъеме воды в реках, об эвакуации и о работе пунктов временного "
        "размещения, а также сведения о выплатах пострадавшим семьям, сообщили в министерстве "
        "цифрового развития, инноваций и аэрокосмической промышленности Казахстана в понедельник."
    )
    html = _html("ru_jsonld").replace("<p>Ранее помощь", f"<p>{news}</p><p>Ранее помощь")
    record = parse_bytes(html.encode(), locator="long.html", url=_url(FIXTURES / "ru_jsonld.html"))
    assert news in record.body
    assert "WhatsApp" not in record.body


@pytest.mark.parametrize(
    ("name", "version", "parser"),
    [
        ("ru_jsonld", Tengrinews2024, "tengrinews@2024.1"),
        ("kz_graph", Tengrinews2024, "tengrinews@2024.1"),
        ("ru_old_layout", TengrinewsBefore2024, "tengrinews@2019.1"),
    ],
)
def test_layout_is_chosen_by_markup_and_named_in_the_record(name: str, version: type, parser: str) -> None:
    assert choose_version(SOURCE.parsers, Page.from_html(_html(name))) is version
    assert _parsed(name)["parser"] == parser


def test_versions_say_when_they_were_valid() -> None:
    assert TengrinewsBefore2024.VALID_UNTIL is not None
    assert Tengrinews2024.VALID_UNTIL is None
    assert TengrinewsBefore2024.VALID_UNTIL < Tengrinews2024.VALID_FROM


def test_json_ld_comes_before_the_markup() -> None:
    html = _html("ru_jsonld").replace(
        '<h1 class="head-single">Турция выразила', '<h1 class="head-single">Черновик: Турция выразила'
    )
    html = html.replace("07 апреля 2024 23:14", "08 апреля 2024 01:00")
    record = parse_bytes(html.encode(), locator="x.html", url=_url(FIXTURES / "ru_jsonld.html"))
    assert record.title == "Турция выразила готовность оказать помощь Казахстану"
    assert record.published_at == datetime(2024, 4, 7, 18, 14, tzinfo=UTC)


def test_graph_json_ld_gives_the_title_when_the_headline_element_is_gone() -> None:
    html = _html("kz_graph").replace('<h1 class="head-single">Астанада жаңа мектептер ашылады</h1>', "")
    html = html.replace('<meta property="og:title" content="Астанада жаңа мектептер ашылады">', "")
    record = parse_bytes(html.encode(), locator="x.html", url=_url(FIXTURES / "kz_graph.html"))
    assert record.title == "Астанада жаңа мектептер ашылады"


def test_a_relative_visible_date_counts_from_today_when_nothing_else_dates_the_page() -> None:
    html = _html("ru_markup_only").replace("14 февраля 2026, 11:05", "Вчера, 10:00")
    before = parse_relative_date("Вчера, 10:00")
    record = parse_bytes(html.encode(), locator="x.html", url=_url(FIXTURES / "ru_markup_only.html"))
    after = parse_relative_date("Вчера, 10:00")
    assert record.published_text == "Вчера, 10:00"
    assert record.published_at in {before, after}


def test_wrong_guesses_cost_a_fallback_not_a_failure() -> None:
    # Every guessed class renamed (no head-single, no content_main_text, no date-time, no thumb):
    # title, body and date still come from what is left, and the promo still stays out.
    html = _html("ru_relative")
    for guessed, other in (
        ("head-single", "title-x"),
        ("content_main_text", "news-body-x"),
        ("date-time", "when-x"),
        ("content_main", "page-x"),
    ):
        html = html.replace(guessed, other)
    record = parse_bytes(html.encode(), locator="x.html", url=_url(FIXTURES / "ru_relative.html"))
    assert record.title == "Снегопад ожидается в Астане"
    assert "Водителей просят соблюдать дистанцию." in record.body
    assert "WhatsApp" not in record.body
    assert record.published_at == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert record.parser == "tengrinews@2024.1"


def test_json_ld_article_body_when_the_markup_has_none() -> None:
    html = _html("kz_graph")
    start, end = (
        html.index('<div class="content_main_text">'),
        html.index('<div class="content_main_text_tags">'),
    )
    html = html[:start] + html[end:]
    record = parse_bytes(html.encode(), locator="x.html", url=_url(FIXTURES / "kz_graph.html"))
    assert record.body == "Елордада биыл 12 жаңа мектеп салынады. Құрылыс жұмыстары мамыр айында басталады."


def test_a_relative_date_counts_from_when_the_page_was_fetched() -> None:
    # A page stored in March and parsed again later (`kazinform reparse`) keeps its date.
    html = _html("ru_markup_only").replace("14 февраля 2026, 11:05", "Вчера, 10:00")
    fetched = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 17:00 in Astana
    url = _url(FIXTURES / "ru_markup_only.html")
    record = parse_bytes(html.encode(), locator="x.html", url=url, fetched_at=fetched)
    assert record.published_at == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)  # 10:00 Astana (UTC+5)
    later = parse_bytes(html.encode(), locator="x.html", url=url, fetched_at=fetched.replace(month=6))
    assert later.published_at == datetime(2026, 6, 9, 5, 0, tzinfo=UTC)
