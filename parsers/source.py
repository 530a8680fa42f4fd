"""A news source declared as data: editions, feeds, listing pages, article addresses, politeness,
and the parser versions that read its pages.

One `Source` per outlet, in the outlet's own module (parsers/publishers/<name>.py) or in a package
that registers it through the `kazinform.sources` entry point group (parsers.registry). Nothing
else in the pipeline names an outlet: the crawler reads feeds, listings, card selectors, hosts
and rates from here; the parsers' entry point picks the parser by the address's host.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from parsers.record import PARSED_FIELDS

if TYPE_CHECKING:
    from parsers.base import BaseParser

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


class SourceDefinitionError(ValueError):
    """A source definition that cannot work; the message names the source and the field."""

    def __init__(self, source: str, field_name: str, problem: str) -> None:
        self.source = source
        self.field_name = field_name
        super().__init__(f"source {source!r}: {field_name}: {problem}")


@dataclass(frozen=True, slots=True)
class CardSelectors:
    """CSS selectors of one listing-card markup generation.

    `card` matches one card; `link` finds the anchor inside it (None: the card is the anchor);
    `title` and `time` are looked up inside the card.
    """

    generation: str
    card: str
    link: str | None
    title: str
    time: str


@dataclass(frozen=True, slots=True)
class Listing:
    """A paged list of article cards (a "lenta", a section, /news/)."""

    url: str  # page 1
    page_url: str  # page n ≥ 2, with "{n}" where the number goes: "…/lenta?page={n}", "…/page/{n}/"
    cards: tuple[CardSelectors, ...]

    def page(self, n: int) -> str:
        return self.url if n <= 1 else self.page_url.replace("{n}", str(n))


@dataclass(frozen=True, slots=True)
class Edition:
    """One language edition of a source."""

    code: str  # the edition's short name, used in ids where editions number separately (ru, kz, en)
    language: str  # ISO 639-1 of the text: ru, kk, en
    home: str  # the edition's home page, ends with "/"
    article_prefix: str = "/"  # path every article address of this edition starts with
    feeds: tuple[str, ...] = ()
    listings: tuple[Listing, ...] = ()

    @property
    def host(self) -> str:
        return (urlsplit(self.home).hostname or "").lower()

    def owns(self, url: str) -> bool:
        """True when `url` is on this edition's host under its article path prefix."""
        parts = urlsplit(url)
        return (parts.hostname or "").lower() == self.host and parts.path.startswith(self.article_prefix)


@dataclass(frozen=True, slots=True)
class Source:
    """Everything the pipeline knows of one outlet."""

    name: str
    title: str  # how people call it
    editions: tuple[Edition, ...]
    hosts: frozenset[str]  # every host its addresses (articles, feeds, listings) may be on
    # Regular expressions searched in an article address's path; group "id" is the article's number.
    article_patterns: tuple[str, ...]
    # The warehouse key of an article: "{id}", or "{edition}-{id}" when editions number separately.
    article_key: str = "{id}"
    # Parser versions, newest first (parsers.base.BaseParser subclasses). Empty: the generic parser.
    parsers: tuple[type[BaseParser], ...] = ()
    # Whether plain-text copies without an address (the seed's format) are this source's.
    reads_text_copies: bool = False
    requests_per_second: float = 1.0  # per host: politeness
    concurrency_per_host: int | None = None  # None: the fetcher's default
    # Where each host's pages sit on a mirror base (a replica): "" for the base's root. A host not
    # listed sits under "/{host}".
    mirror_paths: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    # Set by on_mirror(): the mirror's base, which may be a private or loopback address.
    base_url: str | None = None
    private_hosts_allowed: frozenset[str] = frozenset()
    mirror_prefixes: frozenset[str] = frozenset()  # on a mirror: the paths its hosts sit under
    generic: bool = False  # made on the fly for an address no registered source claims

    def __post_init__(self) -> None:
        validate(self)

    # --- addresses ----------------------------------------------------------------------------

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return self.hosts

    @property
    def feed_urls(self) -> list[str]:
        return [url for edition in self.editions for url in edition.feeds]

    def edition(self, code: str) -> Edition:
        for edition in self.editions:
            if edition.code == code:
                return edition
        raise KeyError(f"{self.name} has no edition {code!r}")

    def edition_of(self, url: str) -> Edition | None:
        """The edition whose article addresses include `url` (the longest prefix), or None."""
        owners = [e for e in self.editions if e.owns(url)]
        return max(owners, key=lambda e: len(e.article_prefix)) if owners else None

    # --- parts that share no host: a fan-out's stage runs ---------------------------------------

    def host_groups(self) -> tuple[tuple[str, ...], ...]:
        """Edition codes in groups that share no host (article host, feeds, listings), so that two
        workers may crawl two groups at once and still never one host together. Groups and their
        codes keep the editions' order. On a mirror every address is on one host: ask the declared
        source (parsers.registry.registered)."""
        groups: list[tuple[set[str], set[str]]] = []  # (codes, hosts)
        for edition in self.editions:
            codes, hosts = {edition.code}, _hosts_of(edition)
            for group in [g for g in groups if g[1] & hosts]:  # joins every group it touches
                groups.remove(group)
                codes |= group[0]
                hosts |= group[1]
            groups.append((codes, hosts))
        order = {edition.code: number for number, edition in enumerate(self.editions)}
        ordered = sorted(
            (sorted(codes, key=order.__getitem__) for codes, _ in groups), key=lambda c: order[c[0]]
        )
        return tuple(tuple(codes) for codes in ordered)

    def part_hosts(self, codes: Collection[str]) -> frozenset[str]:
        """The hosts a part of these editions crawls; the part holding the first edition also has
        the hosts no edition names (aliases such as "kazinform.kz"), where redirects may lead."""
        chosen = [edition for edition in self.editions if edition.code in codes]
        hosts: set[str] = set().union(*(_hosts_of(edition) for edition in chosen))
        if self.editions[0] in chosen:
            hosts |= self.hosts - set().union(*(_hosts_of(edition) for edition in self.editions))
        return frozenset(hosts)

    def part(self, codes: Collection[str]) -> Source:
        """The source with only these editions: discovery reads only their feeds and listings."""
        unknown = set(codes) - {edition.code for edition in self.editions}
        if unknown or not codes:
            raise KeyError(f"{self.name} has no edition {', '.join(sorted(unknown)) or '(none named)'}")
        return replace(self, editions=tuple(e for e in self.editions if e.code in codes))

    def in_part(self, codes: Collection[str], url: str) -> bool:
        """Whether `url` falls to the part of these editions: its edition is one of them, or it is in
        no edition and the part holds the first edition (as its hosts do, part_hosts)."""
        edition = self.edition_of(url)
        return (edition.code if edition else self.editions[0].code) in codes

    def article_id(self, url: str) -> str | None:
        """The warehouse key of the article at `url`, or None when `url` is not an article address."""
        parts = urlsplit(url)
        if (parts.hostname or "").lower() not in self.hosts:
            return None
        edition = self.edition_of(url)
        if edition is None and "{edition}" in self.article_key:
            return None
        path = self._declared_path(parts.path)
        for pattern in self.article_patterns:
            match = re.search(pattern, path)
            if match and match.group("id"):
                code = edition.code if edition else ""
                return self.article_key.format(id=match.group("id"), edition=code)
        return None

    def _declared_path(self, path: str) -> str:
        """On a mirror, the path as the source's own host has it (patterns may anchor at '/')."""
        for prefix in sorted(self.mirror_prefixes, key=len, reverse=True):
            if prefix and path.startswith(prefix + "/"):
                return path[len(prefix) :]
        return path

    def claim(self, url: str) -> int:
        """How specifically this source claims `url`: the length of the matching path prefix + 1,
        or 0 when the address is not on its hosts."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host not in self.hosts:
            return 0
        if self.base_url is None:
            return 1
        matching = [p for p in self.mirror_prefixes if parts.path.startswith(p + "/") or parts.path == p]
        return max((len(p) + 1 for p in matching), default=0)

    def on_mirror(self, base_url: str) -> Source:
        """The source with every address moved onto one mirror base (a replica): a host's page
        `https://host/path` becomes `{base}{mirror path of host}/path`."""
        base = base_url.rstrip("/")
        parts = urlsplit(base)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("http", "https"):
            raise ValueError(f"base address must be http(s)://host[:port], got {base_url!r}")

        def moved(url: str) -> str:
            return mirror_url(self, url, base)

        editions = tuple(
            replace(
                e,
                home=moved(e.home),
                article_prefix=mirror_path(self, e.host) + e.article_prefix,
                feeds=tuple(moved(f) for f in e.feeds),
                listings=tuple(
                    replace(li, url=moved(li.url), page_url=moved(li.page_url)) for li in e.listings
                ),
            )
            for e in self.editions
        )
        return replace(
            self,
            editions=editions,
            hosts=frozenset({host}),
            base_url=base,
            private_hosts_allowed=frozenset({host}),
            mirror_prefixes=frozenset(mirror_path(self, h) for h in self.hosts),
        )

    # Kept for callers written before mirrors were generic.
    with_base = on_mirror


def _hosts_of(edition: Edition) -> set[str]:
    """Every host an edition's crawl asks: its articles', its feeds' and its listings'."""
    urls = [*edition.feeds, *(u for li in edition.listings for u in (li.url, li.page_url))]
    return {edition.host} | {(urlsplit(url).hostname or "").lower() for url in urls}


def mirror_path(source: Source, host: str) -> str:
    return source.mirror_paths.get(host, f"/{host}")


def mirror_url(source: Source, url: str, base: str) -> str:
    parts = urlsplit(url)
    rest = url[len(f"{parts.scheme}://{parts.netloc}") :]
    return f"{base}{mirror_path(source, (parts.hostname or '').lower())}{rest}"


def validate(source: Source) -> None:
    """Refuse a definition that cannot work, naming the source and the field."""
    name = source.name if isinstance(source.name, str) else repr(source.name)

    def fail(field_name: str, problem: str) -> None:
        raise SourceDefinitionError(name, field_name, problem)

    if not isinstance(source.name, str) or not _NAME.match(source.name):
        fail("name", "must be lowercase letters, digits, '.', '_' or '-' (at most 80)")
    if not source.title:
        fail("title", "is missing")
    if not source.editions:
        fail("editions", "at least one edition is needed")
    if not source.hosts:
        fail("hosts", "at least one host is needed")
    if not source.article_patterns:
        fail("article_patterns", "at least one pattern with a group named 'id' is needed")
    for pattern in source.article_patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            fail("article_patterns", f"{pattern!r} is not a regular expression ({error})")
        if "id" not in compiled.groupindex:
            fail("article_patterns", f"{pattern!r} has no group named 'id'")
    try:
        source.article_key.format(id="1", edition="ru")
    except (KeyError, IndexError, ValueError) as error:
        fail("article_key", f"{source.article_key!r} may use only {{id}} and {{edition}} ({error})")
    if source.requests_per_second <= 0:
        fail("requests_per_second", "must be above 0")
    codes = [e.code for e in source.editions]
    if len(set(codes)) != len(codes):
        fail("editions", f"edition codes repeat: {codes}")
    for edition in source.editions:
        _validate_edition(source, edition, fail)
    for parser in source.parsers:
        if not getattr(parser, "VERSION", None) or not getattr(parser, "attribute_names", None):
            fail("parsers", f"{parser!r} is not a parser version (a BaseParser subclass with a VERSION)")
        missing = [name for name in PARSED_FIELDS if name not in parser.attribute_names]
        if missing:
            fail("parsers", f"{parser.__name__} has no attribute method for {', '.join(missing)}")


def _validate_edition(source: Source, edition: Edition, fail: Any) -> None:
    where = f"editions[{edition.code}]"
    if not edition.code:
        fail(f"{where}.code", "is missing")
    if not edition.language:
        fail(f"{where}.language", "is missing")
    if not edition.home.startswith(("http://", "https://")):
        fail(f"{where}.home", f"must be an http(s) address, got {edition.home!r}")
    if source.base_url is None and edition.host not in source.hosts:
        fail(f"{where}.home", f"host {edition.host!r} is not among the source's hosts")
    if not edition.article_prefix.startswith("/"):
        fail(f"{where}.article_prefix", "must start with '/'")
    for url in edition.feeds:
        if not url.startswith(("http://", "https://")):
            fail(f"{where}.feeds", f"must be http(s) addresses, got {url!r}")
    for listing in edition.listings:
        if "{n}" not in listing.page_url:
            fail(f"{where}.listings.page_url", f"{listing.page_url!r} has no '{{n}}' for the page number")
        if not listing.cards:
            fail(f"{where}.listings.cards", "at least one card markup is needed")
        for cards in listing.cards:
            for selector_field in ("card", "title", "time", "link"):
                selector = getattr(cards, selector_field)
                if selector is None and selector_field == "link":
                    continue
                _check_selector(selector, f"{where}.listings.cards.{selector_field}", fail)


def _check_selector(selector: Any, field_name: str, fail: Any) -> None:
    from selectolax.lexbor import LexborHTMLParser

    if not isinstance(selector, str) or not selector.strip():
        fail(field_name, "is missing")
    try:
        LexborHTMLParser("<p></p>").css_first(selector)
    except Exception as error:  # selectolax raises its own types for a selector it cannot read
        fail(field_name, f"{selector!r} is not a CSS selector ({error})")
