"""The registry of news sources: every module of `parsers.publishers` and every entry point in the
`kazinform.sources` group, checked when loaded.

    source = source_for_url("https://tengrinews.kz/world_news/…-531527/")  # by the address's host
    source = get_source("kazinform")
    for source in all_sources(): …

An address no source claims gets a generic source named after its host, read by the generic
parser. With `KAZINFORM_BASE_URL` set (a mirror or the replica) every source is moved onto that
base (Source.on_mirror) and the address is matched there.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from urllib.parse import urlsplit

import parsers.publishers
from parsers.source import Edition, Source, SourceDefinitionError

BASE_URL_ENV = "KAZINFORM_BASE_URL"
ENTRY_POINT_GROUP = "kazinform.sources"
GENERIC_KEY_PATTERNS = (
    # A number or hex id ending the last segment ("…-531527/", "/12345.html"), else the whole path.
    r"[-_/](?P<id>\d{3,}|[0-9a-f]{8,})(?:\.html?)?/?$",
    r"^/(?P<id>.+?)/?$",
)
NO_ADDRESS = "unknown"  # the source of a page whose address is unknown and no source reads as text


class UnknownSourceError(KeyError):
    """A source name no module or entry point registered."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


@cache
def registered() -> dict[str, Source]:
    """Every source by name, as declared (real hosts). Raises SourceDefinitionError naming the source."""
    found: list[tuple[Source, str]] = []
    for module in pkgutil.iter_modules(parsers.publishers.__path__):
        found.append((_source_of(importlib.import_module(f"parsers.publishers.{module.name}")), module.name))
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except SourceDefinitionError:  # the package's own definition, already named
            raise
        except Exception as error:
            raise SourceDefinitionError(
                point.name, "entry point", f"cannot load {point.value!r}: {error}"
            ) from error
        found.append((_source_of(loaded, point.name), f"entry point {point.value}"))
    sources: dict[str, Source] = {}
    owners: dict[str, str] = {}
    for source, origin in found:
        if source.name in sources:
            raise SourceDefinitionError(source.name, "name", f"declared twice (again by {origin})")
        for host in source.hosts:
            if host in owners:
                raise SourceDefinitionError(
                    source.name, "hosts", f"{host} is already claimed by {owners[host]!r}"
                )
            owners[host] = source.name
        sources[source.name] = source
    return sources


def _source_of(loaded: object, name: str = "") -> Source:
    candidate = loaded.SOURCE if isinstance(loaded, ModuleType) and hasattr(loaded, "SOURCE") else loaded
    if callable(candidate) and not isinstance(candidate, Source):
        candidate = candidate()
    if not isinstance(candidate, Source):
        label = getattr(loaded, "__name__", name or repr(loaded))
        raise SourceDefinitionError(label, "SOURCE", "the module or entry point holds no Source")
    return candidate


def mirror_base() -> str | None:
    return os.environ.get(BASE_URL_ENV) or None


def all_sources(base_url: str | None = None) -> list[Source]:
    """Every registered source in name order, moved onto `base_url` (or $KAZINFORM_BASE_URL)."""
    base = base_url or mirror_base()
    return [_on_mirror(source, base) if base else source for source in sorted_sources()]


def sorted_sources() -> list[Source]:
    return [registered()[name] for name in sorted(registered())]


@cache
def _on_mirror(source: Source, base: str) -> Source:
    return source.on_mirror(base)


def get_source(name: str, base_url: str | None = None) -> Source:
    """The registered source `name`, moved onto `base_url` (or $KAZINFORM_BASE_URL when set)."""
    try:
        source = registered()[name.lower()]
    except KeyError:
        known = ", ".join(sorted(registered()))
        raise UnknownSourceError(
            f"unknown source {name!r} — known: {known} (see `kazinform sources`)"
        ) from None
    base = base_url or mirror_base()
    return _on_mirror(source, base) if base else source


def source_for_url(url: str, base_url: str | None = None) -> Source:
    """The source whose hosts (on a mirror: whose paths) hold `url`; a generic one otherwise."""
    claims = [(source.claim(url), source) for source in all_sources(base_url)]
    best = max(claims, key=lambda claim: claim[0], default=(0, None))
    return best[1] if best[0] and best[1] is not None else generic_source(url)


def text_copy_source() -> Source | None:
    """The one source whose plain-text copies arrive without an address, when exactly one says so."""
    readers = [s for s in all_sources() if s.reads_text_copies]
    return readers[0] if len(readers) == 1 else None


def generic_source(url: str | None) -> Source:
    """A source made for an address no registered source claims: named after its host (without
    'www.'), one edition, keys from the address's trailing id or its path, the generic parser."""
    parts = urlsplit(url or "")
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return _generic_source("", "")
    return _generic_source(parts.scheme, parts.netloc.lower())


@cache  # one per host (not per address: a crawl of an unknown site would grow it per page)
def _generic_source(scheme: str, netloc: str) -> Source:
    host = urlsplit(f"{scheme}://{netloc}/").hostname or "" if netloc else ""
    home = f"{scheme}://{netloc}/" if netloc else "http://unknown.invalid/"
    name = host.removeprefix("www.") or NO_ADDRESS
    return Source(
        name=name,
        title=host or "pages without an address",
        editions=(Edition(code="web", language="und", home=home),),
        hosts=frozenset({host or "unknown.invalid"}),
        article_patterns=GENERIC_KEY_PATTERNS,
        generic=True,
    )
