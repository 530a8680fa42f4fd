"""benchmarks/parse.py runs from the checkout and prints its figures (a tiny run: nothing is timed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from parsers.fixtures import fixtures_of
from parsers.registry import all_sources

ROOT = Path(__file__).resolve().parent.parent


def test_parse_benchmark_runs_and_prints_its_figures() -> None:
    command = [sys.executable, "benchmarks/parse.py", "--pages-per-source", "1", "--parses", "2"]
    command += ["--generic-rounds", "1", "--baseline-rounds", "1", "--tree-parses", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    sources = [s for s in all_sources() if fixtures_of(s.name)]
    assert len(sources) >= 2
    assert re.search(
        rf"^method: {len(sources)} pages from {len(sources)} fixtures of {len(sources)} sources", out, re.M
    )
    for builder in ("selectolax/lexbor", "lxml.html", "bs4+lxml+SoupStrainer", "bs4+lxml "):
        assert re.search(rf"tree only +{re.escape(builder)} *[\d.]+ ms/page", out), (builder, out)
    accuracy = r"\| 1 pages: title +\d+% published_at +\d+% authors +\d+% tags +\d+% lead +\d+% body [\d.]+"
    for source in sources:
        if source.parsers:
            assert re.search(
                rf"^{source.name} dedicated \(.*\) +[\d.]+ articles/s .*\(2 parses\) {accuracy}", out, re.M
            )
            assert re.search(rf"^target: {source.name} dedicated: [\d.]+x trafilatura's speed", out, re.M)
        else:
            assert f"{source.name} has no dedicated parser" in out
        assert re.search(rf"^{source.name} generic +[\d.]+ articles/s .*\(1 parses\) {accuracy}", out, re.M)
        assert re.search(
            rf"^{source.name} trafilatura +[\d.]+ articles/s .*\(1 parses\) {accuracy}", out, re.M
        )
    assert re.search(r"^all generic \(parsers\.generic\) +[\d.]+ articles/s", out, re.M), out
    assert re.search(r"^all trafilatura\.bare_extraction +[\d.]+ articles/s", out, re.M), out
    assert re.search(r"^target: generic body similarity [\d.]+ vs trafilatura [\d.]+", out, re.M), out
    assert re.search(
        r"^target: generic metadata vs trafilatura on the \d+ pages with JSON-LD/OG", out, re.M
    ), out
