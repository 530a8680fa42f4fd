"""Gather parsed visits into load batches: few, large transactions instead of one per parse batch,
capped by the memory the gathered visits hold.

Every load has a fixed cost of its own (a writer connection, a transaction with its checkpoint, and
a pass over `article_state`, ~0.3 s at 100,000 known articles), so loads wait until a batch is worth
it. What they wait with is memory: parsed visits held in Python (raw bytes, the record's texts as
str, block objects), and then their staged Arrow copy and the database's working set during the
load. So a load is ready at `MAX_HELD_BYTES_PER_LOAD` of estimated held memory (`held_bytes`), or at
`MAX_VISITS_PER_LOAD` visits, or `MAX_RAW_BYTES_PER_LOAD` raw bytes, whichever comes first. Parsing
stays in small batches (progress, memory per task). The crawl flow sets smaller bounds
(flows.crawl): its loads also publish progress.
"""

from __future__ import annotations

from collections.abc import Iterator

from warehouse.visit import VisitInput

MAX_VISITS_PER_LOAD = 100_000
MAX_RAW_BYTES_PER_LOAD = 512 * 1024 * 1024
# Estimated memory held by the gathered visits (see `held_bytes`). Measured with benchmarks/ingest.py
# (2 cores, text copies): a load raises the process's RSS by ~2.5–3× the estimate of what it loads
# (the visits, their staged Arrow tables, the database's working set), so 64 MB keeps the whole
# `kazinform ingest` under 600 MB; at ~29 KB per text copy that is ~2,300 visits per load, and the
# ~0.3 s a load costs stays a few percent of its time.
MAX_HELD_BYTES_PER_LOAD = 64 * 1024 * 1024

# Python objects of one visit beside its texts, measured with tracemalloc on 2,000 parsed visits:
# ~1.5 KB for the VisitInput, its ArticleRecord, lists, datetimes and short strings, and ~160 bytes
# for each Block object (with its str headers).
VISIT_OVERHEAD_BYTES = 1_500
BLOCK_OVERHEAD_BYTES = 160
# Bytes per character a str of the record holds: Cyrillic and Kazakh text is stored with 2 bytes
# per character (Latin-1 text with 1, text with emoji 4); 2 is the common case here.
BYTES_PER_TEXT_CHAR = 2


def held_bytes(visit: VisitInput) -> int:
    """An estimate of the memory `visit` holds: its raw bytes, its record's texts (the body and the
    blocks both hold every paragraph) and a fixed share for the objects around them. Measured against
    tracemalloc on 2,000 visits: within 10% for text copies and for HTML pages."""
    size = VISIT_OVERHEAD_BYTES + visit.held_raw_bytes + len(visit.error or "")
    record = visit.record
    if record is not None:
        chars = len(record.title) + len(record.lead or "") + len(record.body)
        chars += sum(len(block.text) for block in record.blocks)
        size += BYTES_PER_TEXT_CHAR * chars + BLOCK_OVERHEAD_BYTES * len(record.blocks)
    return size


class LoadBuffer:
    def __init__(
        self,
        max_visits: int = MAX_VISITS_PER_LOAD,
        max_raw_bytes: int = MAX_RAW_BYTES_PER_LOAD,
        max_held_bytes: int = MAX_HELD_BYTES_PER_LOAD,
    ) -> None:
        self.max_visits = max_visits
        self.max_raw_bytes = max_raw_bytes
        self.max_held_bytes = max_held_bytes
        self._visits: list[VisitInput] = []
        self._raw_bytes = 0
        self._held_bytes = 0

    def add(self, visits: list[VisitInput]) -> Iterator[list[VisitInput]]:
        """Take `visits`; yields a full load batch when one is ready."""
        self._visits.extend(visits)
        self._raw_bytes += sum(v.raw_size or 0 for v in visits)  # as read: a packed body counts whole
        self._held_bytes += sum(held_bytes(v) for v in visits)
        if (
            len(self._visits) >= self.max_visits
            or self._raw_bytes >= self.max_raw_bytes
            or self._held_bytes >= self.max_held_bytes
        ):
            yield from self.flush()

    def flush(self) -> Iterator[list[VisitInput]]:
        """Yields what is held, if anything."""
        if self._visits:
            ready, self._visits, self._raw_bytes, self._held_bytes = self._visits, [], 0, 0
            yield ready
