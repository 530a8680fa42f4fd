"""Load batches gather parse batches up to a count, a raw byte budget or an estimate of the memory
the visits hold, and nothing is left behind; parse batches are cut by count and by bytes."""

from __future__ import annotations

import gc
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.batching import LoadBuffer, held_bytes
from flows.pipeline import batched_by_size
from flows.read import read_visits
from warehouse.visit import VisitInput

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
FIXTURES = ROOT / "tests" / "fixtures" / "kazinform"


def visits(count: int, raw_size: int = 10) -> list[VisitInput]:
    now = datetime.now(UTC)
    return [
        VisitInput("kazinform", f"in/{i}.txt", now, "parse_error", raw=b"x" * raw_size) for i in range(count)
    ]


def test_batches_fill_up_to_the_count_then_flush_the_rest() -> None:
    buffer = LoadBuffer(max_visits=5, max_raw_bytes=10**9, max_held_bytes=10**9)
    loads = [len(b) for _ in range(4) for b in buffer.add(visits(2))]
    loads += [len(b) for b in buffer.flush()]
    assert loads == [6, 2]
    assert list(buffer.flush()) == []


def test_the_byte_budget_flushes_before_the_count() -> None:
    buffer = LoadBuffer(max_visits=1000, max_raw_bytes=250, max_held_bytes=10**9)
    loads = [len(b) for _ in range(3) for b in buffer.add(visits(1, raw_size=100))]
    assert loads == [3]


def test_the_held_memory_budget_flushes_before_the_count_and_the_raw_bytes() -> None:
    buffer = LoadBuffer(max_visits=1000, max_raw_bytes=10**9, max_held_bytes=3 * held_bytes(visits(1)[0]))
    loads = [len(b) for _ in range(4) for b in buffer.add(visits(1))]
    assert loads == [3]


def test_a_packed_body_holds_its_compressed_size_and_counts_whole_against_the_raw_bytes() -> None:
    """A crawl's pages wait packed: the held-memory budget sees their compressed form, while the
    raw-bytes cap (the load's cadence) still counts each page as it was read."""
    whole, packed = visits(1, raw_size=100_000)[0], visits(1, raw_size=100_000)[0]
    packed.pack()
    assert held_bytes(packed) < held_bytes(whole) / 10
    buffer = LoadBuffer(max_visits=1000, max_raw_bytes=250_000, max_held_bytes=10**9)
    loads = []
    for _ in range(3):
        visit = visits(1, raw_size=100_000)[0]
        visit.pack()
        loads += [len(b) for b in buffer.add([visit])]
    assert loads == [3]


def held_in_memory(paths: list[Path]) -> tuple[int, list[VisitInput]]:
    """Bytes the parsed visits of `paths` hold, by tracemalloc."""
    # Parsers import and cache on first use (the generic parser's trafilatura, the registry):
    # that is the process's memory, not the visits', so it is paid before the count starts.
    read_visits(paths[:20])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parsed = read_visits(paths)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, parsed
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["text copies", "HTML pages"])
def test_the_estimate_follows_the_memory_parsed_visits_hold(kind: str, tmp_path: Path) -> None:
    if kind == "text copies":
        seed = SEED.read_text(encoding="utf-8")
        for i in range(200):
            (tmp_path / f"{i:04d}.txt").write_text(
                seed.replace("Госвизит", f"Госвизит {i}", 1), encoding="utf-8"
            )
    else:
        for i, page in enumerate(sorted(FIXTURES.glob("*.html")) * 20):
            shutil.copy(page, tmp_path / f"{i:04d}_{page.name}")
    held, parsed = held_in_memory(sorted(tmp_path.iterdir()))
    assert all(v.status == "parsed" for v in parsed)
    estimate = sum(held_bytes(v) for v in parsed)
    raw = sum(len(v.raw or b"") for v in parsed)
    # The raw bytes alone miss much of it (the texts are held again as str, and in the blocks).
    assert held > 1.5 * raw
    assert 0.75 * held <= estimate <= 1.25 * held, (held, estimate)


def test_parse_batches_are_cut_by_count_and_by_bytes(tmp_path: Path) -> None:
    sizes = [10, 10, 10, 50, 10, 200, 10]
    files = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"{i}.txt"
        path.write_bytes(b"x" * size)
        files.append(path)
    files.append(tmp_path / "missing.txt")  # counted as empty: its read says why it failed
    batches = [
        [int(p.stem) if p.stem.isdigit() else p.stem for p in b] for b in batched_by_size(files, 3, 60)
    ]
    # three by count; then 50 + 10 fill 60; 200 alone (over the cap, a batch of its own); the rest
    assert batches == [[0, 1, 2], [3, 4], [5], [6, "missing"]]
    assert [p for b in batched_by_size(files, 3, 60) for p in b] == files
