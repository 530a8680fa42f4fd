"""Every fixture page against its expected record, one test per page and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from parsers.api import parse_bytes, parse_file
from parsers.base import choose_version
from parsers.fixtures import Fixture, assert_field_matches, case_id, field_cases
from parsers.page import Page
from parsers.publishers.kazinform import SOURCE, LayoutA, LayoutB

FIXTURES = Path(__file__).parent / "fixtures" / "kazinform"
PAGES = sorted(FIXTURES.glob("*.html"))


def _url(page: Path) -> str:
    return json.loads(page.with_suffix(".meta.json").read_text(encoding="utf-8"))["url"]


def _parsed(name: str) -> dict:
    page = FIXTURES / f"{name}.html"
    return parse_file(page, url=_url(page)).to_json_dict()


def test_there_are_enough_fixture_pages() -> None:
    assert len(PAGES) >= 8
    for page in PAGES:
        assert page.with_suffix(".json").exists(), f"{page.name} has no expected record"
        assert page.with_suffix(".meta.json").exists(), f"{page.name} has no meta (url)"


@pytest.mark.parametrize(("fixture", "field"), field_cases("kazinform"), ids=case_id)
def test_fixture_field(fixture: Fixture, field: str) -> None:
    assert_field_matches(fixture, field)


@pytest.mark.parametrize(
    ("page", "layout"),
    [("gen_a_ru", LayoutA), ("gen_a_en", LayoutA), ("gen_b_ru", LayoutB), ("gen_b_zh", LayoutB)],
)
def test_layout_is_chosen_by_markup(page: str, layout: type) -> None:
    html = (FIXTURES / f"{page}.html").read_text(encoding="utf-8")
    assert choose_version(SOURCE.parsers, Page.from_html(html)) is layout


def test_editions_give_languages() -> None:
    languages = {name: _parsed(name)["language"] for name in ("gen_a_ru", "gen_b_kz", "gen_b_en", "gen_b_zh")}
    assert languages == {"gen_a_ru": "ru", "gen_b_kz": "kk", "gen_b_en": "en", "gen_b_zh": "zh"}


def test_noise_does_not_change_the_article() -> None:
    clean, noisy = _parsed("gen_a_ru"), _parsed("noisy_ru")
    assert noisy["content_hash"] == clean["content_hash"]
    assert noisy["blocks"] == clean["blocks"]
    for noise in (
        "Реклама",
        "Читайте также",
        "Telegram",
        "cookie",
        "adsbygoogle",
        "Поделиться",
        "console.log",
    ):
        assert noise not in noisy["body"]


def test_body_leaves_out_everything_that_is_not_article_text() -> None:
    record = _parsed("gen_b_ru")
    for excluded in (
        record["title"],
        record["lead"],
        record["published_text"],
        "Теги",
        "Автор",
        "Ерлан Жумабаев",
        "Photo credit",
        "Ветровая электростанция",
        "Казахстан увеличит долю ВИЭ",
    ):
        assert excluded not in record["body"]


def test_og_title_suffix_is_stripped_when_only_og_names_the_title() -> None:
    html = (FIXTURES / "gen_b_en.html").read_text(encoding="utf-8")
    html = html.replace('<h1 class="article__title">Oil spill detected in Caspian Sea</h1>', "")
    html = html.replace('"headline": "Oil spill detected in Caspian Sea",', "")
    record = parse_bytes(html.encode(), locator="edited.html")
    assert record.title == "Oil spill detected in Caspian Sea"


def test_page_address_falls_back_to_og_url() -> None:
    page = FIXTURES / "gen_b_kz.html"
    record = parse_bytes(page.read_bytes(), locator=str(page))
    assert record.url == _url(page)
    assert record.article_id == "a41f0c9d"


def test_gzip_page_parses_like_the_plain_one() -> None:
    page = FIXTURES / "gen_a_en.html"
    zipped = parse_bytes(gzip.compress(page.read_bytes()), locator="gen_a_en.html.gz", url=_url(page))
    assert zipped.to_json_dict() == _parsed("gen_a_en")


def test_windows_1251_and_bom_pages_match_their_utf8_twins() -> None:
    assert _parsed("cp1251_ru")["content_hash"] == _parsed("gen_b_ru")["content_hash"]
    assert _parsed("bom_kz")["content_hash"] == _parsed("gen_a_kz")["content_hash"]
    assert (FIXTURES / "cp1251_ru.html").read_bytes().find("Казахстан".encode("cp1251")) > 0
    assert (FIXTURES / "bom_kz.html").read_bytes().startswith(b"\xef\xbb\xbf")
