"""benchmarks/orchestration.py runs at tiny sizes and prints its figures (nothing is timed here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"-?\d+(?:\.\d+)?"


def test_the_orchestration_benchmark_runs_and_prints_its_figures(prefect_api: str) -> None:
    command = [
        sys.executable, "benchmarks/orchestration.py",
        "--articles", "40", "--pairs", "2", "--concurrency", "4",
        "--events", "3", "--event-window", "0",
        "--rows", "1000", "--rounds", "1",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": prefect_api},
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert re.search(r"^machine: \d+ CPUs, load average", out, re.M), out

    # (a) both runs of each pair crawled all 40 articles; the share is printed with its range
    for run in ("with Prefect", "without Prefect"):
        rows = re.findall(
            rf"^\s+\d+ {run}\s+" + r"\s+".join([NUMBER] * 2) + r"\s+40\s+" + r"\s+".join([NUMBER] * 4) + r"$",
            out,
            re.M,
        )
        assert len(rows) == 2, out
        assert re.search(rf"^{run}: wall s median {NUMBER} .*; peak RSS MB median \d+", out, re.M), out
    share = rf"median {NUMBER}% of 2 pair\(s\) \[{NUMBER}% to {NUMBER}%\] \(target <= 10%: (NOT )?met\)"
    assert re.search(rf"^Prefect's share of the crawl's wall time \(.*\): {share}$", out, re.M), out

    # (b) every event started its run; the latency and its parts are printed
    assert "warehouse: 3 articles with a second version" in out, out
    latency = re.search(
        rf"event → run start .*: median ({NUMBER}) s, max ({NUMBER}) s, min {NUMBER} s over 3 runs", out
    )
    assert latency and 0 < float(latency[1]) <= float(latency[2]), out
    for part in ("automation: event → run created", "runner poll: created → Pending",
                 "process start: Pending → Running"):  # fmt: skip
        assert re.search(rf"^  {part}: median {NUMBER} s, max {NUMBER} s$", out, re.M), out

    # (c) the load with events wrote its outbox rows (one load of 1,000 new articles, above the
    # summary threshold: one summary row, one source and language); the switch kept the other
    # load from writing any
    assert re.search(r"^outbox rows written by the first load: 1\b", out, re.M), out
    assert re.search(rf"^events add to the lock held: median [+]?{NUMBER}% of 1 round", out, re.M), out
