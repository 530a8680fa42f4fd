"""Ctrl-C during `kazinform crawl` and `kazinform ingest` (flows.stop): the run stops taking new
work, keeps what it fetched or read as load packages, prints its summary and exits 130; the next run
loads the packages first and does not fetch those pages again. Real CLI processes, the session's
Prefect server, the replica over HTTP and real DuckDB files."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb

from test_serve import KAZINFORM, ROOT, child_env, wait_for
from warehouse.packages import PackageStore

STARTED_WITHIN_S = 120.0
STOPPED_WITHIN_S = 90.0


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def interrupted(
    argv: list[str], env: dict[str, str], ready: Callable[[str], bool]
) -> subprocess.CompletedProcess[str]:
    """Start `kazinform …`, wait until `ready(what it printed so far)` holds, send Ctrl-C
    (SIGINT), and wait for the end."""
    child = subprocess.Popen(
        [KAZINFORM, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell starts background jobs with SIGINT ignored; a person at a terminal has it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    printed: dict[str, list[str]] = {"stdout": [], "stderr": []}
    readers = [
        threading.Thread(target=printed[name].extend, args=(stream,), daemon=True)  # line by line
        for name, stream in (("stdout", child.stdout), ("stderr", child.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        wait_for(
            lambda: child.poll() is None and ready("".join(printed["stdout"] + printed["stderr"])),
            STARTED_WITHIN_S,
            "the run under way",
        )
        child.send_signal(signal.SIGINT)
        child.wait(timeout=STOPPED_WITHIN_S)
        for reader in readers:
            reader.join(timeout=STOPPED_WITHIN_S)
    finally:
        child.kill()
    stdout, stderr = "".join(printed["stdout"]), "".join(printed["stderr"])
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def test_ctrl_c_keeps_what_the_crawl_fetched_and_the_next_crawl_does_not_fetch_it_again(
    prefect_api: str, replica, tmp_path: Path
) -> None:
    site, base_url = replica
    warehouse = tmp_path / "warehouse.duckdb"
    env = child_env(KAZINFORM_BASE_URL=base_url)
    article_paths = {article.path for article in site.articles.values()}

    def fetched() -> Counter[str]:
        return Counter(r.path for r in list(site.request_log) if r.path in article_paths and r.status == 200)

    crawl = ["crawl", "kazinform", "--revisit", "none", "--warehouse", str(warehouse)]
    # 5 requests/s: ~25 s for the site's 120 articles, so Ctrl-C comes in the middle
    first = interrupted([*crawl, "--rate", "5"], env, lambda _printed: sum(fetched().values()) >= 20)
    assert first.returncode == 130, (first.stdout[-2000:], first.stderr[-3000:])
    assert "kazinform: stopping" in first.stderr
    kept_line = next(line for line in first.stdout.splitlines() if "kept for the next run:" in line)
    assert "(the run was stopped)" in kept_line, first.stdout
    assert "stopped by Ctrl-C:" in first.stdout and "URLs not fetched, for the next run" in first.stdout

    store = PackageStore.for_warehouse(warehouse)
    kept = sum(store.manifest(ref).visits for ref in store.ready())
    fetched_first = sum(fetched().values())
    assert kept >= fetched_first >= 20  # every article page fetched (and the feeds and lenta pages)
    assert fetched_first < len(article_paths)  # stopped before the end
    in_warehouse = rows(warehouse, "select count(*) from visits")[0][0] if warehouse.exists() else 0
    assert in_warehouse + kept >= fetched_first

    second = subprocess.run(
        [KAZINFORM, *crawl, "--rate", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert store.ready() == []  # loaded first
    counts = fetched()
    assert sum(counts.values()) > fetched_first  # the second crawl went on where the first stopped
    assert max(counts.values()) == 1  # and fetched no page twice
    assert rows(warehouse, "select count(*) from articles")[0][0] == len(counts)
    assert rows(warehouse, "select count(*) from visits where outcome = 'created'")[0][0] == len(counts)


def test_ctrl_c_stops_an_ingest_between_batches_and_keeps_what_was_read(
    prefect_api: str, tmp_path: Path
) -> None:
    """8,000 text copies in parse batches of 1,250, two to a load (flows.pipeline, flows.batching):
    Ctrl-C as soon as the first batch is parsed (its task's log line), so it comes while the second
    is parsed, before the first load. What was read is loaded or kept; the rest is told as not read."""
    folder = tmp_path / "copies"
    folder.mkdir()
    seed = next((ROOT / "seeds").glob("*.txt")).read_text()
    for n in range(8000):
        (folder / f"{n:05d}.txt").write_text(seed.replace("\n", f" {n}\n", 1))
    warehouse = tmp_path / "warehouse.duckdb"
    store = PackageStore.for_warehouse(warehouse)

    def first_batch_parsed(printed: str) -> bool:
        return re.search(r"read and parsed \d+ files in", printed) is not None

    ingest = ["ingest", str(folder), "--warehouse", str(warehouse)]
    first = interrupted(ingest, child_env(), first_batch_parsed)
    assert first.returncode == 130, (first.stdout[-2000:], first.stderr[-3000:])
    stopped = re.search(r"stopped by Ctrl-C: (\d+) files not read, for the next run", first.stdout)
    assert stopped and 0 < int(stopped[1]) < 8000, first.stdout
    loaded = rows(warehouse, "select count(*) from visits")[0][0] if warehouse.exists() else 0
    kept = sum(store.manifest(ref).visits for ref in store.ready())
    assert kept > 0 and loaded + kept + int(stopped[1]) == 8000, first.stdout

    second = subprocess.run(
        [KAZINFORM, *ingest], cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=900
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert store.ready() == []  # loaded first by the next writer
    assert rows(warehouse, "select count(*) from articles")[0][0] == 8000
