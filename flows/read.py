"""Read step for files: expand paths, directories and globs into input files and read their bytes."""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

from flows.visits import failed_visit, visit_from_bytes
from parsers.limits import InputTooLargeError, read_capped
from parsers.source import Source
from warehouse.raw import raw_sha256
from warehouse.state import FileRead
from warehouse.visit import VisitInput

T = TypeVar("T")
INPUT_SUFFIXES: tuple[str, ...] = (".txt", ".html", ".htm", ".html.gz")


class ExpandedInputs(NamedTuple):
    # to read, in a stable order; path strings, not Path objects: a Path holds its parts besides its
    # string, ~3× the memory (100,000 files: 35 MB held and 130 MB at the walk's peak as Paths)
    files: list[str]
    problems: list[tuple[Path, str]]  # inputs that cannot be read, with the reason in words
    unmatched: list[str]  # glob patterns that matched nothing (a summary line, not a visit)


def has_input_name(path: Path | str) -> bool:
    name = (path.name if isinstance(path, Path) else os.path.basename(path)).lower()
    return any(name.endswith(suffix) for suffix in INPUT_SUFFIXES)


def describe_os_error(path: Path, error: OSError) -> str:
    """Why `path` cannot be used, in words ('dangling symbolic link to x', 'permission denied')."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.ENOENT and path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"dangling symbolic link (its target {target} does not exist)"
    if error.errno == errno.ENOENT:
        return "no such file or directory"
    return (error.strerror or str(error)).lower()


def _component_order(path: str) -> str:
    return path.replace(os.sep, "\0")


_LOOP_BACK = "symbolic link loop (it leads back to a directory above it)"


class _Collector:
    """Files and problems found so far; a directory is walked once however many links lead to it."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}
        self.problems: dict[Path, str] = {}
        self.walked: set[tuple[int, int]] = set()

    def add_given(self, path: Path) -> None:
        """A path named on the command line (or matched by a glob): a file is read whatever it is."""
        try:
            status = path.stat()
        except OSError as error:
            self.problems.setdefault(path, describe_os_error(path, error))
            return
        if stat.S_ISDIR(status.st_mode):
            self.walk(path, (status.st_dev, status.st_ino))
        elif not stat.S_ISREG(status.st_mode):
            self.problems.setdefault(path, "not a regular file")
        elif has_input_name(path):
            self.files.setdefault(str(path), None)
        else:
            self.problems.setdefault(path, f"not an input file (names end in {', '.join(INPUT_SUFFIXES)})")

    def walk(self, top: Path, top_id: tuple[int, int]) -> None:
        """Input files under `top`, symlinks followed; a link back to a directory above it is a loop.

        Iterative, so neither a deep tree nor a loop can exhaust the stack; every directory is
        entered once (by its device and inode), so no loop of links is followed forever.
        """
        if top_id in self.walked:
            return
        self.walked.add(top_id)
        found: list[str] = []
        pending: list[tuple[Path, frozenset[tuple[int, int]]]] = [(top, frozenset({top_id}))]
        while pending:
            directory, ancestors = pending.pop()
            # Files are kept as path strings as they come; the rest (directories, problems: few)
            # is handled in name order, as a sorted listing would. No list of 100,000 DirEntry
            # objects with their stat results is held.
            others: list[tuple[str, str, os.stat_result | OSError]] = []
            try:
                with os.scandir(directory) as listing:
                    for entry in listing:
                        try:
                            status: os.stat_result | OSError = entry.stat()  # follows symlinks
                        except OSError as error:
                            # A broken link could have been an input or a directory of inputs.
                            if entry.is_symlink() or has_input_name(entry.name):
                                others.append((entry.name, entry.path, error))
                            continue
                        if has_input_name(entry.name) and stat.S_ISREG(status.st_mode):
                            found.append(entry.path)
                        elif stat.S_ISDIR(status.st_mode) or has_input_name(entry.name):
                            others.append((entry.name, entry.path, status))
            except OSError as error:
                self.problems.setdefault(
                    directory, f"cannot list directory: {describe_os_error(directory, error)}"
                )
                continue
            for _, entry_path, status in sorted(others, key=lambda other: other[0]):
                path = Path(entry_path)
                if isinstance(status, OSError):
                    self.problems.setdefault(path, describe_os_error(path, status))
                elif not stat.S_ISDIR(status.st_mode):
                    self.problems.setdefault(path, "not a regular file")
                elif (key := (status.st_dev, status.st_ino)) in ancestors:
                    self.problems.setdefault(path, _LOOP_BACK)
                elif key not in self.walked:
                    self.walked.add(key)
                    pending.append((path, ancestors | {key}))
        # the order of Path objects (component by component): a separator sorts before any character
        for path in sorted(found, key=_component_order):
            self.files.setdefault(path, None)


def expand_inputs(patterns: Iterable[str]) -> ExpandedInputs:
    """Files to read, inputs that cannot be read (each becomes a `failed` visit), and glob patterns
    that matched nothing."""
    collector = _Collector()
    unmatched: list[str] = []
    for pattern in patterns:
        if not glob.has_magic(pattern):
            collector.add_given(Path(pattern))
            continue
        # What a glob matches beside inputs (notes, images) is skipped as in a directory.
        matches = [Path(match) for match in sorted(glob.glob(pattern, recursive=True))]
        matches = [path for path in matches if path.is_dir() or has_input_name(path) or path.is_symlink()]
        for path in matches:
            collector.add_given(path)
        if not matches:
            unmatched.append(pattern)
    return ExpandedInputs(list(collector.files), list(collector.problems.items()), unmatched)


def unreadable_visits(problems: list[tuple[Path, str]], source: Source | None = None) -> list[VisitInput]:
    """One `failed` visit per input that could not be read, located by its path."""
    return [failed_visit(str(path), datetime.now(UTC), reason, source) for path, reason in problems]


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def read_visits(
    paths: list[Path],
    known_tags: Collection[str] = (),
    source: Source | None = None,
    read_before: Mapping[str, FileRead] | None = None,
) -> list[VisitInput]:
    """Read and parse each file; a file that cannot be read or parsed becomes a visit with the reason.
    The source is `source` when given, else the one the page's address or text format says.

    `read_before` (warehouse.state.last_file_reads): a file whose bytes hash as its path's last
    read did is not parsed again but is a `not_modified` visit of that article, its bytes kept as
    read (so the visit has their sha256; the load finds them stored). A parser fix reaches such
    files through `kazinform reparse`, as it reaches pages the sites no longer send."""
    visits: list[VisitInput] = []
    for path in paths:
        locator = str(path)
        visited_at = datetime.now(UTC)
        try:
            raw = read_capped(path)  # a file over the size cap is refused unread
        except InputTooLargeError as error:
            visits.append(failed_visit(locator, visited_at, str(error), source))
            continue
        except OSError as error:
            reason = f"cannot read file: {describe_os_error(path, error)}"
            visits.append(failed_visit(locator, visited_at, reason, source))
            continue
        before = read_before.get(locator) if read_before else None
        sha = _sha_if_unchanged(raw, before, source) if before is not None else None
        if before is not None and sha is not None:
            visits.append(
                VisitInput(
                    before.source, locator, visited_at, "not_modified",
                    article_id=before.article_id, raw=raw, raw_sha256=sha,
                )
            )  # fmt: skip
            continue
        visits.append(
            visit_from_bytes(
                raw, locator=locator, url=None, visited_at=visited_at, source=source, known_tags=known_tags
            )
        )
    return visits


def _sha_if_unchanged(raw: bytes, before: FileRead, source: Source | None) -> str | None:
    """The sha256 of `raw` when it is that of the path's last read, read for the same source
    (`--source` may name another); None when the file changed. Staging reuses it."""
    if source is not None and source.name != before.source:
        return None
    sha = raw_sha256(raw)
    return sha if sha == before.raw_sha256 else None
