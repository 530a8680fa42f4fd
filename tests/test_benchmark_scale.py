"""benchmarks/scale.py runs and prints its figures (a tiny run: nothing is timed): the one-machine
crawl of the latency replica, and the crawl fanned out over Prefect process workers with the loader
committing the packages they stage."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scale_benchmark_runs_and_prints_its_figures(prefect_api: str) -> None:
    command = [
        sys.executable, "benchmarks/scale.py", "--articles", "30", "--latency-ms", "5-10",
        "--baseline-concurrency", "2", "--concurrency", "2", "--workers", "1", "--pairs", "1",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "replica: 30 articles (kazinform 7, tengrinews 16, astanatimes 7), latency 5–10 ms" in out, out
    baseline = re.search(r"^\s+2\s+[\d.]+\s+(\d+)\s+[\d.]+\s+(\d+)$", out, re.MULTILINE)
    assert baseline and int(baseline[1]) == 30 and int(baseline[2]) > 0, out  # every article fetched
    for workers in (1,):
        line = re.search(
            rf"^{workers} worker\(s\): (\d+) pages, fan-out [\d.]+ s, until loaded [\d.]+ s = "
            r"[\d.]+ pages/s; (\d+) packages, (\d+) rows loaded",
            out,
            re.MULTILINE,
        )
        assert line and int(line[1]) == 30 and int(line[2]) >= 3 and int(line[3]) >= 30, out
    assert len(re.findall(r"queue of ready packages \(sampled each second\): max \d+", out)) == 1, out
    assert re.search(r"peak RSS MB: fan-out \d+, loader \d+, worker 1 \d+$", out, re.MULTILINE), out
    assert re.search(r"1 worker against one machine: [\d.]+ s against `kazinform crawl`", out), out
    pair = re.search(r"^\s+1\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[-+][\d.]+%\s+\d+\s+\d+\s+\d+$", out, re.MULTILINE)
    assert pair, out  # memory, stage, load seconds, the cost, three peaks; the warehouses are the same
    assert re.search(
        r"packages' added cost on one machine: median [-+][\d.]+% .* over 1 pairs .*same articles in both "
        r"warehouses: True",
        out,
    ), out
