"""Gather parsed visits into load batches: few, large transactions instead of one per parse batch.

Every load has a fixed cost of its own (a writer connection, a transaction with its checkpoint, and
a pass over `article_state`, ~0.3 s at 100,000 known articles), so loads wait until a batch is worth
it: up to 100,000 visits (a run of text copies loads as one transaction) or 512 MB of raw bytes
(~3,000 full-size HTML pages), whichever comes first. Parsing stays in small batches (progress,
memory per task). The crawl flow sets smaller bounds (flows.crawl): its loads also publish progress.
"""

from __future__ import annotations

from collections.abc import Iterator

from warehouse.visit import VisitInput

MAX_VISITS_PER_LOAD = 100_000
MAX_RAW_BYTES_PER_LOAD = 512 * 1024 * 1024


class LoadBuffer:
    def __init__(
        self, max_visits: int = MAX_VISITS_PER_LOAD, max_raw_bytes: int = MAX_RAW_BYTES_PER_LOAD
    ) -> None:
        self.max_visits = max_visits
        self.max_raw_bytes = max_raw_bytes
        self._visits: list[VisitInput] = []
        self._raw_bytes = 0

    def add(self, visits: list[VisitInput]) -> Iterator[list[VisitInput]]:
        """Take `visits`; yields a full load batch when one is ready."""
        self._visits.extend(visits)
        self._raw_bytes += sum(len(v.raw or b"") for v in visits)
        if len(self._visits) >= self.max_visits or self._raw_bytes >= self.max_raw_bytes:
            yield from self.flush()

    def flush(self) -> Iterator[list[VisitInput]]:
        """Yields what is held, if anything."""
        if self._visits:
            ready, self._visits, self._raw_bytes = self._visits, [], 0
            yield ready
