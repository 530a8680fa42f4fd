"""benchmarks/crawl.py runs and prints its figures (a tiny run: nothing is timed), and the launcher
it measures each crawl with reports that process's own peak RSS."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from child_usage import run_command_measured

ROOT = Path(__file__).resolve().parent.parent

ALLOCATE_200_MB = "block = bytearray(200_000_000); block[::4096] = b'x' * len(block[::4096])"


def test_each_measured_command_reports_its_own_peak_not_its_parents_or_a_siblings() -> None:
    held = bytearray(300_000_000)
    held[::4096] = b"x" * len(held[::4096])  # this process's peak is now above 300 MB
    large = run_command_measured([sys.executable, "-c", ALLOCATE_200_MB])
    small = run_command_measured([sys.executable, "-c", "pass"])
    assert (large.returncode, small.returncode) == (0, 0), large.stderr + small.stderr
    assert 190 <= large.peak_rss_mb < 290, large.peak_rss_mb  # its own 200 MB, not the parent's 300
    assert small.peak_rss_mb < 60, small.peak_rss_mb  # not the larger sibling's peak
    missing = run_command_measured(["/nonexistent/command"])
    assert missing.returncode == 127 and "cannot run /nonexistent/command" in missing.stderr
    del held


def test_crawl_benchmark_runs_and_prints_its_figures(prefect_api: str, tmp_path: Path) -> None:
    log = tmp_path / "crawls.log"
    command = [
        sys.executable, "benchmarks/crawl.py", "--articles", "100", "--concurrency", "4", "--log", str(log),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "articles 100, edited 2, deleted 1" in out, out
    sizes = re.search(r"article pages: real, (\d+)–(\d+) KB, mean \d+ KB", out)
    assert sizes and 100 <= int(sizes[1]) <= int(sizes[2]) <= 300, out
    for number in (1, 2):
        line = re.search(
            rf"crawl {number}: command wall [\d.]+ s for 100 article pages = \d+ pages/s; "
            r"fetching span [\d.]+ s = \d+ pages/s; [\d.]+ MB fetched; peak RSS (\d+) MB; "
            r"warehouse file ([\d.]+) MB \(([\d.]+) MB in use\)",
            out,
        )
        assert line and int(line[1]) > 0 and 0 < float(line[3]) <= float(line[2]), out
    assert len(re.findall(r"^  stage times", out, re.MULTILINE)) == 2, out
    assert "crawl 2 outcomes: not_modified 97, changed 2, gone 1," in out, out
    assert re.search(r"peak RSS of each crawl, its own: \d+ MB and \d+ MB", out), out
    assert len(re.findall(r"crawl stages: ", log.read_text(encoding="utf-8"))) == 2  # both crawls' logs
