"""benchmarks/parse.py runs from the checkout and prints its figures (a tiny run: nothing is timed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_parse_benchmark_runs_and_prints_its_figures() -> None:
    command = [sys.executable, "benchmarks/parse.py"]
    command += ["--pages", "2", "--parses", "3", "--baseline-rounds", "1", "--tree-parses", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"^method: 2 pages from 2 fixtures .* \d+–\d+ KB", out, re.MULTILINE), out
    for builder in ("selectolax/lexbor", "lxml.html", "bs4+lxml+SoupStrainer", "bs4+lxml "):
        assert re.search(rf"tree only +{re.escape(builder)} *[\d.]+ ms/page", out), (builder, out)
    assert re.search(r"parse_bytes \(selectolax\) +[\d.]+ articles/s .*\(3 parses\)", out), out
    assert re.search(r"trafilatura\.bare_extraction +[\d.]+ articles/s .*\(2 parses", out), out
    assert re.search(r"ratio: parse_bytes is [\d.]+x trafilatura", out), out
