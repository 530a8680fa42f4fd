"""The normalized article record every parser returns, and the text rules behind its hash."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

BlockKind = Literal["heading", "paragraph", "list_item", "quote", "image"]

# Fields whose values are compared between versions and reported in article_changes.
# Order matters: it is the order change rows are written in.
TRACKED_FIELDS: tuple[str, ...] = (
    "url",
    "language",
    "title",
    "lead",
    "body",
    "published_at",
    "published_text",
    "updated_at",
    "authors",
    "tags",
    "category",
    "image_url",
    "image_caption",
    "image_credit",
)

_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+")


def normalize_text(text: str | None) -> str:
    """NFC, every kind of space (NBSP, thin, zero-width) folded to one ASCII space, trimmed."""
    if not text:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def normalize_body(text: str | None) -> str:
    """Normalize each paragraph on its own; paragraphs stay separated by one blank line."""
    if not text:
        return ""
    paragraphs = (normalize_text(p) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def compute_content_hash(
    title: str | None, lead: str | None, body: str | None, tags: list[str], authors: list[str]
) -> str:
    """sha256 over the normalized editorial content; whitespace-only differences hash the same."""
    payload = json.dumps(
        [
            normalize_text(title),
            normalize_text(lead),
            normalize_body(body),
            [normalize_text(t) for t in tags],
            [normalize_text(a) for a in authors],
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of the article body in reading order."""

    kind: BlockKind
    text: str
    src: str | None = None  # image blocks: the image address
    credit: str | None = None  # image blocks: photo credit line


@dataclass(slots=True)
class ArticleRecord:
    """One parsed article. `published_at`/`updated_at` are timezone-aware UTC datetimes."""

    source: str
    article_id: str
    url: str | None
    language: str | None
    title: str
    lead: str | None
    body: str
    blocks: list[Block]
    published_at: datetime | None
    published_text: str | None
    updated_at: datetime | None
    authors: list[str]
    tags: list[str]
    category: str | None
    image_url: str | None
    image_caption: str | None
    image_credit: str | None
    parser: str
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = compute_content_hash(
                self.title, self.lead, self.body, self.tags, self.authors
            )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict: datetimes as ISO-8601 UTC strings, blocks as dicts without empty keys."""
        data = asdict(self)
        for key in ("published_at", "updated_at"):
            value = data[key]
            data[key] = value.isoformat().replace("+00:00", "Z") if value else None
        data["blocks"] = [{k: v for k, v in b.items() if v is not None} for b in data["blocks"]]
        return data


class ParseError(Exception):
    """The input holds no article we can read; `reason` says why in words a person can act on."""

    def __init__(self, reason: str, *, source_name: str | None = None) -> None:
        self.reason = reason
        self.source_name = source_name
        super().__init__(f"{source_name}: {reason}" if source_name else reason)
