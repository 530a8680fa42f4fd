"""Gather parsed visits into load batches: few, large transactions instead of one per parse batch.

Every load is a transaction plus a checkpoint when the writer closes, and both cost about the same
for 500 rows as for 20,000 (measured: 20,000 text copies load in ~2 s as one batch, ~13 s as forty).
Parsing stays in small batches (progress, memory per task); loading waits until a batch is worth
it, bounded by a count and by the raw bytes held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from warehouse.visit import VisitInput

MAX_VISITS_PER_LOAD = 20_000
MAX_RAW_BYTES_PER_LOAD = 128 * 1024 * 1024


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
