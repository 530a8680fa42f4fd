"""The Astana Times (astanatimes.com): an English-language WordPress site, declared only as data.

No parser class: its pages carry JSON-LD (Yoast's @graph), Open Graph and `article:*` meta tags,
and the generic parser (parsers.generic) reads them and the body. Articles are found through the
site's WordPress feed; their addresses are `https://astanatimes.com/YYYY/MM/slug/`.
"""

from __future__ import annotations

from parsers.source import Edition, Source

SOURCE = Source(
    name="astanatimes",
    title="The Astana Times",
    editions=(
        Edition(
            code="en",
            language="en",
            home="https://astanatimes.com/",
            feeds=("https://astanatimes.com/feed/",),
        ),
    ),
    hosts=frozenset({"astanatimes.com", "www.astanatimes.com"}),
    # The key is the slug: WordPress keeps a post's slug unique and unchanged, while the year and
    # month in the address follow the post's date, which an editor may change.
    article_patterns=(r"^/\d{4}/\d{2}/(?P<id>[a-z0-9][a-z0-9%-]*)/?$",),
    requests_per_second=0.5,  # a small outlet's WordPress server: one request every 2 s per host
)
