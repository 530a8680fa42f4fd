"""Stable article identity: the id in the address, never the address itself."""

from __future__ import annotations

import re
from pathlib import PurePath
from urllib.parse import urlsplit

# New layout: the slug ends in "-<hex id>" (6+ lowercase hex digits); old layout: "_a<digits>".
_NEW_ID = re.compile(r"-([0-9a-f]{6,16})/?$")
_OLD_ID = re.compile(r"_(a\d+)/?$")


def article_id_from_url(url: str) -> str | None:
    """'…/ru/ii-povisit-…-8221b43c' → '8221b43c'; '…/ru/vengry-…_a2430500' → 'a2430500'; else None."""
    path = urlsplit(url).path
    for pattern in (_NEW_ID, _OLD_ID):
        match = pattern.search(path)
        if match:
            return match.group(1)
    return None


def article_id_from_path(path: str) -> str:
    """A text copy with no URL is identified by its file name's stem (edits saved under it are versions)."""
    name = PurePath(path).name
    for suffix in (".gz", ".html", ".htm", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name
