"""`kazinform reparse`: the raw pages the warehouse keeps, read again by today's parsers.

Parsers improve and sites never resend old pages. For each article whose current version matches
the filters, the raw page that version was made from (its visit's `raw_sha256` in `raw_pages`) is
parsed again; a record that differs from the stored version in any tracked field becomes a new
version whose change rows have cause `reparse` (warehouse.load, "Re-parses"). So a parser fix is
never an editorial edit: not in `articles.edits`, not in events, not in the change report.

What a run does and does not write (decisions)
- A re-parse is not a visit of the site. Only a re-parse that makes a version is written, as a
  `visits` row with outcome `reparsed` (the run id, the article's address, the raw page's sha256):
  every version has its visit, and `visits` says which run made it. Re-parsing unchanged output
  writes nothing at all (no version, no visit), so a second run after the first writes nothing.
- The revisit schedule, last_seen_at/last_visited_at/last_changed_at and the deleted flag stay.
- A page that no longer parses is counted and reported (the summary and its Prefect artifact), not
  written: the stored version stays current, and a parse failure is never taken for a deletion.
- No per-article event: a parser fix may touch every stored article, and nothing downstream should
  start for it. The run's `kazinform.run.completed` event carries its counts.
- Nothing stored is lost: the old version stays, closed (valid_to) at the re-parse.

Batches: candidates are read by key (source, article_id) a batch at a time with a short reader
connection, parsed with no connection open, compared with the fields' hashes kept in
`article_state` (pages whose output is unchanged never take the writer), and the differences are
loaded through the same writer gate and load packages as any other load (flows.pipeline). The load
compares again under the lock and applies a re-parse only to the version made from that very page,
so a visit that made a newer version meanwhile wins (`superseded`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.events import START_OF_RUN_DEADLINE_S, emit_run_completed, flush_outbox
from flows.pipeline import LoadReport, stage_and_load
from flows.reparse_cli import parse_since
from flows.run_guard import api_reachable, publish_summary, report_artifact
from flows.tasks import current_run_id, load_visits, untouched
from parsers.api import parse_bytes
from parsers.record import ArticleRecord, ParseError
from parsers.registry import get_source, registered
from warehouse.db import open_reader, writer_wait_seconds
from warehouse.raw import decode_raw
from warehouse.stage import stage_batch
from warehouse.state import known_tags
from warehouse.visit import VisitInput

# Pages per batch, as the crawl's parse tasks: a real page is 100–300 KB of HTML, so a batch holds
# ~20–60 MB of raw bytes and their records, and the writer is taken once per 200 pages.
DEFAULT_BATCH_SIZE = 200
MAX_FAILURES_SHOWN = 50
PENDING = "pending"  # flows.pipeline.PENDING: the batch waits as a load package

Logger = logging.Logger | logging.LoggerAdapter
LoadStep = Callable[[Path, str, list[VisitInput]], LoadReport]
ParseStep = Callable[[list["StoredPage"], frozenset[str]], "ParsedPages"]

# The current version of each article matching the filters, after the key ($after_source,
# $after_id), with the raw page its visit read and the field hashes kept for it. A version whose
# visit kept no raw page (a release-1 warehouse) cannot be re-parsed and is left out.
SELECT_CANDIDATES = """
SELECT v.source, v.article_id, v.version, v.url, x.path, x.raw_sha256, v.parser,
       s.current_hash, s.field_hashes, x.visited_at
FROM article_versions AS v
JOIN visits AS x ON x.visit_id = v.visit_id
JOIN article_state AS s ON s.source = v.source AND s.article_id = v.article_id
WHERE v.valid_to IS NULL AND x.raw_sha256 IS NOT NULL
  AND ($source IS NULL OR v.source = $source)
  AND ($parser IS NULL OR v.parser = $parser
       OR (NOT contains($parser, '@') AND split_part(v.parser, '@', 1) = $parser))
  AND ($since IS NULL OR v.valid_from >= $since)
  AND (v.source > $after_source OR (v.source = $after_source AND v.article_id > $after_id))
ORDER BY v.source, v.article_id
LIMIT $limit
"""
SELECT_RAW_PAGES = """
SELECT raw_sha256, encoding, data, size FROM raw_pages WHERE raw_sha256 IN (SELECT unnest($shas))
"""


@dataclass(frozen=True, slots=True)
class ReparseFilter:
    source: str | None = None
    parser_version: str | None = None  # "name@version" exactly, or "name" for the whole family
    since: datetime | None = None  # versions first seen at or after this moment

    def describe(self) -> str:
        parts = [
            f"source {self.source}" if self.source else "",
            f"parser {self.parser_version}" if self.parser_version else "",
            f"versions since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "",
        ]
        return ", ".join(p for p in parts if p) or "every article"


@dataclass(slots=True)
class StoredPage:
    """An article's current version and the raw page it was made from."""

    source: str
    article_id: str
    version: int
    url: str | None
    path: str | None
    raw_sha256: str
    parser: str | None
    current_hash: str
    field_hashes: list[int] | None
    visited_at: datetime  # when the raw page was fetched or read: "today" on the page counts from it
    raw: bytes | None = None  # read in its batch

    @property
    def locator(self) -> str:
        return self.url or self.path or f"{self.source}/{self.article_id}"


@dataclass(slots=True)
class ParsedPages:
    """One batch parsed: the visits whose output differs from the stored version, and the rest."""

    changed: list[VisitInput]
    unchanged: int
    failures: list[tuple[str, str]]  # (locator, reason)
    seconds: float


@dataclass
class ReparseSummary:
    run_id: str
    filters: str
    pages: int = 0  # stored pages read and given to the parser
    new_versions: int = 0
    unchanged: int = 0  # same fields as the stored version (nothing written)
    superseded: int = 0  # a visit made a newer version meanwhile (nothing written)
    pending: int = 0  # kept as load packages: the warehouse stayed locked
    failures: list[tuple[str, str]] = field(default_factory=list)  # (locator, reason)
    elapsed_s: float = 0.0
    title: str = "Re-parse of stored pages"

    @property
    def counts(self) -> dict[str, int]:
        """Per outcome, as the other runs' summaries count them (kazinform.run.completed)."""
        counts = {
            "reparsed": self.new_versions,
            "unchanged": self.unchanged,
            "superseded": self.superseded,
            "pending": self.pending,
            "parse_error": len(self.failures),
        }
        return {name: count for name, count in counts.items() if count}

    def _rows(self) -> list[tuple[str, int]]:
        rows = [
            ("pages re-parsed", self.pages),
            ("new versions", self.new_versions),
            ("unchanged", self.unchanged),
            ("failures", len(self.failures)),
        ]
        if self.superseded:
            rows.append(("superseded", self.superseded))
        if self.pending:
            rows.append(("pending", self.pending))
        return rows

    def to_text(self) -> str:
        lines = [f"{self.title} (run {self.run_id}; {self.filters}) in {self.elapsed_s:.1f} s"]
        lines += [f"  {name:<16} {count}" for name, count in self._rows()]
        if self.superseded:
            lines.append("  superseded: a visit made a newer version after the page was read; it was kept")
        if self.pending:
            lines.append(
                f"  kept for the next run: {self.pending} re-parses as load packages (the warehouse "
                "stayed locked); the next run that writes loads them first"
            )
        if self.failures:
            lines.append("failures (the stored version stays current):")
            lines += [f"  {loc}: {why}" for loc, why in self.failures[:MAX_FAILURES_SHOWN]]
            if len(self.failures) > MAX_FAILURES_SHOWN:
                lines.append(f"  … and {len(self.failures) - MAX_FAILURES_SHOWN} more")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        rows = "\n".join(f"| {name} | {count} |" for name, count in self._rows())
        parts = [
            f"# {self.title}",
            f"Run `{self.run_id}` ({self.filters}), {self.elapsed_s:.1f} s.",
            "| | pages |\n|---|---|\n" + rows,
        ]
        if self.failures:
            failure_rows = "\n".join(
                f"| `{loc}` | {why.replace('|', '/')} |" for loc, why in self.failures[:MAX_FAILURES_SHOWN]
            )
            parts.append("## Pages that no longer parse\n| page | reason |\n|---|---|\n" + failure_rows)
        return "\n\n".join(parts)


def read_candidates(
    warehouse_path: Path, filters: ReparseFilter, after: tuple[str, str], limit: int
) -> list[StoredPage]:
    """The next `limit` articles after the key `after`, with their raw pages."""
    params = {
        "source": filters.source,
        "parser": filters.parser_version,
        "since": filters.since,
        "after_source": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    # a run waits for another writer's batch as its own writes would (warehouse.db)
    with open_reader(warehouse_path, timeout=writer_wait_seconds()) as connection:
        pages = [StoredPage(*row) for row in connection.execute(SELECT_CANDIDATES, params).fetchall()]
        if pages:
            shas = sorted({p.raw_sha256 for p in pages})
            found = connection.execute(SELECT_RAW_PAGES, {"shas": shas}).fetchall()
            stored = {sha: (encoding, bytes(data), size) for sha, encoding, data, size in found}
    for page in pages:
        if page.raw_sha256 in stored:
            page.raw = decode_raw(*stored[page.raw_sha256])
    return pages


def reparse_pages(pages: Sequence[StoredPage], tags_seen: frozenset[str]) -> ParsedPages:
    """Parse each page with today's parsers; keep as visits those whose fields differ from the
    stored version. One page's failure, whatever it is, is that page's failure and the rest go on."""
    started = time.perf_counter()
    visits: list[VisitInput] = []
    bases: list[StoredPage] = []
    failures: list[tuple[str, str]] = []
    for page in pages:
        if page.raw is None:
            failures.append((page.locator, f"raw page {page.raw_sha256} is not in raw_pages"))
            continue
        try:
            record = parse_bytes(
                page.raw,
                locator=page.locator,
                url=page.url,
                # The article's own source reads it (its address may be a mirror's), as when stored.
                source=get_source(page.source) if page.source in registered() else None,
                known_tags=tags_seen,
                fetched_at=page.visited_at,
            )
        except ParseError as error:
            failures.append((page.locator, error.reason))
            continue
        except Exception as error:  # MemoryError, RecursionError, a parser's bug: this page alone
            failures.append((page.locator, f"{type(error).__name__}: {error}"))
            continue
        visits.append(_reparse_visit(page, record))
        bases.append(page)
    changed = _differing(visits, bases)
    return ParsedPages(changed, len(visits) - len(changed), failures, time.perf_counter() - started)


def _reparse_visit(page: StoredPage, record: ArticleRecord) -> VisitInput:
    # The article keeps its identity, whatever today's parser would call it: a re-parse improves
    # the record of an article, it never moves the page to another one.
    if (record.source, record.article_id) != (page.source, page.article_id):
        record = replace(record, source=page.source, article_id=page.article_id)
    return VisitInput(
        source=page.source,
        locator=page.locator,
        visited_at=datetime.now(UTC),
        status="reparsed",
        record=record,
        article_id=page.article_id,
        raw=page.raw,
    )


def _differing(visits: list[VisitInput], bases: list[StoredPage]) -> list[VisitInput]:
    """The visits whose record differs from the stored version in a tracked field (the same rule the
    load applies again under the lock): unchanged pages need no writer at all."""
    if not visits:
        return []
    staged = stage_batch(visits)
    hashes = staged.field_hashes(staged.light_visits.column("pos")).to_pylist()
    changed = []
    for visit, base, new in zip(visits, bases, hashes, strict=True):
        assert visit.record is not None
        if base.field_hashes is not None and visit.record.url is None:
            new = [base.field_hashes[0], *new[1:]]  # a record without an address keeps the known one
        if visit.record.content_hash != base.current_hash or new != base.field_hashes:
            changed.append(visit)
    return changed


def tags_known_to(warehouse_path: Path) -> frozenset[str]:
    """Multi-word tags seen on pages, as the ingest gives them to the parser of text copies: without
    them a text copy's tag line would split differently than when it was loaded."""
    with open_reader(warehouse_path, timeout=writer_wait_seconds()) as connection:
        return frozenset(known_tags(connection))


def reparse_stored(
    warehouse_path: Path | str,
    *,
    source: str | None = None,
    parser_version: str | None = None,
    since: datetime | str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    run_id: str | None = None,
    parse: ParseStep | None = None,
    load: LoadStep | None = None,
    logger: Logger | None = None,
) -> ReparseSummary:
    """Re-parse the stored page of each article's current version matching the filters, batch by
    batch, and load the differences as `reparse` versions (see the module docstring).

    `parse` and `load` default to the plain functions (the load under the file lock alone); the
    flow passes its tasks, which load through the Prefect writer gate."""
    import uuid

    log = logger or logging.getLogger("kazinform.reparse")
    path = Path(warehouse_path)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    if isinstance(since, str):
        since = parse_since(since)
    filters = ReparseFilter(source, parser_version, since)
    run = run_id or str(uuid.uuid4())
    parse_step = parse or reparse_pages
    load_step = load or (lambda p, r, visits: stage_and_load(p, r, visits, log, gated=False))
    started = time.monotonic()
    summary = ReparseSummary(run_id=run, filters=filters.describe())
    tags_seen = tags_known_to(path)
    after = ("", "")
    while True:
        pages = read_candidates(path, filters, after, batch_size)
        if not pages:
            break
        after = (pages[-1].source, pages[-1].article_id)
        parsed = parse_step(pages, tags_seen)
        summary.pages += len(pages)
        summary.unchanged += parsed.unchanged
        summary.failures += parsed.failures
        del pages  # the raw bytes live on in the changed visits alone
        if parsed.changed:
            _count_loaded(summary, load_step(path, run, parsed.changed).outcomes)
        log.info(
            "re-parsed %d pages so far: %d new versions, %d unchanged, %d failures",
            summary.pages,
            summary.new_versions,
            summary.unchanged,
            len(summary.failures),
        )
    summary.elapsed_s = time.monotonic() - started
    return summary


def _count_loaded(summary: ReparseSummary, outcomes: Sequence[str]) -> None:
    for outcome in outcomes:
        if outcome == "reparsed":
            summary.new_versions += 1
        elif outcome == "unchanged":
            summary.unchanged += 1
        elif outcome == PENDING:
            summary.pending += 1
        else:  # superseded
            summary.superseded += 1


@task(name="reparse-pages", cache_policy=NO_CACHE)
def reparse_pages_task(pages: list[StoredPage], tags_seen: frozenset[str]) -> ParsedPages:
    parsed = reparse_pages(pages, tags_seen)
    get_run_logger().info("re-parsed %d pages in %.2f s", len(pages), parsed.seconds)
    return parsed


@flow(name="reparse-stored", log_prints=False)
def reparse_flow(
    warehouse_path: str,
    source: str | None = None,
    parser_version: str | None = None,
    since: str | None = None,
) -> ReparseSummary:
    """Re-parse stored pages with today's parsers (`kazinform reparse`); wiring only."""
    logger = get_run_logger()
    # what an earlier run left in the outbox (an unreachable API then) goes first
    flush_outbox(warehouse_path, deadline_s=START_OF_RUN_DEADLINE_S, logger=logger)
    summary = reparse_stored(
        warehouse_path,
        source=source,
        parser_version=parser_version,
        since=since,
        run_id=current_run_id(),
        # pages and visits pass untouched: Prefect would walk them object by object (flows.tasks)
        parse=lambda pages, tags: reparse_pages_task(untouched(pages), untouched(tags)),
        load=lambda path, run_id, visits: load_visits(path, run_id, untouched(visits)),
        logger=logger,
    )
    logger.info("%s", summary.to_text().splitlines()[0])
    publish_summary(summary)  # the data is committed: from here on, Prefect only hears about it
    markdown, title = summary.to_markdown(), summary.title
    report_artifact(lambda: create_markdown_artifact(markdown, key="reparse-summary", description=title))
    if api_reachable():  # no per-article events: the run's own event carries its counts
        flush = flush_outbox(warehouse_path, logger=logger)
        emit_run_completed(
            warehouse_path, summary.run_id, "reparse-stored", summary.counts, flush=flush, logger=logger
        )
    return summary
