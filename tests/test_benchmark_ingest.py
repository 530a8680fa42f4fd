"""The ingest benchmark runs at a tiny size and prints its figures (nothing is timed here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_ingest_benchmark_runs_and_prints_its_figures(prefect_api: str) -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/ingest.py", "--sizes", "20", "--kinds", "text", "--repeat", "2"],
        cwd=ROOT,
        env={**os.environ, "PREFECT_API_URL": prefect_api},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    number = r"-?\d+(?:\.\d+)?"
    for kind in ("text",):
        for run in ("with Prefect", "without Prefect", "with Prefect, again", "without Prefect, again"):
            # wall s, articles/s, peak MB, read+parse s, stage s, write s, loads
            rows = re.findall(
                rf"^{kind}\s+20 {run}\s+" + r"\s+".join([number] * 7) + r"\s*$", result.stdout, re.M
            )
            assert len(rows) == 2, result.stdout  # one run in each of the two pairs
        share = rf"median {number}% of 2 pair\(s\) \[{number}% to {number}%\]"
        assert re.search(rf"^{kind}\s+20 Prefect's share of the wall time: {share}$", result.stdout, re.M)


def test_the_generated_html_pages_are_distinct_articles_that_parse(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from ingest import make_html_pages
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from flows.read import read_visits

    make_html_pages(tmp_path, 30)
    visits = read_visits(sorted(tmp_path.iterdir()))
    assert [v.status for v in visits] == ["parsed"] * 30
    assert len({v.article_id for v in visits}) == 30
