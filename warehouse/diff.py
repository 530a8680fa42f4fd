"""What changed between two versions of an article: reading them, a word-level diff, and its renderings.

Used by the change report (flows/change_report.py); holds no Prefect. A report page is "the change
v<old>→v<new> has been reported": its file exists under the warehouse's report directory
(`change_reports_dir`), so whatever else wants the pages (a status command, a web server) finds
them from the warehouse path alone.

Bounds: each text is cut to MAX_FIELD_CHARS when read (so two huge bodies never sit in memory
whole) and to MAX_DIFF_TOKENS words before difflib compares it (its matching is quadratic in the
worst case); a cut is said in both renderings. Unchanged stretches are trimmed to CONTEXT_WORDS
words on each side of a change.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb

# Characters of one text field read from a version. Real bodies are 2–20 KB; this bounds a
# hostile or broken one (the stored body of a 10 MB page) without touching real articles.
MAX_FIELD_CHARS = 200_000
# Words per text compared by difflib (real bodies: a few hundred to 3,000). Its worst case is many
# small edits: every 10th word of a 10,000-word text edited took 15.7 s, cut to 4,000 words 1.1 s
# (2 cores, autojunk off); two unrelated 10,000-word texts 0.1–1.6 s.
MAX_DIFF_TOKENS = 4_000
# Unchanged words kept on each side of a change in the renderings.
CONTEXT_WORDS = 12
# The markdown of one change is cut past this (the HTML page has it whole): 200 changes in one
# artifact stay under ~1 MB.
MAX_MARKDOWN_CHARS_PER_CHANGE = 5_000
# Where report pages go, beside the warehouse file: <folder>/<stem>.reports/<source>/<article_id>/.
REPORTS_SUFFIX = ".reports"
# Stands between two paragraphs in a token list; rendered as a pilcrow in markdown, a break in HTML.
PARAGRAPH = "\n\n"
TEXT_FIELDS = ("title", "lead", "body")

Op = Literal["equal", "insert", "delete"]

SELECT_VERSION = f"""
SELECT url, language, left(title, {MAX_FIELD_CHARS}), left(lead, {MAX_FIELD_CHARS}),
       left(body, {MAX_FIELD_CHARS}), length(title), length(lead), length(body),
       tags, authors, valid_from
FROM article_versions
WHERE source = $source AND article_id = $article_id AND version = $version
"""
SELECT_CHANGED_FIELDS = """
SELECT field, flipflop FROM article_field_changes
WHERE source = $source AND article_id = $article_id AND version = $version AND field <> 'deleted'
ORDER BY field
"""
# Every editorial change an article went through: version n (> 1) replaced version n - 1. Newest
# first. A version a re-parse made (`kazinform reparse`: a parser fix, not an edit) is no change to report.
SELECT_CHANGES_NEWEST_FIRST = """
SELECT v.source, v.article_id, v.version FROM article_versions AS v
WHERE v.version > 1 AND NOT EXISTS (
    SELECT 1 FROM article_field_changes AS c
    WHERE c.source = v.source AND c.article_id = v.article_id AND c.version = v.version
      AND c.cause = 'reparse'
)
ORDER BY v.valid_from DESC, v.source, v.article_id, v.version DESC
"""


@dataclass(frozen=True, slots=True)
class ChangeRef:
    """One change: `new_version` replaced `new_version - 1` of an article."""

    source: str
    article_id: str
    new_version: int

    @property
    def old_version(self) -> int:
        return self.new_version - 1

    def label(self) -> str:
        return f"{self.source} {self.article_id} v{self.old_version}→v{self.new_version}"


@dataclass(frozen=True, slots=True)
class DiffRun:
    op: Op
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TextDiff:
    """Word-level diff of one text field; `cut` says the compared text was shortened."""

    field: str
    runs: tuple[DiffRun, ...]
    old_words: int
    new_words: int
    cut: bool

    @property
    def changed(self) -> bool:
        return any(run.op != "equal" for run in self.runs)

    def words(self, op: Op) -> list[str]:
        """The words of every run of one kind, in order (paragraph marks left out)."""
        return [t for run in self.runs if run.op == op for t in run.tokens if t != PARAGRAPH]


@dataclass(frozen=True, slots=True)
class ListDiff:
    field: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


@dataclass(frozen=True, slots=True)
class ArticleDiff:
    change: ChangeRef
    language: str | None
    title: str | None  # of the new version
    old_url: str | None
    new_url: str | None
    changed_at: datetime
    changed_fields: tuple[str, ...]  # as recorded by the load
    flipflop_fields: tuple[str, ...]  # of those, the ones that only went back to an earlier value
    texts: tuple[TextDiff, ...]  # title, lead, body
    lists: tuple[ListDiff, ...]  # tags, authors

    @property
    def moved(self) -> bool:
        return self.old_url != self.new_url


# --- reading -------------------------------------------------------------------------------------


def change_reports_dir(warehouse_path: Path | str) -> Path:
    """The folder of a warehouse's change report pages: `<folder>/<stem>.reports` beside the file."""
    path = Path(warehouse_path).expanduser().resolve()
    return path.parent / f"{path.stem}{REPORTS_SUFFIX}"


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _path_component(value: str) -> str:
    """Ids are plain in practice; anything else (a slash, a dot, a space) is %-escaped, so an id can
    never climb out of its folder or collide with another id's."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value) or "%"


def report_page_path(reports_dir: Path, change: ChangeRef) -> Path:
    return (
        reports_dir
        / _path_component(change.source)
        / _path_component(change.article_id)
        / f"v{change.old_version}-v{change.new_version}.html"
    )


def is_reported(reports_dir: Path, change: ChangeRef) -> bool:
    return report_page_path(reports_dir, change).exists()


def unreported_changes(
    conn: duckdb.DuckDBPyConnection, reports_dir: Path, limit: int
) -> tuple[list[ChangeRef], int]:
    """The newest `limit` changes whose page is missing, and how many more are missing besides.

    Streams the change list (a page-exists check per change, a few µs each), so the cost grows with
    the number of versions but the memory does not.
    """
    found: list[ChangeRef] = []
    more = 0
    cursor = conn.execute(SELECT_CHANGES_NEWEST_FIRST)
    while rows := cursor.fetchmany(10_000):
        for source, article_id, version in rows:
            change = ChangeRef(source, article_id, int(version))
            if is_reported(reports_dir, change):
                continue
            if len(found) < limit:
                found.append(change)
            else:
                more += 1
    return found, more


def change_exists(conn: duckdb.DuckDBPyConnection, change: ChangeRef) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM article_versions WHERE source = $source AND article_id = $article_id "
        "AND version IN ($old, $new)",
        {
            "source": change.source,
            "article_id": change.article_id,
            "old": change.old_version,
            "new": change.new_version,
        },
    ).fetchone()
    return change.new_version > 1 and row is not None and row[0] == 2


def read_article_diff(conn: duckdb.DuckDBPyConnection, change: ChangeRef) -> ArticleDiff | None:
    """The diff of one change read from the warehouse; None when either version is missing."""
    params = {"source": change.source, "article_id": change.article_id}
    old = conn.execute(SELECT_VERSION, {**params, "version": change.old_version}).fetchone()
    new = conn.execute(SELECT_VERSION, {**params, "version": change.new_version}).fetchone()
    if old is None or new is None:
        return None
    fields = conn.execute(SELECT_CHANGED_FIELDS, {**params, "version": change.new_version}).fetchall()
    texts = tuple(
        word_diff(
            name,
            old[2 + i],
            new[2 + i],
            cut_on_read=(old[5 + i] or 0) > MAX_FIELD_CHARS or (new[5 + i] or 0) > MAX_FIELD_CHARS,
        )
        for i, name in enumerate(TEXT_FIELDS)
    )
    return ArticleDiff(
        change=change,
        language=new[1],
        title=new[2],
        old_url=old[0],
        new_url=new[0],
        changed_at=new[10],
        changed_fields=tuple(name for name, _ in fields),
        flipflop_fields=tuple(name for name, flipflop in fields if flipflop),
        texts=texts,
        lists=(list_diff("tags", old[8], new[8]), list_diff("authors", old[9], new[9])),
    )


# --- diffing -------------------------------------------------------------------------------------


def tokenize(text: str | None) -> list[str]:
    """Words (runs of non-space) with a PARAGRAPH mark between paragraphs."""
    tokens: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text or ""):
        words = paragraph.split()
        if not words:
            continue
        if tokens:
            tokens.append(PARAGRAPH)
        tokens.extend(words)
    return tokens


def word_diff(field: str, old: str | None, new: str | None, *, cut_on_read: bool = False) -> TextDiff:
    old_tokens, new_tokens = tokenize(old), tokenize(new)
    cut = cut_on_read or len(old_tokens) > MAX_DIFF_TOKENS or len(new_tokens) > MAX_DIFF_TOKENS
    a, b = old_tokens[:MAX_DIFF_TOKENS], new_tokens[:MAX_DIFF_TOKENS]
    runs: list[DiffRun] = []
    # autojunk off: in a long body common words ("и", "the") would otherwise be ignored as junk
    # and the diff would mark whole sentences as replaced.
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(DiffRun("equal", tuple(a[i1:i2])))
            continue
        if i2 > i1:
            runs.append(DiffRun("delete", tuple(a[i1:i2])))
        if j2 > j1:
            runs.append(DiffRun("insert", tuple(b[j1:j2])))
    return TextDiff(field, tuple(runs), len(old_tokens), len(new_tokens), cut)


def list_diff(field: str, old: list[str] | None, new: list[str] | None) -> ListDiff:
    old_items, new_items = list(old or []), list(new or [])
    return ListDiff(
        field,
        added=tuple(item for item in new_items if item not in old_items),
        removed=tuple(item for item in old_items if item not in new_items),
    )


def trimmed_runs(diff: TextDiff, context: int = CONTEXT_WORDS) -> Iterator[DiffRun | None]:
    """The runs with long unchanged stretches cut to `context` words around each change; None
    stands where words were left out."""
    runs = diff.runs
    for index, run in enumerate(runs):
        if run.op != "equal":
            yield run
            continue
        first, last = index == 0, index == len(runs) - 1
        keep_head = 0 if first else context
        keep_tail = 0 if last else context
        if len(run.tokens) <= keep_head + keep_tail:
            yield run
            continue
        if keep_head:
            yield DiffRun("equal", run.tokens[:keep_head])
        yield None
        if keep_tail:
            yield DiffRun("equal", run.tokens[-keep_tail:])


# --- rendering: markdown -------------------------------------------------------------------------

# Inline text inside a list item: only these can start markup there (`<` and `&` become entities).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~|])")


def _md_text(tokens: tuple[str, ...]) -> str:
    """Article words as literal markdown text: markup characters escaped, HTML made inert."""
    words = " ".join("¶" if t == PARAGRAPH else t for t in tokens)
    words = words.replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", words)


def _md_runs(diff: TextDiff) -> str:
    parts: list[str] = []
    for run in trimmed_runs(diff):
        if run is None:
            parts.append("…")
        elif run.op == "equal":
            parts.append(_md_text(run.tokens))
        elif run.op == "delete":
            parts.append(f"~~{_md_text(run.tokens)}~~")
        else:
            parts.append(f"**{_md_text(run.tokens)}**")
    return " ".join(parts)


def _cut_note(diff: TextDiff) -> str:
    return (
        f" (long text: compared its first {MAX_DIFF_TOKENS:,} words of {diff.old_words:,} → "
        f"{diff.new_words:,})"
        if diff.cut
        else ""
    )


def render_markdown(diff: ArticleDiff, page: Path | None = None, level: int = 3) -> str:
    """One change as markdown: `~~deleted~~` and `**inserted**` words, lists and URL moves."""
    change = diff.change
    hashes = "#" * level
    lines = [
        f"{hashes} {_md_text((change.source, change.article_id))}: v{change.old_version} → "
        f"v{change.new_version} — {_md_text(tuple((diff.title or '').split()))}",
        "",
        f"Changed {diff.changed_at:%Y-%m-%d %H:%M:%S} UTC; fields: "
        f"{', '.join(diff.changed_fields) or '—'}"
        + (
            f" (flip-flop, back to an earlier value: {', '.join(diff.flipflop_fields)})"
            if diff.flipflop_fields
            else ""
        ),
    ]
    if page is not None:
        lines.append(f"Page: `{page}`")
    lines.append("")
    if diff.moved:
        lines += [f"- **moved**: `{diff.old_url}` → `{diff.new_url}`"]
    for item in diff.lists:
        if item.changed:
            added = ", ".join(f"**{_md_text((t,))}**" for t in item.added) or "—"
            removed = ", ".join(f"~~{_md_text((t,))}~~" for t in item.removed) or "—"
            lines.append(f"- **{item.field}**: added {added}; removed {removed}")
    for text in diff.texts:
        if text.changed:
            lines.append(f"- **{text.field}**{_cut_note(text)}: {_md_runs(text)}")
    if not any(t.changed for t in diff.texts) and not any(i.changed for i in diff.lists) and not diff.moved:
        lines.append("- no change in title, lead, body, tags, authors or URL (other fields only)")
    markdown = "\n".join(lines) + "\n"
    if len(markdown) > MAX_MARKDOWN_CHARS_PER_CHANGE:
        markdown = (
            markdown[:MAX_MARKDOWN_CHARS_PER_CHANGE].rstrip("\\")
            + "…\n\n*(cut here; the page has the whole diff)*\n"
        )
    return markdown


# --- rendering: HTML -----------------------------------------------------------------------------

_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
body { color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
del { background: #fdd; color: #900; text-decoration: line-through; }
ins { background: #dfd; color: #060; text-decoration: none; font-weight: 600; }
.gap { color: #888; } .meta { color: #555; font-size: 0.9rem; } .note { color: #a60; }
code { background: #f4f4f4; padding: 0 0.2em; word-break: break-all; }
"""


# Nothing but the inline style may load or run, whatever an article's text holds.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _html_tokens(tokens: tuple[str, ...]) -> str:
    return " ".join("<br><br>" if t == PARAGRAPH else html.escape(t) for t in tokens)


def _html_runs(diff: TextDiff) -> str:
    parts: list[str] = []
    for run in trimmed_runs(diff):
        if run is None:
            parts.append('<span class="gap">…</span>')
        elif run.op == "equal":
            parts.append(_html_tokens(run.tokens))
        elif run.op == "delete":
            parts.append(f"<del>{_html_tokens(run.tokens)}</del>")
        else:
            parts.append(f"<ins>{_html_tokens(run.tokens)}</ins>")
    return " ".join(parts)


def render_html(diff: ArticleDiff) -> str:
    """One self-contained page (inline CSS, no scripts or external resources, all text escaped)."""
    change = diff.change
    esc = html.escape
    title = f"{change.source} {change.article_id} v{change.old_version} → v{change.new_version}"
    body: list[str] = [
        f"<h1>{esc(diff.title or change.article_id)}</h1>",
        f'<p class="meta">{esc(title)} · changed {diff.changed_at:%Y-%m-%d %H:%M:%S} UTC · '
        f"fields: {esc(', '.join(diff.changed_fields) or '—')}"
        + (f" · flip-flop: {esc(', '.join(diff.flipflop_fields))}" if diff.flipflop_fields else "")
        + "</p>",
    ]
    if diff.moved:
        body.append(
            f"<h2>Moved</h2><p><del>{esc(diff.old_url or '—')}</del><br>"
            f"<ins>{esc(diff.new_url or '—')}</ins></p>"
        )
    for item in diff.lists:
        if item.changed:
            added = ", ".join(f"<ins>{esc(t)}</ins>" for t in item.added) or "—"
            removed = ", ".join(f"<del>{esc(t)}</del>" for t in item.removed) or "—"
            body.append(f"<h2>{esc(item.field)}</h2><p>added: {added}<br>removed: {removed}</p>")
    for text in diff.texts:
        if text.changed:
            note = f'<p class="note">{esc(_cut_note(text).strip(" ()"))}</p>' if text.cut else ""
            body.append(f"<h2>{esc(text.field)}</h2>{note}<p>{_html_runs(text)}</p>")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_page(path: Path, text: str) -> None:
    """Write a page whole or not at all: a temporary file in the same folder, then a rename, so a
    page that exists (the "reported" mark) is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
