"""Read step for files: expand paths, directories and globs into input files and read their bytes."""

from __future__ import annotations

import glob
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from parsers.api import parse_bytes
from parsers.record import ParseError
from warehouse.visit import VisitInput

T = TypeVar("T")
INPUT_SUFFIXES: tuple[str, ...] = (".txt", ".html", ".htm", ".html.gz")


def is_input_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and any(name.endswith(suffix) for suffix in INPUT_SUFFIXES)


def expand_inputs(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files to read, in a stable order, and the patterns that matched nothing (reported, not fatal)."""
    files: dict[Path, None] = {}
    unmatched: list[str] = []
    for pattern in patterns:
        matches = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))] or [Path(pattern)]
        found = False
        for match in matches:
            for candidate in _walk(match):
                files.setdefault(candidate, None)
                found = True
        if not found:
            unmatched.append(pattern)
    return list(files), unmatched


def _walk(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from (p for p in sorted(path.rglob("*")) if is_input_file(p))
    elif is_input_file(path):
        yield path


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def read_visits(
    paths: list[Path], known_tags: Collection[str] = (), source: str = "kazinform"
) -> list[VisitInput]:
    """Read and parse each file; a file that cannot be read or parsed becomes a visit with the reason."""
    visits: list[VisitInput] = []
    for path in paths:
        locator = str(path)
        visited_at = datetime.now(UTC)
        try:
            raw = path.read_bytes()
        except OSError as error:
            visits.append(VisitInput(source, locator, visited_at, "failed", error=f"cannot read: {error}"))
            continue
        try:
            record = parse_bytes(raw, locator=locator, source=source, known_tags=known_tags)
        except ParseError as error:
            visits.append(VisitInput(source, locator, visited_at, "parse_error", raw=raw, error=error.reason))
            continue
        visits.append(
            VisitInput(
                record.source,
                locator,
                visited_at,
                "parsed",
                record=record,
                article_id=record.article_id,
                raw=raw,
            )
        )
    return visits
