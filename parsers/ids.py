"""Article identity of a file read without an address: its name. (Addresses are keyed by their
source: parsers.source.Source.article_id.)"""

from __future__ import annotations

from pathlib import PurePath


def article_id_from_path(path: str) -> str:
    """A text copy with no URL is identified by its file name's stem (edits saved under it are versions)."""
    name = PurePath(path).name
    for suffix in (".gz", ".html", ".htm", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name
