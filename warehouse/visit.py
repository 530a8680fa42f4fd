"""What the loader takes in: one `VisitInput` per input read or URL fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from parsers.record import ArticleRecord
from warehouse.raw import PackedRaw, decode_raw, pack_raw

# What the reader/fetcher knows before the warehouse compares anything:
# - parsed:       a record came out of the parser (loader decides created/changed/unchanged/redirected)
# - parse_error:  bytes were read but no article came out (`error` says why; raw bytes are kept)
# - not_modified: HTTP 304 to a conditional GET (no body, no parse)
# - gone:         HTTP 404/410 for a known article address
# - failed:       the fetch itself failed (timeouts, 5xx after retries, refused, too large, wrong type)
# - listed:       a feed or listing page read fine (no article of its own; article_id is None)
# - reparsed:     a stored raw page read again by today's parser (flows.reparse), not a visit of the
#                 site: `raw` is the page the article's current version was made from
FetchStatus = Literal["parsed", "parse_error", "not_modified", "gone", "failed", "listed", "reparsed"]

# Statuses that carry a record.
RECORD_STATUSES = frozenset({"parsed", "reparsed"})

# Final outcomes. A re-parse is written to visits only when it makes a version (`reparsed`); the
# load reports its other re-parses as `unchanged` (today's parser gives the same fields) or
# `superseded` (the current version is no longer the one made from that raw page), writing nothing.
Outcome = Literal[
    "created",
    "changed",
    "unchanged",
    "not_modified",
    "redirected",
    "gone",
    "failed",
    "parse_error",
    "listed",
    "reparsed",
    "superseded",
]


@dataclass(slots=True)
class VisitInput:
    source: str
    locator: str  # the URL fetched (final address after redirects) or the file path read
    visited_at: datetime  # timezone-aware UTC
    status: FetchStatus
    record: ArticleRecord | None = None  # set when status is "parsed" or "reparsed"
    article_id: str | None = None  # known from the record, or derived from the URL when there is none
    raw: bytes | None = None  # the body exactly as received/read; kept in raw_pages by sha256
    error: str | None = None  # the reason, for parse_error/failed
    requested_url: str | None = None  # the URL asked for, when it differs from `locator` (redirects)
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    # the body hashed and compressed where it was read (`pack`): then `raw` is None
    packed: PackedRaw | None = None
    # sha256 of `raw`, when whoever read it has already taken it (a file compared with its last
    # read, flows.read): staging uses it instead of hashing the body again
    raw_sha256: str | None = None

    def pack(self) -> None:
        """Hold the body compressed from here on (a crawl's pages wait for their load this way)."""
        if self.raw is not None:
            self.packed, self.raw = pack_raw(self.raw, self.raw_sha256), None

    @property
    def raw_size(self) -> int | None:
        """The body's length as read, packed or not; None when there is no body."""
        if self.packed is not None:
            return self.packed.size
        return len(self.raw) if self.raw is not None else None

    @property
    def held_raw_bytes(self) -> int:
        """What the body holds in memory now (its compressed form once packed)."""
        if self.packed is not None:
            return len(self.packed.data)
        return len(self.raw) if self.raw is not None else 0

    def body(self) -> bytes | None:
        """The body exactly as read, packed or not."""
        if self.packed is not None:
            return decode_raw(self.packed.encoding, self.packed.data, self.packed.size)
        return self.raw
