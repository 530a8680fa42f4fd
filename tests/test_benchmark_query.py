"""benchmarks/query.py runs and prints its figures (a tiny run: nothing is timed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_query_benchmark_runs_and_prints_its_figures(tmp_path: Path) -> None:
    command = [sys.executable, "benchmarks/query.py", "--rows", "2000", "--repeat", "1"]
    command += ["--cache", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "the query answers 2,000 rows" in out, out
    figure = r"[\d.]+ (?:s|MB) \[[\d.]+–[\d.]+\]"
    for output_format in ("csv", "json"):
        assert re.search(rf"^{output_format} +{figure} +{figure} +{figure} +{figure} +{figure} +[\d.]+×$",
                         out, re.MULTILINE), out  # fmt: skip
    assert re.search(rf"^table +{figure} +{figure}$", out, re.MULTILINE), out
    # the generated warehouse is kept for the next run
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "reused from the cache" in again.stdout, again.stderr[-3000:]
