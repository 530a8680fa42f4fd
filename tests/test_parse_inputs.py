"""Input handling: encodings, the content hash, and bad inputs that must fail with a reason."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from parsers.api import parse_bytes, parse_file
from parsers.html_shape import check_html_shape, measure_html_shape
from parsers.limits import MAX_INPUT_BYTES
from parsers.record import ParseError

FIXTURES = Path(__file__).parent / "fixtures" / "kazinform"
SEED = Path(__file__).parent.parent / "seeds" / "000_7da5a18f75e09145.txt"
PAGE_URL = "https://www.inform.kz/ru/ii-povisit-tochnost-prognozov-virabotki-vie-do-80-v-kazahstane-8221b43c"


def _html(name: str) -> str:
    return (FIXTURES / f"{name}.html").read_text(encoding="utf-8")


def test_seed_in_other_encodings_gives_the_same_record() -> None:
    text = SEED.read_text(encoding="utf-8")
    reference = parse_bytes(text.encode("utf-8"), locator=SEED.name)
    with_bom = parse_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"), locator=SEED.name)
    utf16 = parse_bytes(text.encode("utf-16"), locator=SEED.name)
    zipped = parse_bytes(gzip.compress(text.encode("utf-8")), locator=SEED.name)
    for other in (with_bom, utf16, zipped):
        assert other.to_json_dict() == reference.to_json_dict()


def test_windows_1251_declared_in_meta_charset() -> None:
    html = _html("gen_b_ru").replace('<meta charset="utf-8">', '<meta charset="windows-1251">')
    record = parse_bytes(html.encode("cp1251", errors="xmlcharrefreplace"), locator="page.html", url=PAGE_URL)
    assert record.title == "ИИ повысит точность прогнозов выработки ВИЭ до 80% в Казахстане"


def test_windows_1251_declared_in_xml_declaration() -> None:
    html = '<?xml version="1.0" encoding="windows-1251"?>\n' + _html("gen_b_ru").replace(
        '<meta charset="utf-8">', ""
    )
    record = parse_bytes(
        html.encode("cp1251", errors="xmlcharrefreplace"), locator="page.xhtml", url=PAGE_URL
    )
    assert "Министерстве энергетики" in record.lead


def test_content_hash_ignores_whitespace_and_nbsp() -> None:
    text = SEED.read_text(encoding="utf-8")
    respaced = "\n".join(
        "\t" + line.replace(" ", "\u00a0 ").replace("\u00a0", " \u00a0") + "   " for line in text.splitlines()
    )
    reference = parse_bytes(text.encode(), locator=SEED.name)
    assert parse_bytes(respaced.encode(), locator=SEED.name).content_hash == reference.content_hash
    reworded = text.replace("Энергетика", "Энергетика и нефть")
    assert parse_bytes(reworded.encode(), locator=SEED.name).content_hash != reference.content_hash


def test_html_hash_ignores_whitespace_and_nbsp() -> None:
    html = _html("gen_b_ru")
    respaced = html.replace("<p>", "<p>\n   \u00a0").replace(", ", ",&nbsp;\n ")
    a = parse_bytes(html.encode(), locator="a.html", url=PAGE_URL)
    b = parse_bytes(respaced.encode(), locator="b.html", url=PAGE_URL)
    assert a.content_hash == b.content_hash


def _truncated_page() -> bytes:
    html = _html("gen_b_ru")
    return html[: html.index("Пилотный проект")].encode()


def _headless_page() -> bytes:
    return (
        b"<html><head><title>Kazinform</title></head><body><nav><a href='/ru/'>Lenta</a></nav></body></html>"
    )


@pytest.mark.parametrize(
    ("raw", "locator", "reason"),
    [
        (b"", "inbox/empty.txt", "empty input"),
        (b"  \n\t \n", "inbox/blank.txt", "empty input"),
        (bytes(range(256)) * 8, "inbox/photo.jpg", "binary input"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "inbox/image.png", "binary input"),
        (gzip.compress(b"x" * 100)[:12], "inbox/cut.html.gz", "gzip"),
        (b"\xfa\xfb not utf-8 \xc3\x28", "inbox/latin.txt", "cannot decode"),
        (_headless_page(), "https://www.inform.kz/ru/lenta", "no article"),
        (b"<html><body><h1>Only a headline</h1></body></html>", "inbox/headline.html", "no article body"),
        (
            "<html><head><title>Kazinform</title></head><body><div class='maintenance'>"
            "Сайт временно недоступен. Ведутся технические работы.</div></body></html>".encode(),
            "inbox/maintenance.html",
            "no article element",
        ),
        (_truncated_page(), "inbox/cut.html", "truncated HTML"),
        (
            b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>x",
            "inbox/cut-head.html",
            "truncated HTML",
        ),
        ("Заголовок без даты\n\nТекст статьи.".encode(), "inbox/no-date.txt", "no date line"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_bad_input_names_the_input_and_the_reason(raw: bytes, locator: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_bytes(raw, locator=locator)
    assert reason in caught.value.reason
    assert caught.value.source_name == locator
    assert str(caught.value).startswith(locator)


def test_missing_file_is_a_parse_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.html"
    with pytest.raises(ParseError, match="cannot read file") as caught:
        parse_file(missing)
    assert caught.value.source_name == str(missing)


def test_truncation_after_the_article_still_parses() -> None:
    html = _html("gen_b_ru")
    cut = html[: html.index('<aside class="sidebar">')]
    record = parse_bytes(cut.encode(), locator="cut-after.html", url=PAGE_URL)
    assert record.body.endswith("составила 6,8 процента.")


def test_a_parser_bug_on_one_input_is_a_parse_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import parsers.api

    def broken(*_args: object, **_kwargs: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(parsers.api, "parse_text_copy", broken)
    with pytest.raises(ParseError) as caught:
        parse_bytes(SEED.read_bytes(), locator="inbox/seed.txt")
    assert caught.value.reason == "parser failure on this input (IndexError: list index out of range)"
    assert str(caught.value).startswith("inbox/seed.txt")


# --- bounds on what one input may cost (parsers.limits) ------------------------------------------


def _in_body(markup: str) -> bytes:
    page = _html("gen_a_ru")
    anchor = '<div class="article__content" itemprop="articleBody">'
    assert anchor in page
    return page.replace(anchor, anchor + markup).encode()


def test_gzip_that_unpacks_past_the_cap_is_refused_and_one_under_it_parses() -> None:
    bomb = gzip.compress(b"<html><body>" + b" " * MAX_INPUT_BYTES)
    with pytest.raises(ParseError, match=r"gzip data unpacks to more than 5,000,000 bytes"):
        parse_bytes(bomb, locator="bomb.html.gz")
    padded = _html("gen_a_ru").encode() + b" " * (MAX_INPUT_BYTES - 20_000)
    assert parse_bytes(gzip.compress(padded), locator="big.html.gz").title


def test_input_over_the_cap_is_refused_by_its_size(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"input is 5,000,001 bytes, more than the 5,000,000-byte limit"):
        parse_bytes(b"x" * (MAX_INPUT_BYTES + 1), locator="big.txt")
    big = tmp_path / "big.txt"
    with big.open("wb") as file:
        file.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(ParseError, match=r"file is 5,000,001 bytes, more than the 5,000,000-byte limit"):
        parse_file(big)


def test_shape_guard_passes_every_fixture_and_the_seed_far_below_its_bounds() -> None:
    """No false positive: each real layout nests a handful deep, far from MAX_NESTING_DEPTH."""
    for page in sorted(FIXTURES.glob("*.html")):
        html = page.read_bytes().decode("cp1251" if "cp1251" in page.name else "utf-8-sig")
        shape = measure_html_shape(html)
        assert shape.complete and shape.deepest < 20 and shape.elements < 500, (page.name, shape)
        check_html_shape(html, page.name)
        assert parse_bytes(page.read_bytes(), locator=page.name).title
    assert parse_file(SEED).title  # a text copy never meets the HTML scan


@pytest.mark.parametrize(
    "markup",
    [
        "<p>paragraph " * 3_000,  # unclosed paragraphs close each other
        "<ul>" + "<li>item " * 3_000 + "</ul>",
        "<table>" + "<tr><td>cell" * 3_000 + "</table>",
        "line<br>" * 3_000,
        "<svg>" + '<path d="M0 0"/>' * 3_000 + "</svg>",  # self-closing inside svg
        "<script>" + "document.write('<div>');" * 3_000 + "</script>",  # text, not tags
        "<!--" + "<div>" * 3_000 + "-->",
        "<span>unclosed " * 400 + "</div><div>",  # an ancestor's end tag closes them
    ],
)
def test_shape_guard_accepts_markup_that_only_looks_deep(markup: str) -> None:
    assert parse_bytes(_in_body(markup), locator="page.html").title


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<div>" * 600, "HTML nesting deeper than 512 elements (found 60"),
        ("<div/>" * 600, "HTML nesting deeper than 512 elements"),  # the slash means nothing in HTML
        ("<b>" * 600, "HTML nesting deeper than 512 elements"),
        ("<i></i>" * 100_000, "HTML has more than 100,000 elements"),
        ("</i>" * 200_001, "HTML has more than 200,000 tags"),
        ("<h2>heading</h2>" * 5_001, "article body has more than 5,000 blocks"),
        ('<img src="/a.jpg">' * 5_001, "article body has more than 5,000 blocks"),
    ],
)
def test_shape_guard_refuses_costly_pages_with_a_reason(markup: str, reason: str) -> None:
    with pytest.raises(ParseError, match=re.escape(reason)) as refused:
        parse_bytes(_in_body(markup), locator="page.html")
    assert refused.value.source_name == "page.html"


def test_text_copy_bounds_lines_and_tag_words() -> None:
    text = SEED.read_text(encoding="utf-8")
    with pytest.raises(ParseError, match=r"more than the 20,000-line limit"):
        parse_bytes((text + "\nline" * 20_000).encode(), locator="long.txt")
    many_tags = text.replace("Теги:", "Теги: " + "тег " * 1_001)
    with pytest.raises(ParseError, match=r"more than the 1,000-word limit"):
        parse_bytes(many_tags.encode(), locator="tags.txt")


def test_deep_json_ld_is_skipped_and_the_markup_still_parses() -> None:
    page = _html("gen_a_ru").replace(
        "</head>", '<script type="application/ld+json">' + "[" * 100_000 + "</script></head>"
    )
    assert parse_bytes(page.encode(), locator="page.html").title
