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


def ld_image(value: Any) -> tuple[str | None, str | None, str | None]:
    """JSON-LD `image` (an address, an ImageObject or a list of either) → (url, caption, credit)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return (value if value.startswith(("http://", "https://", "/")) else None), None, None
    if not isinstance(value, dict):
        return None, None, None
    url = ld_text(value.get("url") or value.get("contentUrl"))
    credit = ld_text(value.get("creditText")) or ld_names(value.get("copyrightHolder") or value.get("author"))
    return url, ld_text(value.get("caption") or value.get("description")), credit


def ld_names(value: Any) -> str | None:
    """The first name in a JSON-LD person/organisation value (a string, an object or a list)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and normalize_text(item):
            return normalize_text(item)
        if isinstance(item, dict) and isinstance(item.get("name"), str) and normalize_text(item["name"]):
            return normalize_text(item["name"])
    return None


def ld_organisation_names(value: Any) -> list[str]:
    """Names of the organisations in a JSON-LD `author`/`publisher` value: bylines to leave out."""
    items = value if isinstance(value, list) else [value]
    return [
        normalize_text(str(item["name"]))
        for item in items
        if isinstance(item, dict) and "Organization" in str(item.get("@type", "")) and item.get("name")
    ]


def strip_site_name(title: str | None, site_name: str | None) -> str | None:
    """'Title | Site', 'Title - Site', 'Site — Title' → 'Title', when `site_name` is what it names."""
    if not title:
        return None
    if site_name:
        escaped = re.escape(normalize_text(site_name))
        separators = r"\s+[|\-–—:·•]\s+"
        stripped = re.sub(rf"(?:{separators}){escaped}\s*$", "", title, flags=re.IGNORECASE)
        stripped = re.sub(rf"^{escaped}(?:{separators})", "", stripped, flags=re.IGNORECASE)
        if stripped.strip():
            return stripped.strip()
    return strip_site_suffix(title)


def language_code(value: str | None) -> str | None:
    """Any declared language ('en-US', 'ru_RU', 'kk', 'kz') → its ISO 639-1 code; None if unreadable."""
    if not value:
        return None
    code = normalize_text(value).lower().replace("_", "-").split("-")[0]
    if code in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[code]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


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
