"""The parsers' entry point picks the source by the address's host, its version by markers, the
generic parser for a host no source claims; a parser that raises is that page's parse error."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.read import read_visits
from parsers.api import parse_bytes
from parsers.base import attribute
from parsers.publishers import kazinform
from parsers.record import ParseError
from parsers.registry import get_source, source_for_url

FIXTURES = Path(__file__).parent / "fixtures"
KAZINFORM_PAGE = FIXTURES / "kazinform" / "gen_a_ru.html"
KAZINFORM_URL = (
    "https://www.inform.kz/ru/ii-povisit-tochnost-prognozov-virabotki-vie-do-80-v-kazahstane-8221b43c"
)
TENGRI_PAGE = FIXTURES / "tengrinews" / "kz_graph.html"
TENGRI_URL = "https://kaz.tengrinews.kz/kazakhstan_news/astanada-jana-mektepter-ashyilady-364674/"


def test_the_address_picks_the_source_and_its_key() -> None:
    record = parse_bytes(TENGRI_PAGE.read_bytes(), locator="page.html", url=TENGRI_URL)
    assert (record.source, record.article_id) == ("tengrinews", "kz-364674")
    assert record.parser.startswith("tengrinews@")
    record = parse_bytes(KAZINFORM_PAGE.read_bytes(), locator="page.html", url=KAZINFORM_URL)
    assert (record.source, record.article_id, record.parser) == ("kazinform", "8221b43c", "kazinform@2026.1")


def test_a_host_no_source_claims_gets_the_generic_parser() -> None:
    url = "https://news.example.org/world/storm-reaches-the-coast-48213/"
    record = parse_bytes(KAZINFORM_PAGE.read_bytes(), locator="page.html", url=url)
    assert (record.source, record.article_id) == ("news.example.org", "48213")
    assert record.parser.startswith("generic@") and record.title and record.body
    assert source_for_url(url).generic and not get_source("kazinform").generic


def test_a_page_without_address_is_read_by_the_source_whose_markers_it_carries(tmp_path: Path) -> None:
    html = KAZINFORM_PAGE.read_text(encoding="utf-8")
    for tag in ('<meta property="og:url"', '<link rel="canonical"'):
        html = "\n".join(line for line in html.splitlines() if tag not in line)
    record = parse_bytes(html.encode(), locator=str(tmp_path / "saved-page.html"))
    assert (record.source, record.parser) == ("kazinform", "kazinform@2026.1")


def test_a_text_copy_without_address_belongs_to_the_source_that_reads_text_copies() -> None:
    seed = next((Path(__file__).parents[1] / "seeds").glob("*.txt"))
    record = parse_bytes(seed.read_bytes(), locator=str(seed))
    assert record.source == "kazinform" and record.parser.startswith("text-copy@")


def test_a_named_source_overrides_the_address() -> None:
    record = parse_bytes(
        KAZINFORM_PAGE.read_bytes(), locator="page.html", url=KAZINFORM_URL, source=get_source("kazinform")
    )
    assert record.source == "kazinform"


class _Raises(kazinform.LayoutA):
    VERSION = "9999.1"

    @attribute
    def tags(self) -> list[str]:  # type: ignore[override]
        raise IndexError("selector result was empty")


def test_a_parser_that_raises_is_a_parse_error_naming_it_and_the_run_goes_on(tmp_path: Path) -> None:
    broken = dataclasses.replace(get_source("kazinform"), parsers=(_Raises,))
    with pytest.raises(ParseError) as caught:
        parse_bytes(KAZINFORM_PAGE.read_bytes(), locator="p.html", url=KAZINFORM_URL, source=broken)
    assert "parser kazinform@9999.1 failed on this page (IndexError: selector result was empty)" in str(
        caught.value
    )
    bad, good = tmp_path / "a.html", tmp_path / "b.txt"
    bad.write_bytes(KAZINFORM_PAGE.read_bytes())
    good.write_bytes(next((Path(__file__).parents[1] / "seeds").glob("*.txt")).read_bytes())
    visits = read_visits([bad, good], source=broken)
    assert [v.status for v in visits] == ["parse_error", "parsed"]
    assert "kazinform@9999.1" in (visits[0].error or "") and visits[0].raw == bad.read_bytes()
    assert visits[1].record is not None and visits[1].record.source == "kazinform"
    assert visits[0].visited_at <= datetime.now(UTC)


def test_mirror_addresses_map_back_to_their_source() -> None:
    # The registry caches what it loads: a child process sees the environment from the start.
    script = (
        "from parsers.registry import source_for_url as s\n"
        "b = 'http://127.0.0.1:8765'\n"
        "print(s(b + '/ru/odin-8221b43c').name,"
        " s(b + '/en/news/x-6544df/').article_id(b + '/en/news/x-6544df/'),"
        " s(b + '/tengrinews.kz/world_news/x-531527/').article_id(b + '/tengrinews.kz/world_news/x-531527/'),"
        " s(b + '/kaz.tengrinews.kz/a/b-364674/').article_id(b + '/kaz.tengrinews.kz/a/b-364674/'),"
        " s('https://tengrinews.kz/world_news/x-531527/').name)\n"
    )
    env = {"KAZINFORM_BASE_URL": "http://127.0.0.1:8765/", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    # On a mirror the real host is no longer the source's: it gets the generic source.
    assert out.stdout.split() == ["kazinform", "6544df", "ru-531527", "kz-364674", "tengrinews.kz"]


def test_saved_pages_of_several_sources_ingest_each_under_its_own(tmp_path: Path) -> None:
    # Read as `kazinform ingest` reads files: each page's own address (og:url, canonical) names it.
    pages = [KAZINFORM_PAGE, TENGRI_PAGE, FIXTURES / "astanatimes" / "graph_yoast.html"]
    visits = read_visits(pages)
    assert [(v.status, v.source) for v in visits] == [
        ("parsed", "kazinform"),
        ("parsed", "tengrinews"),
        ("parsed", "astanatimes"),
    ]
    assert [v.record.parser.split("@")[0] for v in visits if v.record] == [
        "kazinform",
        "tengrinews",
        "generic",
    ]
