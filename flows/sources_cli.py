"""`kazinform sources`, `kazinform new-source`, `kazinform fixture add|regenerate`: what a person uses
to see the registered sources and to add the next one (docs/adding-a-source.md). Only the standard
library at the top: the CLI imports this module to build its parser."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_DIFFERS = 1  # `fixture regenerate --check`: an expected record is not what the parser makes now
EXIT_FAILURE = 1
EXIT_USAGE = 2
# A new source's name is its module's name (parsers/publishers/<name>.py) and its records' `source`.
NEW_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAIN_FIELDS = (
    "source",
    "article_id",
    "url",
    "language",
    "title",
    "published_at",
    "authors",
    "tags",
    "parser",
)
SHOWN_BODY_CHARS = 200  # the start of the body printed after `fixture add`, for a first look


class CommandError(Exception):
    """A command given wrongly: one line on stderr, exit status 2."""


def add_sources_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sources = commands.add_parser(
        "sources",
        help="the registered sources: editions, feeds, listings, parser versions, fixture pages",
    )
    sources.add_argument("--format", choices=("table", "json"), default="table")
    sources.set_defaults(func=_handled(run_sources))


def add_new_source_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    new = commands.add_parser(
        "new-source",
        help="scaffold a source: its definition and parser file, a fixture folder and its test",
        description="Writes parsers/publishers/NAME.py, tests/fixtures/NAME/ and tests/test_source_NAME.py; "
        "see docs/adding-a-source.md for the next steps.",
    )
    new.add_argument("name", metavar="NAME", help="lowercase letters, digits and '_'; the module's name")
    new.add_argument("--host", required=True, help="the host of its article pages, e.g. www.example.kz")
    new.add_argument("--language", default="ru", help="ISO 639-1 code of its text (default ru)")
    new.add_argument(
        "--feed", action="append", default=[], metavar="URL", help="an RSS/Atom feed (repeatable)"
    )
    new.add_argument("--title", help="how people call it (default: the host)")
    new.set_defaults(func=_handled(run_new_source))


def add_fixture_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    fixture = commands.add_parser(
        "fixture", help="store fixture pages of a source and their expected records"
    )
    actions = fixture.add_subparsers(dest="fixture_action", required=True)
    add = actions.add_parser(
        "add",
        help="store a page (a file or an address to fetch) and write its expected record for review",
    )
    add.add_argument("source", metavar="SOURCE")
    add.add_argument("page", metavar="FILE_OR_URL")
    add.add_argument("--url", help="the page's address (default: the address fetched, else the page's own)")
    add.add_argument("--name", help="the fixture's name (default: from the address or file name)")
    add.add_argument("--note", default="", help="what the page is for (kept in its .meta.json)")
    add.set_defaults(func=_handled(run_fixture_add))
    regenerate = actions.add_parser(
        "regenerate",
        help="rewrite the expected records from today's parsers and show what changed, field by field",
        description="Exit status 1 with --check when any expected record differs.",
    )
    regenerate.add_argument("source", nargs="?", metavar="SOURCE", help="default: every source with fixtures")
    regenerate.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when anything differs"
    )
    regenerate.set_defaults(func=_handled(run_fixture_regenerate))


def _handled(handler: Any) -> Any:
    """A CommandError or a source definition the registry refuses is one line on stderr."""

    def run(args: argparse.Namespace) -> int:
        from parsers.source import SourceDefinitionError

        try:
            return handler(args)
        except CommandError as error:
            print(f"kazinform: {error}", file=sys.stderr)
            return EXIT_USAGE
        except SourceDefinitionError as error:
            print(f"kazinform: {error} — fix that source's definition", file=sys.stderr)
            return EXIT_FAILURE

    return run


def _known_source(name: str) -> Any:
    from parsers.registry import get_source

    try:
        return get_source(name)
    except KeyError as error:
        raise CommandError(str(error.args[0])) from None  # it names the known sources


# --- kazinform sources ----------------------------------------------------------------------------


def describe_source(source: Any) -> dict[str, Any]:
    """One registered source as plain data (the JSON of `kazinform sources --format json`)."""
    from parsers.fixtures import count_fixtures

    return {
        "name": source.name,
        "title": source.title,
        "editions": [
            {"code": e.code, "language": e.language, "host": e.host, "home": e.home} for e in source.editions
        ],
        "feeds": source.feed_urls,
        "listings": [listing.url for e in source.editions for listing in e.listings],
        "article_key": source.article_key,
        "parsers": [
            {
                "id": version.parser_id(),
                "valid_from": version.VALID_FROM.isoformat() if version.VALID_FROM else None,
                "valid_until": version.VALID_UNTIL.isoformat() if version.VALID_UNTIL else None,
                "validity": version.validity(),
            }
            for version in source.parsers
        ],
        "generic": not source.parsers,
        "fixtures": count_fixtures(source.name),
    }


def render_source(described: dict[str, Any]) -> str:
    editions = ", ".join(f"{e['code']} ({e['language']}, {e['host']})" for e in described["editions"])
    lines = [f"{described['name']} — {described['title']}", f"  editions:  {editions}"]
    lines += [f"  feed:      {url}" for url in described["feeds"]] or ["  feeds:     none"]
    lines += [f"  listing:   {url}" for url in described["listings"]] or ["  listings:  none"]
    lines.append(f"  key:       {described['article_key']}")
    if described["generic"]:
        lines.append("  parsers:   generic (no parser classes: the generic parser reads its pages)")
    for version in described["parsers"]:
        lines.append(f"  parser:    {version['id']:<28} {version['validity']}")
    lines.append(f"  fixtures:  {described['fixtures']}")
    return "\n".join(lines)


def run_sources(args: argparse.Namespace) -> int:
    from parsers.registry import sorted_sources

    described = [describe_source(source) for source in sorted_sources()]
    if args.format == "json":
        print(json.dumps(described, ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(render_source(d) for d in described))
    return EXIT_OK


# --- kazinform new-source -------------------------------------------------------------------------


def _quoted(text: str) -> str:
    """A Python string literal in double quotes, as the formatter writes it."""
    return json.dumps(text, ensure_ascii=False)


def _class_name(name: str, version: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + version.split(".")[0]


def source_module_text(name: str, host: str, language: str, feeds: list[str], title: str) -> str:
    """parsers/publishers/<name>.py of a new source: its definition and one parser version whose
    selectors are placeholders to fill (until then ArticleParser's general selectors read the pages)."""
    today = date.today()
    version = f"{today.year}.1"
    class_name = _class_name(name, version)
    hosts = sorted({host, host.removeprefix("www.") if host.startswith("www.") else f"www.{host}"})
    host_set = "{" + ", ".join(_quoted(h) for h in hosts) + "}"
    if len(feeds) == 1:
        feed_tuple = f"({_quoted(feeds[0])},)"
    else:  # none, or one per line as a formatter writes them
        feed_tuple = (
            "("
            + "".join(f"\n                {_quoted(f)}," for f in feeds)
            + ("\n            )" if feeds else ")")
        )
    doc_title = " ".join(title.replace('"', "'").replace("\\", "/").split())
    return f'''"""{doc_title} ({host}): the source definition and its article page layout.

Fill the selectors from a real page: `kazinform fixture add {name} PAGE --url URL` stores one in
tests/fixtures/{name}/; see docs/adding-a-source.md. Until they are filled, ArticleParser's general
selectors (after the placeholders below) and the page's JSON-LD / Open Graph read its pages.
"""

from __future__ import annotations

from datetime import date

from parsers.article import ArticleParser
from parsers.source import Edition, Source


class {class_name}(ArticleParser):
    """The layout of {host}'s article pages seen from {today.isoformat()}.

    When the site changes its layout, add a subclass of this class above it that overrides only the
    selectors that changed, with its own VERSION, VALID_FROM and MARKERS; set VALID_UNTIL here.
    """

    NAME = "{name}"
    VERSION = "{version}"  # records say parser = "{name}@{version}"
    VALID_FROM = date({today.year}, {today.month}, {today.day})  # first day pages in this layout were seen
    VALID_UNTIL = None  # still current
    # FILL: selectors only this layout's article pages have; with several versions, a page is read
    # by the first (newest) version whose markers it carries.
    MARKERS = ("article.fill-in-marker",)
    # FILL each tuple: this site's selectors first; ArticleParser's general ones after them catch
    # what they miss. Delete a placeholder you do not need.
    ROOTS = ("article.fill-in-article", *ArticleParser.ROOTS)  # the element around the whole article
    TITLES = ("h1.fill-in-title", *ArticleParser.TITLES)  # the headline
    LEADS = (".fill-in-lead", *ArticleParser.LEADS)  # the standfirst under the headline
    BODIES = ("div.fill-in-body", *ArticleParser.BODIES)  # the container of the article's paragraphs
    DATES = ("time.fill-in-date", *ArticleParser.DATES)  # the publication date as shown
    TAGS = (".fill-in-tags a", *ArticleParser.TAGS)  # one element per tag
    AUTHORS = (".fill-in-author", *ArticleParser.AUTHORS)  # one element per author's name
    CATEGORIES = (".fill-in-section", *ArticleParser.CATEGORIES)  # the section or rubric
    MAIN_IMAGES = ("figure.fill-in-image", *ArticleParser.MAIN_IMAGES)  # the lead picture
    AGENCY_NAMES = frozenset({{"{name}"}})  # bylines that name the outlet, not a person


SOURCE = Source(
    name="{name}",
    title={_quoted(title)},
    editions=(
        Edition(
            code="{language}",  # used in keys when editions number separately ("{{edition}}-{{id}}")
            language="{language}",
            home="https://{host}/",
            article_prefix="/",  # FILL when articles sit under one path ("/news/")
            feeds={feed_tuple},
            # FILL when the site has a paged list of articles:
            # listings=(Listing(url=..., page_url=".../page/{{n}}/", cards=(CardSelectors(...),)),),
        ),
    ),
    hosts=frozenset({host_set}),
    # FILL: where the article's number is in its address's path (a group named "id"); the default
    # takes a number ending the last segment: "/news/some-title-12345/", "/news/12345.html".
    article_patterns=(r"[-_/](?P<id>\\d+)(?:\\.html?)?/?$",),
    article_key="{{id}}",
    parsers=({class_name},),
    requests_per_second=1.0,  # politeness: requests per second per host
)
'''


def source_test_text(name: str) -> str:
    """tests/test_source_<name>.py: the source's fixture pages against their expected records."""
    return f'''"""{name}: every fixture page of tests/fixtures/{name}/ against its expected record, field by
field (parsers/fixtures.py). After a parser change: `kazinform fixture regenerate {name}`, review."""

from __future__ import annotations

import pytest

from parsers.fixtures import Fixture, assert_field_matches, case_id, field_cases, fixtures_of, parsed

SOURCE = "{name}"


def test_source_has_fixture_pages() -> None:
    assert fixtures_of(SOURCE), f"no fixture pages yet: `kazinform fixture add {{SOURCE}} PAGE --url URL`"


@pytest.mark.parametrize("fixture", fixtures_of(SOURCE), ids=case_id)
def test_page_is_read_as_this_source(fixture: Fixture) -> None:
    assert parsed(fixture)["source"] == SOURCE, f"{{fixture}}: its .meta.json url is not on its hosts"


@pytest.mark.parametrize(("fixture", "field"), field_cases(SOURCE), ids=case_id)
def test_fixture_field(fixture: Fixture, field: str) -> None:
    assert_field_matches(fixture, field)
'''


def scaffold_source(
    name: str, host: str, language: str = "ru", feeds: list[str] | None = None, title: str | None = None
) -> list[Path]:
    """Write a new source's files; refuses a name or host already registered. Returns what it wrote."""
    from parsers.fixtures import fixture_dir, project_root
    from parsers.registry import registered

    host = host.lower().strip()
    feeds = feeds or []
    if not NEW_SOURCE_NAME.match(name):
        raise CommandError(
            f"source name {name!r} must start with a letter and hold only lowercase letters, digits "
            "and '_' (at most 40): it is a module's name"
        )
    if not HOST.match(host):
        raise CommandError(f"--host {host!r} is not a host name (like www.example.kz, without http://)")
    if not LANGUAGE.match(language):
        raise CommandError(f"--language {language!r} must be an ISO 639-1 code such as ru, kk or en")
    for feed in feeds:
        if not feed.startswith(("http://", "https://")):
            raise CommandError(f"--feed {feed!r} must be an http(s) address")
    root = project_root()
    module = root / "parsers" / "publishers" / f"{name}.py"
    test = root / "tests" / f"test_source_{name}.py"
    sources = registered()
    if name in sources or module.exists():
        raise CommandError(f"a source named {name!r} exists already (parsers/publishers/{name}.py)")
    claimed = {h: s.name for s in sources.values() for h in s.hosts}
    bare = host.removeprefix("www.")
    for candidate in (host, bare, f"www.{bare}"):
        if candidate in claimed:
            raise CommandError(f"host {candidate} is already claimed by source {claimed[candidate]!r}")
    if test.exists():
        raise CommandError(f"{test.relative_to(root)} exists already: remove it or choose another name")
    module.write_text(source_module_text(name, host, language, feeds, title or host), encoding="utf-8")
    folder = fixture_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    test.write_text(source_test_text(name), encoding="utf-8")
    return [module, folder, test]


def run_new_source(args: argparse.Namespace) -> int:
    from parsers.fixtures import project_root

    written = scaffold_source(args.name, args.host, args.language, args.feed, args.title)
    root = project_root()
    for path in written:
        print(f"wrote {path.relative_to(root)}{'/' if path.is_dir() else ''}")
    print(
        f"next: kazinform fixture add {args.name} PAGE --url https://{args.host.lower()}/…  "
        "then fill the selectors (docs/adding-a-source.md)"
    )
    return EXIT_OK


# --- kazinform fixture add | regenerate -----------------------------------------------------------


def _fetch(url: str, source: Any) -> tuple[bytes, str, Any]:
    """The page at `url`, fetched politely within the fetcher's bounds: (body, final address, time)."""
    import asyncio

    from crawler.fetch import Fetcher

    async def fetch_one() -> Any:
        async with Fetcher.for_source(source) as fetcher:
            return await fetcher.fetch(url)

    result = asyncio.run(fetch_one())
    if result.outcome != "ok" or result.body is None:
        reason = result.error or f"HTTP {result.http_status}"
        raise CommandError(f"cannot fetch {url}: {reason}")
    return result.body, result.final_url, result.fetched_at


def real_address(url: str, source: Any) -> str:
    """A mirror's address of one of `source`'s pages moved back to the source's own host, so the
    fixture parses the same with or without a mirror ($KAZINFORM_BASE_URL)."""
    from urllib.parse import urlsplit

    from parsers.registry import registered
    from parsers.source import mirror_path

    declared = registered().get(source.name)
    if source.base_url is None or declared is None or not url.startswith(source.base_url):
        return url
    path = url[len(source.base_url) :]
    hosts = [e.host for e in declared.editions] + sorted(declared.hosts)
    # The longest mirror prefix wins: "/en/…" is en.inform.kz's page, "/ru/…" the root host's.
    for host in sorted(dict.fromkeys(hosts), key=lambda h: -len(mirror_path(declared, h))):
        prefix = mirror_path(declared, host)
        if path.startswith(prefix + "/") or (prefix and path == prefix):
            scheme = urlsplit(declared.editions[0].home).scheme or "https"
            return f"{scheme}://{host}{path[len(prefix) :] or '/'}"
    return url


def run_fixture_add(args: argparse.Namespace) -> int:
    from parsers.fixtures import FixtureError, name_from_address, parse_fixture, store_page
    from parsers.record import ParseError

    source = _known_source(args.source)
    fetched_at = None
    if args.page.startswith(("http://", "https://")):
        raw, final_url, fetched_at = _fetch(args.page, source)
        url = args.url or real_address(final_url, source)
    else:
        from flows.cli_errors import UnreadableInputError, read_input_file

        try:
            raw = read_input_file(Path(args.page))
        except UnreadableInputError as error:
            raise CommandError(f"{args.page}: {error}") from None
        url = args.url
    name = args.name or name_from_address(url or args.page)
    try:
        fixture = store_page(source.name, name, raw, url=url, note=args.note, fetched_at=fetched_at)
    except FixtureError as error:
        raise CommandError(str(error)) from None
    print(f"stored {fixture.page}")
    try:
        record = parse_fixture(fixture)
    except ParseError as error:
        print(f"kazinform: {fixture}: the current parser cannot read it: {error.reason}", file=sys.stderr)
        print("no expected record written: fill the selectors, then `kazinform fixture regenerate`")
        return EXIT_FAILURE
    from parsers.fixtures import write_expected

    write_expected(fixture, record)
    print(f"wrote {fixture.expected_path} — review it:")
    for field in MAIN_FIELDS:
        print(f"  {field:<13} {json.dumps(record.get(field), ensure_ascii=False)}")
    body = record.get("body") or ""
    shown = body[:SHOWN_BODY_CHARS] + ("…" if len(body) > SHOWN_BODY_CHARS else "")
    print(f"  {'body':<13} {json.dumps(shown, ensure_ascii=False)} ({len(body)} characters)")
    if record.get("source") != source.name:
        print(
            f"kazinform: warning: the page was read as source {record.get('source')!r}, not {source.name!r}: "
            "give its address with --url",
            file=sys.stderr,
        )
    return EXIT_OK


def run_fixture_regenerate(args: argparse.Namespace) -> int:
    from parsers.fixtures import fixture_sources, regenerate

    if args.source:
        _known_source(args.source)
    sources = [args.source] if args.source else fixture_sources()
    changed = failed = total = 0
    for outcome in regenerate(sources, write=not args.check):
        total += 1
        if outcome.error is not None:
            failed += 1
            print(f"error     {outcome.fixture}: {outcome.error}")
        elif outcome.new:
            changed += 1
            print(f"new       {outcome.fixture}")
        elif outcome.differences:
            changed += 1
            print(f"changed   {outcome.fixture}")
            for difference in outcome.differences:
                print(f"    {difference.describe()}")
    verb = "differ" if args.check else "rewritten"
    unchanged = total - changed - failed
    print(f"{total} fixture pages: {changed} {verb}, {failed} unreadable, {unchanged} unchanged")
    return EXIT_DIFFERS if failed or (args.check and changed) else EXIT_OK
