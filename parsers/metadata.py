"""Reading JSON-LD and Open Graph values, whose shapes vary from page to page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from parsers.record import normalize_text

_SITE_SUFFIX = re.compile(r"\s+\|\s+[^|]*$")
_EDITION_HOSTS = {"en": "en", "cn": "zh", "kz": "kk", "ru": "ru", "qz": "kk"}
_LANGUAGE_CODES = {"ru": "ru", "kz": "kk", "kk": "kk", "en": "en", "zh": "zh", "cn": "zh"}


def ld_text(value: Any) -> str | None:
    """A JSON-LD value that should be text: strings as they are, the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    return normalize_text(value) or None if isinstance(value, str) else None


def ld_authors(value: Any) -> list[str]:
    """Person names from JSON-LD `author` (a string, an object or a list of either); organisations skipped."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and item.get("@type", "Person") == "Person" and item.get("name"):
            names.append(str(item["name"]))
    return [normalize_text(n) for n in names if normalize_text(n)]


def ld_keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        return [normalize_text(k) for k in value.split(",") if normalize_text(k)]
    if isinstance(value, list):
        return [normalize_text(str(k)) for k in value if normalize_text(str(k))]
    return []


def strip_site_suffix(title: str | None) -> str | None:
    """'Title | Kazinform' → 'Title' (the part after the last ' | ' names the site)."""
    if not title:
        return None
    return _SITE_SUFFIX.sub("", title).strip() or title


def edition_language(value: str | None) -> str | None:
    """Language from an edition address (`/kz/…` → kk, en.inform.kz → en, cn. → zh) or a lang code."""
    if not value:
        return None
    if "://" not in value:
        return _LANGUAGE_CODES.get(value.lower().replace("_", "-").split("-")[0])
    parts = urlsplit(value)
    subdomain = parts.hostname.split(".")[0] if parts.hostname else ""
    if subdomain in _EDITION_HOSTS:
        return _EDITION_HOSTS[subdomain]
    first_segment = parts.path.strip("/").split("/")[0]
    return _LANGUAGE_CODES.get(first_segment)
