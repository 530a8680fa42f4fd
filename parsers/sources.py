"""Source definitions: everything the crawler knows about a publisher, declared as data.

One `Source` per publisher, registered in `SOURCES`. The crawler reads editions, feeds, listing
pages, card selectors, allowed hosts and the default rate limit from here and nowhere else, so a
new source is a new instance, not new code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

BASE_URL_ENV = "KAZINFORM_BASE_URL"

EditionCode = Literal["ru", "kz", "en"]


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
class Edition:
    """One language edition of a source."""

    code: EditionCode
    language: str  # ISO 639-1 of the text: ru, kk, en
    base_url: str  # the edition's home, ends with "/"
    feed_url: str | None
    listing_url: str | None  # the "lenta" page 1; later pages add ?page=N
    article_path_prefix: str  # path every article address of this edition starts with

    @property
    def host(self) -> str:
        return (urlsplit(self.base_url).hostname or "").lower()

    def owns(self, url: str) -> bool:
        """True when `url` is an article address of this edition (same host, article path prefix)."""
        parts = urlsplit(url)
        return (parts.hostname or "").lower() == self.host and parts.path.startswith(self.article_path_prefix)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    editions: tuple[Edition, ...]
    allowed_hosts: frozenset[str]
    listing_cards: tuple[CardSelectors, ...]
    requests_per_second: float = 1.0  # per host; politeness default
    # Set by with_base(): the one host that may be a private/loopback address (a mirror or replica).
    base_url: str | None = None
    private_hosts_allowed: frozenset[str] = field(default_factory=frozenset)

    def edition(self, code: str) -> Edition:
        for edition in self.editions:
            if edition.code == code:
                return edition
        raise KeyError(f"{self.name} has no edition {code!r}")

    def edition_of(self, url: str) -> Edition | None:
        """The edition whose article addresses include `url`, or None."""
        return next((e for e in self.editions if e.owns(url)), None)

    @property
    def feed_urls(self) -> list[str]:
        return [e.feed_url for e in self.editions if e.feed_url]

    def with_base(self, base_url: str) -> Source:
        """Every edition mapped onto one base address: {base}/ru/…, {base}/kz/…, {base}/en/news/…."""
        base = base_url.rstrip("/")
        host = urlsplit(base).hostname
        if not host or urlsplit(base).scheme not in ("http", "https"):
            raise ValueError(f"base address must be http(s)://host[:port], got {base_url!r}")
        editions = tuple(_edition_on_base(e, base) for e in self.editions)
        return replace(
            self,
            editions=editions,
            allowed_hosts=frozenset({host.lower()}),
            base_url=base,
            private_hosts_allowed=frozenset({host.lower()}),
        )


# Feed file names on the base, per edition (the real site serves them under www.inform.kz/rss/).
_FEED_FILE = {"ru": "rus.xml", "kz": "kaz.xml", "en": "eng.xml"}


def _edition_on_base(edition: Edition, base: str) -> Edition:
    # The English edition lives on its own host at /news/…; on a shared base it moves under /en/.
    prefix = "/en/news/" if edition.code == "en" else f"/{edition.code}/"
    home = "/en/" if edition.code == "en" else prefix
    return replace(
        edition,
        base_url=f"{base}{home}",
        feed_url=f"{base}/rss/{_FEED_FILE[edition.code]}" if edition.feed_url else None,
        listing_url=f"{base}/{edition.code}/lenta" if edition.listing_url else None,
        article_path_prefix=prefix,
    )


KAZINFORM = Source(
    name="kazinform",
    editions=(
        Edition(
            code="ru",
            language="ru",
            base_url="https://www.inform.kz/ru/",
            feed_url="https://www.inform.kz/rss/rus.xml",
            listing_url="https://www.inform.kz/ru/lenta",
            article_path_prefix="/ru/",
        ),
        Edition(
            code="kz",
            language="kk",
            base_url="https://www.inform.kz/kz/",
            feed_url="https://www.inform.kz/rss/kaz.xml",
            listing_url="https://www.inform.kz/kz/lenta",
            article_path_prefix="/kz/",
        ),
        Edition(
            code="en",
            language="en",
            base_url="https://en.inform.kz/",
            feed_url="https://www.inform.kz/rss/eng.xml",
            listing_url=None,
            article_path_prefix="/news/",
        ),
    ),
    allowed_hosts=frozenset({"www.inform.kz", "inform.kz", "en.inform.kz"}),
    listing_cards=(
        # Generation A (current): the card is the anchor.
        CardSelectors(
            generation="A", card="a.news-card", link=None, title=".card-title", time="time.meta-date"
        ),
        # Generation B (older): a wrapper with an anchor inside.
        CardSelectors(
            generation="B",
            card=".allNewsCard",
            link="a[href]",
            title=".allNewsCard_title",
            time=".allNewsCard_time",
        ),
    ),
    requests_per_second=1.0,
)

SOURCES: dict[str, Source] = {KAZINFORM.name: KAZINFORM}


def get_source(name: str, base_url: str | None = None) -> Source:
    """The registered source `name`, mapped onto `base_url` (or $KAZINFORM_BASE_URL when set)."""
    try:
        source = SOURCES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or None
    return source.with_base(base) if base else source
