"""The normalized article record every parser returns, and the text rules behind its hash."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

BlockKind = Literal["heading", "paragraph", "list_item", "quote", "image"]

# Zero-width spaces are not whitespace to Python (category Cf), so they are made spaces first.
_ZERO_WIDTH_TO_SPACE = str.maketrans({"\u200b": " ", "\ufeff": " "})


def normalize_text(text: str | None) -> str:
    """NFC, every kind of space (NBSP, thin, zero-width) folded to one ASCII space, trimmed.

    `str.split()` splits on exactly what the regex `\\s` matches (both use Python's whitespace
    test), so this equals `re.sub(r"[\\s\\u200b\\ufeff]+", " ", text).strip()` at ~3× its speed:
    the content hash rests on it, and a parser calls it ~130 times per article."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    if "\u200b" in text or "\ufeff" in text:
        text = text.translate(_ZERO_WIDTH_TO_SPACE)
    return " ".join(text.split())


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


FieldKind = Literal["key", "text", "texts", "time", "blocks", "hash"]

# What each field of the record is, declared once here and read by everything else: `tracked`
# fields are compared between versions and reported in article_changes (in this order), `parsed`
# fields are the attribute methods every parser version answers, and the warehouse's staging and
# field hashes and the load benchmark build their columns from the kind.
_TRACKED = {"tracked": True}
_PARSED = {"parsed": True}
_BOTH = {"tracked": True, "parsed": True}


def _field(kind: FieldKind, flags: dict[str, bool] | None = None, **options: Any) -> Any:
    return field(metadata={"kind": kind, **(flags or {})}, **options)


@dataclass(slots=True)
class ArticleRecord:
    """One parsed article. `published_at`/`updated_at` are timezone-aware UTC datetimes."""

    source: str = _field("key")
    article_id: str = _field("key")
    url: str | None = _field("text", _TRACKED)
    language: str | None = _field("text", _BOTH)
    title: str = _field("text", _BOTH)
    lead: str | None = _field("text", _BOTH)
    body: str = _field("text", _BOTH)
    blocks: list[Block] = _field("blocks", _PARSED)
    published_at: datetime | None = _field("time", _BOTH)
    published_text: str | None = _field("text", _BOTH)
    updated_at: datetime | None = _field("time", _BOTH)
    authors: list[str] = _field("texts", _BOTH)
    tags: list[str] = _field("texts", _BOTH)
    category: str | None = _field("text", _BOTH)
    image_url: str | None = _field("text", _BOTH)
    image_caption: str | None = _field("text", _BOTH)
    image_credit: str | None = _field("text", _BOTH)
    parser: str = _field("text")
    content_hash: str = _field("hash", default="")

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


@dataclass(frozen=True, slots=True)
class RecordField:
    name: str
    kind: FieldKind
    tracked: bool  # compared between versions, a change row when it differs
    parsed: bool  # an attribute method of every parser version


RECORD_FIELDS: tuple[RecordField, ...] = tuple(
    RecordField(f.name, f.metadata["kind"], f.metadata.get("tracked", False), f.metadata.get("parsed", False))
    for f in fields(ArticleRecord)
)
TRACKED_FIELDS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS if f.tracked)
PARSED_FIELDS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS if f.parsed)


class ParseError(Exception):
    """The input holds no article we can read; `reason` says why in words a person can act on."""

    def __init__(self, reason: str, *, source_name: str | None = None) -> None:
        self.reason = reason
        self.source_name = source_name
        super().__init__(f"{source_name}: {reason}" if source_name else reason)
