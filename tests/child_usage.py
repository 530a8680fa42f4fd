"""Run Python code in a child process and measure that process alone: wall time and peak RSS.

A process started by pytest directly would not do: Linux carries the peak RSS of the process that
forked it (pytest, 230–500 MB by then) into the child's `ru_maxrss`, across the exec (a child
running `pass` under a 500 MB parent reports 512 MB). So the work runs in a process forked from a
small launcher, and the launcher reports that process's own `ru_maxrss` (os.wait4). The launcher is
the benchmarks' own (benchmarks/child_usage.py), so tests and benchmarks measure the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # benchmarks/ is not an installed package

from benchmarks.child_usage import ChildUsage, run_command_measured, run_measured  # noqa: E402

__all__ = ["ROOT", "ChildUsage", "run_command_measured", "run_measured"]
