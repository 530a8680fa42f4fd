"""The registry's guarantees: a definition that cannot work is refused naming the source and the field;
one host belongs to one source; a separate package adds a source through the `kazinform.sources`
entry point group; an address picks its source by host (a mirror's by path), else the generic one;
an unknown `--source` is one clear line.

`parsers.registry.registered()` is cached for the process, so whatever changes the registered set
(an installed package) runs in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parsers.registry import generic_source, get_source, source_for_url
from parsers.source import CardSelectors, Edition, Listing, Source, SourceDefinitionError, mirror_path

REPO = Path(__file__).resolve().parent.parent
KAZINFORM = Path(sys.executable).parent / "kazinform"
COMMAND_TIMEOUT_S = 180  # `crawl` may start a local Prefect server before it fails: ~20–30 s loaded
MIRROR = "http://127.0.0.1:8765"


def _edition(**changes: object) -> Edition:
    fields: dict[str, object] = {"code": "ru", "language": "ru", "home": "https://news.example.kz/"}
    return Edition(**{**fields, **changes})  # type: ignore[arg-type]


def _source(**changes: object) -> Source:
    fields: dict[str, object] = {
        "name": "example",
        "title": "Example News",
        "editions": (_edition(),),
        "hosts": frozenset({"news.example.kz"}),
        "article_patterns": (r"-(?P<id>\d+)/?$",),
    }
    return Source(**{**fields, **changes})  # type: ignore[arg-type]


def _cards(**changes: object) -> CardSelectors:
    fields: dict[str, object] = {
        "generation": "1",
        "card": "div.card",
        "link": "a",
        "title": "h3",
        "time": "time",
    }
    return CardSelectors(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_valid_definition_is_accepted() -> None:
    source = _source()
    assert source.article_id("https://news.example.kz/politics/some-story-1234/") == "1234"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"title": ""}, "title", "is missing"),
        ({"editions": ()}, "editions", "at least one edition"),
        ({"hosts": frozenset()}, "hosts", "at least one host"),
        ({"article_patterns": ()}, "article_patterns", "group named 'id'"),
        ({"article_patterns": (r"-(\d+)/?$",)}, "article_patterns", "has no group named 'id'"),
        ({"article_patterns": (r"-(?P<id>\d+/?$",)}, "article_patterns", "is not a regular expression"),
        ({"article_key": "{slug}"}, "article_key", "may use only {id} and {edition}"),
        ({"editions": (_edition(language=""),)}, "editions[ru].language", "is missing"),
        ({"editions": (_edition(home="https://elsewhere.kz/"),)}, "editions[ru].home", "not among"),
        ({"editions": (_edition(feeds=("feed.xml",)),)}, "editions[ru].feeds", "http(s) addresses"),
        ({"requests_per_second": 0}, "requests_per_second", "above 0"),
        ({"parsers": (dict,)}, "parsers", "is not a parser version"),
    ],
)
def test_a_definition_that_cannot_work_names_the_source_and_the_field(
    changes: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(SourceDefinitionError) as raised:
        _source(**changes)
    assert (raised.value.source, raised.value.field_name) == ("example", field)
    assert str(raised.value).startswith(f"source 'example': {field}: ")
    assert words in str(raised.value)


@pytest.mark.parametrize(
    ("cards", "field"),
    [
        ({"card": "div[["}, "card"),
        ({"title": "h3 >> span"}, "title"),
        ({"time": ""}, "time"),
        ({"link": ":nth-child(x)"}, "link"),
    ],
)
def test_a_bad_card_selector_is_refused_naming_the_field(cards: dict[str, object], field: str) -> None:
    listing = Listing(
        url="https://news.example.kz/news/",
        page_url="https://news.example.kz/news/{n}/",
        cards=(_cards(**cards),),
    )
    with pytest.raises(SourceDefinitionError) as raised:
        _source(editions=(_edition(listings=(listing,)),))
    assert raised.value.field_name == f"editions[ru].listings.cards.{field}"
    assert "source 'example'" in str(raised.value)


def test_a_listing_without_a_page_number_is_refused() -> None:
    listing = Listing(
        url="https://news.example.kz/news/", page_url="https://news.example.kz/news/2/", cards=(_cards(),)
    )
    with pytest.raises(SourceDefinitionError, match=r"editions\[ru\]\.listings\.page_url: .*no '\{n\}'"):
        _source(editions=(_edition(listings=(listing,)),))


# --- addresses ------------------------------------------------------------------------------------


def test_an_address_picks_its_source_by_host() -> None:
    assert source_for_url("https://tengrinews.kz/world_news/some-story-531527/").name == "tengrinews"
    assert source_for_url("https://kaz.tengrinews.kz/kazakhstan/some-story-364674/").name == "tengrinews"
    assert source_for_url("https://www.inform.kz/ru/some-title-a41f0c9d").name == "kazinform"
    assert source_for_url("https://en.inform.kz/news/some-title-a41f0c9d/").name == "kazinform"
    tengri = source_for_url("https://kaz.tengrinews.kz/kazakhstan/some-story-364674/")
    assert tengri.article_id("https://kaz.tengrinews.kz/kazakhstan/some-story-364674/") == "kz-364674"


def test_an_unknown_host_gets_the_generic_source_named_after_it() -> None:
    source = source_for_url("https://www.unknown-outlet.example/news/2026/some-story-98765.html")
    assert source.generic and not source.parsers
    assert source.name == "unknown-outlet.example"
    assert source.article_id("https://www.unknown-outlet.example/news/2026/some-story-98765.html") == "98765"
    assert source == generic_source("https://www.unknown-outlet.example/news/2026/some-story-98765.html")


@pytest.mark.parametrize(
    ("host", "path", "name"),
    [
        ("www.inform.kz", "/ru/some-title-a41f0c9d", "kazinform"),
        ("en.inform.kz", "/news/some-title-a41f0c9d/", "kazinform"),
        ("tengrinews.kz", "/world_news/some-story-531527/", "tengrinews"),
        ("kaz.tengrinews.kz", "/kazakhstan/some-story-364674/", "tengrinews"),
        ("en.tengrinews.kz", "/news/some-story-7001/", "tengrinews"),
    ],
)
def test_a_mirror_address_maps_back_to_its_source(
    host: str, path: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = get_source(name, base_url=None)
    if declared.base_url is not None:  # the environment already points at a mirror
        pytest.skip("KAZINFORM_BASE_URL is set for this run")
    mirrored = f"{MIRROR}{mirror_path(declared, host)}{path}"
    real = f"https://{host}{path}"
    monkeypatch.setenv("KAZINFORM_BASE_URL", MIRROR)
    on_mirror = source_for_url(mirrored)
    assert on_mirror.name == name and on_mirror.base_url == MIRROR
    assert on_mirror.article_id(mirrored) == declared.article_id(real)
    assert on_mirror.article_id(mirrored) is not None
    # With a mirror set, an address elsewhere is still the generic source of its own host.
    assert source_for_url("https://www.unknown-outlet.example/story-123/").generic


# --- the registry as loaded: entry points, host claims (child processes) --------------------------


def _install_tiny_package(site: Path, source_code: str, entry_point: str = "tiny_outlet:SOURCE") -> None:
    """A tiny distribution on a path entry as an installer leaves it: the package and its
    *.dist-info with METADATA and entry_points.txt."""
    package = site / "tiny_outlet"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(source_code), encoding="utf-8")
    info = site / "tiny_outlet-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tiny-outlet\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[kazinform.sources]\ntiny_outlet = {entry_point}\n", encoding="utf-8"
    )
    (info / "RECORD").write_text("", encoding="utf-8")


TINY_SOURCE = """
    from parsers.source import Edition, Source

    SOURCE = Source(
        name="tiny_outlet",
        title="Tiny Outlet",
        editions=(Edition(code="en", language="en", home="https://news.tiny.example/",
                          feeds=("https://news.tiny.example/rss",)),),
        hosts=frozenset({"news.tiny.example"}),
        article_patterns=(r"/(?P<id>\\d+)/?$",),
    )
"""


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(site)}
    environment.pop("KAZINFORM_BASE_URL", None)
    return subprocess.run(
        [*args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


def test_a_package_adds_a_source_through_its_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_tiny_package(site, TINY_SOURCE)
    listed = _run(site, str(KAZINFORM), "sources", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    tiny = next(s for s in json.loads(listed.stdout) if s["name"] == "tiny_outlet")
    assert tiny["generic"] and tiny["feeds"] == ["https://news.tiny.example/rss"]
    assert tiny["editions"] == [
        {"code": "en", "language": "en", "host": "news.tiny.example", "home": "https://news.tiny.example/"}
    ]
    chosen = _run(
        site,
        sys.executable,
        "-c",
        "from parsers.registry import source_for_url as s; "
        "print(s('https://news.tiny.example/world/4711/').name, s('https://news.tiny.example/world/4711/').article_id('https://news.tiny.example/world/4711/'))",
    )
    assert chosen.stdout.split() == ["tiny_outlet", "4711"], chosen.stderr
    # Without the package on the path the source is not there: the test saw the entry point work.
    assert "tiny_outlet" not in _run(tmp_path, str(KAZINFORM), "sources").stdout


def test_a_package_claiming_a_registered_host_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_tiny_package(
        site, TINY_SOURCE.replace('{"news.tiny.example"}', '{"news.tiny.example", "tengrinews.kz"}')
    )
    listed = _run(site, str(KAZINFORM), "sources")
    assert listed.returncode == 1
    lines = listed.stderr.strip().splitlines()
    assert lines == [
        "kazinform: source 'tiny_outlet': hosts: tengrinews.kz is already claimed by 'tengrinews' "
        "— fix that source's definition"
    ]


def test_a_package_with_a_bad_definition_fails_at_load_naming_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_tiny_package(site, TINY_SOURCE.replace("(?P<id>", "("))
    listed = _run(site, str(KAZINFORM), "sources")
    assert listed.returncode == 1
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kazinform: source 'tiny_outlet': ")
    assert "article_patterns: '/(\\\\d+)/?$' has no group named 'id'" in lines[0]


def test_an_entry_point_that_does_not_load_is_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_tiny_package(site, TINY_SOURCE, entry_point="tiny_outlet:NO_SUCH_NAME")
    loaded = _run(site, sys.executable, "-c", "from parsers.registry import registered; registered()")
    assert loaded.returncode == 1
    assert (
        "SourceDefinitionError: source 'tiny_outlet': entry point: cannot load 'tiny_outlet:NO_SUCH_NAME'"
        in loaded.stderr
    )


# --- an unknown --source ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unknown_source_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """`parse` and `crawl` with a source no one registered, each run once for the tests below."""
    folder = tmp_path_factory.mktemp("unknown_source")
    environment = {
        **os.environ,
        "PREFECT_HOME": str(folder / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    environment.pop("KAZINFORM_BASE_URL", None)
    page = REPO / "tests" / "fixtures" / "kazinform" / "gen_a_ru.html"
    commands = {
        "parse": ["parse", str(page), "--source", "no_such_outlet"],
        "crawl": ["crawl", "no_such_outlet", "--warehouse", str(folder / "w.duckdb")],
    }
    return {
        name: subprocess.run(
            [str(KAZINFORM), *args],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        for name, args in commands.items()
    }


@pytest.mark.parametrize("command", ["parse", "crawl"])
def test_an_unknown_source_is_one_clear_line(
    command: str, unknown_source_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = unknown_source_runs[command]
    ours = [line for line in result.stderr.splitlines() if line.startswith("kazinform:")]
    assert len(ours) == 1, result.stderr
    assert "unknown source 'no_such_outlet'" in ours[0] and "kazinform" in ours[0].split("known:")[-1]
    assert result.stdout == "" and result.returncode != 0


@pytest.mark.parametrize("command", ["parse", "crawl"])
def test_an_unknown_source_is_a_usage_error(
    command: str, unknown_source_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = unknown_source_runs[command]
    assert result.returncode == 2
    assert result.stderr.startswith("kazinform: unknown source"), result.stderr  # before any run starts
