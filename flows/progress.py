"""A progress bar on a terminal; silent when output goes to a file, a pipe or CI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# Below this many items a bar is noise: the run is over before it is read.
MIN_ITEMS_FOR_BAR = 50


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; draws a bar only for long inputs on an interactive terminal."""
    if total < MIN_ITEMS_FOR_BAR or not sys.stderr.isatty():
        yield lambda _n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task_id = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task_id, n)
