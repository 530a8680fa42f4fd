"""Raw bytes → text, and whether that text is an HTML page or a text copy.

Order: gzip magic → decompress; a BOM decides; else a charset declared in the first 2 KB
(`<meta charset>`, `http-equiv` content-type, `<?xml encoding>`) decides; else UTF-8. Bytes that do
not decode under the chosen charset are an error, never silently replaced: the raw input is kept
by the warehouse and can be re-parsed when we know better.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from typing import Literal

from parsers.limits import MAX_INPUT_BYTES
from parsers.record import ParseError

InputKind = Literal["html", "text"]

_GZIP_MAGIC = b"\x1f\x8b"
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""",
    re.IGNORECASE,
)
_HTML_START = re.compile(r"^\s*(?:<!doctype|<html|<head|<body|<\?xml|<!--|<meta|<div|<article)", re.I)
_HTML_ANYWHERE = re.compile(r"<(?:html|body|article|div|p)[\s>]", re.IGNORECASE)
_SNIFF_BYTES = 2048
# Text has tabs/newlines but hardly any other control bytes; binary files are full of them.
_CONTROL_BYTES = bytes(range(0, 9)) + bytes(range(14, 32))


def _decompress(raw: bytes, locator: str) -> bytes:
    """Unpack gzip data (every member) as a stream that stops one byte past MAX_INPUT_BYTES.

    GzipFile.read(n) inflates in bounded steps, so a bomb (1 GB from 5 MB) costs at most the cap in
    memory and the time to inflate the cap, never its whole unpacked size.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            unpacked = stream.read(MAX_INPUT_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise ParseError(f"corrupt or truncated gzip data ({error})", source_name=locator) from None
    if len(unpacked) > MAX_INPUT_BYTES:
        raise ParseError(f"gzip data unpacks to more than {MAX_INPUT_BYTES:,} bytes", source_name=locator)
    return unpacked


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(head.count(bytes([byte])) for byte in _CONTROL_BYTES)
    return controls > len(head) // 20


def declared_charset(raw: bytes) -> str | None:
    """The charset the document declares in its first bytes, as a Python codec name."""
    match = _DECLARED_CHARSET.search(raw[:_SNIFF_BYTES])
    if not match:
        return None
    name = (match.group(1) or match.group(2)).decode("ascii", "ignore").lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_input(raw: bytes, locator: str) -> tuple[str, InputKind]:
    """Bytes → (text, 'html' | 'text'); ParseError for empty, oversized, binary or undecodable input."""
    if len(raw) > MAX_INPUT_BYTES:
        raise ParseError(
            f"input is {len(raw):,} bytes, more than the {MAX_INPUT_BYTES:,}-byte limit", source_name=locator
        )
    if raw.startswith(_GZIP_MAGIC):
        raw = _decompress(raw, locator)
    if not raw.strip():
        raise ParseError("empty input (no bytes or only whitespace)", source_name=locator)
    charset = next((name for bom, name in _BOMS if raw.startswith(bom)), None)
    if charset:
        raw = raw[len(next(bom for bom, name in _BOMS if name == charset)) :]
    elif _is_binary(raw[:_SNIFF_BYTES]):
        raise ParseError("binary input: neither an HTML page nor a text copy", source_name=locator)
    charset = charset or declared_charset(raw) or "utf-8"
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError as error:
        raise ParseError(
            f"cannot decode as {charset} (bad byte at offset {error.start})", source_name=locator
        ) from None
    if not text.strip():
        raise ParseError("empty input (only whitespace after decoding)", source_name=locator)
    head = text[:_SNIFF_BYTES]
    kind: InputKind = "html" if _HTML_START.match(head) or _HTML_ANYWHERE.search(head) else "text"
    return text, kind
