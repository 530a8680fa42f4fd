"""benchmarks/load.py runs at a tiny size and prints its figures (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = r"\d+\.\d\d s .* rows/s"


def test_the_load_benchmark_prints_stage_plus_write_against_the_floor() -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--rows", "200", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    out = finished.stdout
    for variant in ("with raw bytes", "no raw"):
        section = out.split(f"\n{variant}:", 1)[1].split("\n\n", 1)[0]
        for step in ("(b) first load", "(c) revisit, 1% changed"):
            assert re.search(rf"{re.escape(step)}: staging \+ writer +{FIGURE} +\d+\.\d\d x \(a\)", section)
        assert len(re.findall(rf"staging \(outside the lock\) +{FIGURE}", section)) == 2
        assert len(re.findall(rf"writer \(the lock held\) +{FIGURE} +\d+\.\d\d x \(a\)", section)) == 2
    assert re.search(rf"version rows \+ raw rows +{FIGURE}", out)
    assert "targets: staging + writer (b) <= 1.5 x (a), (c) <= 0.25 x (a)" in out
