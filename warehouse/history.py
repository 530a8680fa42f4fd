"""One article's versions and field changes, as data and as text for `kazinform history ARTICLE_ID`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from parsers.record import TRACKED_FIELDS

SELECT_SOURCES = "SELECT DISTINCT source FROM article_versions WHERE article_id = $article_id ORDER BY source"
SELECT_VERSIONS = """
SELECT version, valid_from, valid_to, visit_id, url, title, content_hash
FROM article_versions
WHERE source = $source AND article_id = $article_id
ORDER BY version
"""
SELECT_CHANGES = """
SELECT version, field, old_value, new_value, changed_at, flipflop, {cause}
FROM article_changes
WHERE source = $source AND article_id = $article_id
ORDER BY version, changed_at
"""
# A warehouse no writer has opened since migration 008 has only edits.
HAS_CAUSE = """
SELECT count(*) FROM duckdb_columns() WHERE table_name = 'article_changes' AND column_name = 'cause'
"""
SELECT_STATE = """
SELECT url, deleted, first_seen_at, last_visited_at, next_visit_at
FROM article_state WHERE source = $source AND article_id = $article_id
"""

_FIELD_ORDER = {name: i for i, name in enumerate((*TRACKED_FIELDS, "deleted"))}
_SHORT = 160  # values longer than this are cut (or diffed, for text with paragraphs)
_DIFF_LINES = 20


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old_value: str | None
    new_value: str | None
    changed_at: datetime
    flipflop: bool
    cause: str = "edit"  # `edit` (a visit found it) or `reparse` (today's parser read the page again)


@dataclass(slots=True)
class VersionEntry:
    version: int
    valid_from: datetime
    valid_to: datetime | None
    visit_id: int
    url: str | None
    title: str | None
    content_hash: str
    changes: list[FieldChange] = field(default_factory=list)  # changes that led to this version

    @property
    def reparsed(self) -> bool:
        """Made by a re-parse of the stored page (kazinform reparse), not by an edit of the page."""
        return bool(self.changes) and all(c.cause == "reparse" for c in self.changes)


@dataclass(slots=True)
class ArticleHistory:
    source: str
    article_id: str
    url: str | None
    deleted: bool
    first_seen_at: datetime | None
    last_visited_at: datetime | None
    next_visit_at: datetime | None
    versions: list[VersionEntry]


def article_history(
    conn: duckdb.DuckDBPyConnection, article_id: str, source: str | None = None
) -> ArticleHistory | None:
    """Every version of one article with its change rows; None when the warehouse has no such article.

    Without `source`, the article id must belong to exactly one source (ValueError otherwise).
    """
    if source is None:
        sources = [row[0] for row in conn.execute(SELECT_SOURCES, {"article_id": article_id}).fetchall()]
        if not sources:
            return None
        if len(sources) > 1:
            raise ValueError(
                f"article {article_id} exists in several sources ({', '.join(sources)}); name one"
            )
        source = sources[0]
    params = {"source": source, "article_id": article_id}
    versions = [VersionEntry(*row) for row in conn.execute(SELECT_VERSIONS, params).fetchall()]
    if not versions:
        return None
    by_number = {v.version: v for v in versions}
    (has_cause,) = conn.execute(HAS_CAUSE).fetchone() or (0,)
    select_changes = SELECT_CHANGES.format(cause="cause" if has_cause else "'edit'")
    changes = conn.execute(select_changes, params).fetchall()
    for version, name, old, new, changed_at, flipflop, cause in changes:
        by_number[version].changes.append(FieldChange(name, old, new, changed_at, bool(flipflop), cause))
    for entry in versions:
        entry.changes.sort(key=lambda c: (c.changed_at, _FIELD_ORDER.get(c.field, len(_FIELD_ORDER))))
    state = conn.execute(SELECT_STATE, params).fetchone() or (versions[-1].url, False, None, None, None)
    url, deleted, first_seen_at, last_visited_at, next_visit_at = state
    return ArticleHistory(
        source, article_id, url, bool(deleted), first_seen_at, last_visited_at, next_visit_at, versions
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _short(value: str | None) -> str:
    if value is None:
        return "∅"
    flat = value.replace("\n", " ⏎ ")
    return repr(flat) if len(flat) <= _SHORT else repr(flat[:_SHORT]) + f"… ({len(value)} chars)"


def _diff(old: str | None, new: str | None) -> list[str]:
    lines = list(
        difflib.unified_diff(
            (old or "").split("\n\n"), (new or "").split("\n\n"), "before", "after", n=1, lineterm=""
        )
    )
    shown = [line if len(line) <= _SHORT else line[:_SHORT] + "…" for line in lines[2:]]
    if len(shown) > _DIFF_LINES:
        shown = shown[:_DIFF_LINES] + [f"… {len(shown) - _DIFF_LINES} more diff lines"]
    return shown


def _change_lines(change: FieldChange) -> list[str]:
    mark = "  [flip-flop]" if change.flipflop else ""
    mark += "  [re-parse]" if change.cause == "reparse" else ""
    long_text = any(v and (len(v) > _SHORT or "\n\n" in v) for v in (change.old_value, change.new_value))
    if not long_text:
        return [f"    {change.field}: {_short(change.old_value)} → {_short(change.new_value)}{mark}"]
    return [f"    {change.field}:{mark}"] + [
        f"      {line}" for line in _diff(change.old_value, change.new_value)
    ]


def render_history(history: ArticleHistory) -> str:
    """Readable text: a header, then each version with its period and the field changes behind it."""
    current = history.versions[-1]
    lines = [
        f"{history.source} {history.article_id}: {len(history.versions)} version(s)"
        + (" — DELETED" if history.deleted else ""),
        f"  url: {history.url or '—'}",
        f"  first seen {_when(history.first_seen_at)}, last visited {_when(history.last_visited_at)}, "
        f"next visit {_when(history.next_visit_at)}",
        f"  title: {current.title}",
        "",
    ]
    for entry in history.versions:
        until = _when(entry.valid_to) if entry.valid_to else "current"
        made_by = f"visit {entry.visit_id}" + (", re-parse of the stored page" if entry.reparsed else "")
        lines.append(f"v{entry.version}  {_when(entry.valid_from)} → {until}  ({made_by})")
        for change in entry.changes:
            lines.extend(_change_lines(change))
    return "\n".join(lines) + "\n"
