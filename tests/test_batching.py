"""Load batches gather parse batches up to a count or a byte budget, and nothing is left behind."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.batching import LoadBuffer
from warehouse.visit import VisitInput


def visits(count: int, raw_size: int = 10) -> list[VisitInput]:
    now = datetime.now(UTC)
    return [
        VisitInput("kazinform", f"in/{i}.txt", now, "parse_error", raw=b"x" * raw_size) for i in range(count)
    ]


def test_batches_fill_up_to_the_count_then_flush_the_rest() -> None:
    buffer = LoadBuffer(max_visits=5, max_raw_bytes=10**9)
    loads = [len(b) for _ in range(4) for b in buffer.add(visits(2))]
    loads += [len(b) for b in buffer.flush()]
    assert loads == [6, 2]
    assert list(buffer.flush()) == []


def test_the_byte_budget_flushes_before_the_count() -> None:
    buffer = LoadBuffer(max_visits=1000, max_raw_bytes=250)
    loads = [len(b) for _ in range(3) for b in buffer.add(visits(1, raw_size=100))]
    assert loads == [3]
