"""An author is found however a page shows it: a name element, a link to the author's page, plain
text in the author block, JSON-LD `author`, `meta[name=author]`."""

from __future__ import annotations

import json

import pytest

from parsers.api import parse_bytes

URL = "https://www.inform.kz/ru/avtor-na-stranice-8221b43c"
BODY = "<div class='article__body-text'><p>Первый абзац статьи о событии.</p></div>"


def page(head: str = "", byline: str = "") -> bytes:
    return (
        f"<html><head>{head}</head><body><div class='article'><h1 class='article__title'>Заголовок</h1>"
        f"<div class='article__date'>13:51, 15 Август 2025</div>{byline}{BODY}</div></body></html>"
    ).encode()


LD = {
    "@context": "https://schema.org",
    "@type": "NewsArticle",
    "author": {"@type": "Person", "name": "Ерлан Беков"},
}


@pytest.mark.parametrize(
    ("raw", "authors"),
    [
        (
            page(
                byline="<div class='article__author'><span class='author__name'>Наталья Мосунова</span></div>"
            ),
            ["Наталья Мосунова"],
        ),
        (page(byline="<p>Текст: <a href='/author/ivanov'>Иван Иванов</a></p>"), ["Иван Иванов"]),
        # the name printed twice, then the role label, no name element inside
        (
            page(
                byline="<div class='article__author'><div>Айгүл Сәрсенова</div><div>Айгүл Сәрсенова</div>"
                "<div>Автор</div></div>"
            ),
            ["Айгүл Сәрсенова"],
        ),
        (
            page(byline="<div class='article__author'>Авторы: Иван Иванов и Пётр Петров</div>"),
            ["Иван Иванов", "Пётр Петров"],
        ),
        (
            page(head=f"<script type='application/ld+json'>{json.dumps(LD, ensure_ascii=False)}</script>"),
            ["Ерлан Беков"],
        ),
        (page(head="<meta name='author' content='Дана Омарова'>"), ["Дана Омарова"]),
        (page(head="<meta name='author' content='Kazinform'>"), []),  # the agency is not a person
        (page(), []),
    ],
    ids=[
        "name-element",
        "author-link",
        "plain-block",
        "two-in-one-line",
        "json-ld",
        "meta",
        "agency",
        "none",
    ],
)
def test_author_found_however_the_page_shows_it(raw: bytes, authors: list[str]) -> None:
    record = parse_bytes(raw, locator=URL, url=URL)
    assert record.source == "kazinform" and record.parser == "kazinform@2023.1"
    assert record.authors == authors
    assert "Первый абзац" in record.body and not any(a in record.body for a in authors)
