"""Scripted misbehaviour of the replica: what a path answers instead of its normal page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "status",  # answer `status` (default 500) with a short body
    "retry_after",  # 429 (or `status`=503) with Retry-After: `seconds` or the HTTP-date `until`
    "slow",  # sleep `delay` seconds, then answer normally
    "redirect",  # `status` (default 301) to `to`
    "redirect_loop",  # P → P?loop → P → …
    "oversized",  # `size` bytes of HTML; `declare_length`=False streams it without Content-Length
    "content_type",  # the normal body under `content_type` (default application/pdf)
    "malformed_feed",  # a feed body that is not XML
    "empty_feed",  # a valid RSS channel without items
    "empty_listing",  # a lenta page without cards
    "unparseable",  # an HTML page with none of the article markup
    "encoding",  # the normal page encoded in `charset`; `declared`=False leaves the charset unsaid
]

_ALL_KINDS = set(FaultKind.__args__)  # type: ignore[attr-defined]


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int | None = None  # answers left before the path behaves again; None: forever

    def __post_init__(self) -> None:
        if self.kind not in _ALL_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(_ALL_KINDS)}")

    def consume(self) -> bool:
        """Count one answer; True when the fault is used up and should be removed."""
        if self.remaining is None:
            return False
        self.remaining -= 1
        return self.remaining <= 0


MALFORMED_FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Kazinform</ti'
UNPARSEABLE_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Kazinform</title></head>'
    '<body><div class="maintenance">Сайт временно недоступен. Ведутся технические работы.</div>'
    "</body></html>"
)
