"""File ingest end to end: the `kazinform` command against a real Prefect server and a DuckDB file."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from child_usage import run_measured
from flows.ingest import ingest_files

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
FIXTURES = ROOT / "tests" / "fixtures" / "kazinform"
SEED_TITLE = "Госвизит Токаева в Москву: о чем договорились Президенты Казахстана и России"


def kazinform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed command as a person would; PREFECT_API_URL points at the test server."""
    command = [str(Path(sys.executable).with_name("kazinform")), *args]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def test_seed_then_same_again_then_an_edited_copy(prefect_api: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    first = kazinform("ingest", cwd=tmp_path)  # default input seeds/, default ./warehouse.duckdb
    assert "created       1" in first.stdout
    assert SEED_TITLE[:40] in first.stdout  # the loaded articles are printed
    warehouse = tmp_path / "warehouse.duckdb"

    shown = kazinform(
        "query", "select title, published_at, authors, tags from articles", "--format", "json", cwd=tmp_path
    )
    [article] = json.loads(shown.stdout)
    assert article["title"] == SEED_TITLE
    assert article["published_at"].startswith("2025-11-12 14:09:00")
    assert article["authors"] == ["Наталья Мосунова"]
    assert (
        " ".join(article["tags"])
        == "Касым-Жомарт Токаев Акорда Казахстан Сотрудничество Владимир Путин Россия"
    )

    again = kazinform("ingest", cwd=tmp_path)  # the same bytes as last read: not parsed again
    assert "not_modified  1" in again.stdout
    assert query(warehouse, "select count(*) from article_versions") == [(1,)]

    edited_dir = tmp_path / "edited"
    edited_dir.mkdir()
    edited_text = SEED.read_text(encoding="utf-8").replace(
        "Госвизит Токаева", "Государственный визит Токаева"
    )
    (edited_dir / SEED.name).write_text(edited_text, encoding="utf-8")
    kazinform("ingest", str(edited_dir), cwd=tmp_path)
    assert query(warehouse, "select version, valid_to is null from article_versions order by version") == [
        (1, False),
        (2, True),
    ]
    assert query(warehouse, "select version, field from article_changes") == [(2, "title")]
    assert query(warehouse, "select outcome from visits order by visit_id") == [
        ("created",),
        ("not_modified",),
        ("changed",),
    ]

    history = kazinform("history", SEED.stem, cwd=tmp_path).stdout
    assert "v2" in history and "Государственный визит Токаева" in history


def test_bad_inputs_are_kept_with_a_reason_and_the_run_goes_on(prefect_api: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SEED, inbox / SEED.name)
    gen_a = (FIXTURES / "gen_a_ru.html").read_bytes()
    (inbox / "saved.html.gz").write_bytes(gzip.compress(gen_a))
    bad = {
        "empty.txt": b"",
        "photo.html": bytes(range(256)) * 4,
        "menu.html": b"<html><body><nav><a href='/ru/lenta'>Lenta</a></nav></body></html>",
        "cut.html": gen_a[: len(gen_a) // 3],
        "no-date.txt": "Заголовок без даты\n\nТекст статьи без строки с датой.".encode(),
    }
    for name, raw in bad.items():
        (inbox / name).write_bytes(raw)
    warehouse = tmp_path / "bad.duckdb"

    summary = ingest_files([str(inbox)], str(warehouse))
    assert summary.counts["created"] == 2, summary.to_text()
    assert summary.counts["parse_error"] == len(bad)
    assert {Path(locator).name for locator, _, _ in summary.failures} == set(bad)

    stored = query(
        warehouse,
        """select v.path, v.error, r.size from visits v left join raw_pages r using (raw_sha256)
           where v.outcome = 'parse_error'""",
    )
    assert len(stored) == len(bad)
    for path, _error, size in stored:
        name = Path(path).name
        assert size == len(bad[name]), (name, "the raw bytes are kept for a later re-parse")
    reasons = {Path(path).name: error for path, error, _ in stored}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["photo.html"]
    assert "no article" in reasons["menu.html"]
    assert "truncated" in reasons["cut.html"]
    assert "date" in reasons["no-date.txt"]


def test_the_summary_is_published_as_an_artifact(prefect_api: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    summary = ingest_files([str(SEED)], str(tmp_path / "artifact.duckdb"))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-summary"]))
        )
    mine = [a for a in artifacts if str(a.flow_run_id) == summary.run_id]
    assert len(mine) == 1
    assert "| created | 1 |" in str(mine[0].data)


def test_globs_and_missing_inputs(prefect_api: str, tmp_path: Path) -> None:
    for name in ("gen_a_ru", "gen_b_kz"):
        shutil.copy(FIXTURES / f"{name}.html", tmp_path / f"{name}.html")
    summary = ingest_files(
        [str(tmp_path / "*.html"), str(tmp_path / "nothing-*.txt")], str(tmp_path / "g.duckdb")
    )
    assert summary.counts["created"] == 2
    assert summary.unmatched_inputs == [str(tmp_path / "nothing-*.txt")]


@pytest.mark.parametrize("output_format", ["table", "csv", "json"])
def test_query_formats(prefect_api: str, tmp_path: Path, output_format: str) -> None:
    warehouse = tmp_path / "q.duckdb"
    ingest_files([str(SEED)], str(warehouse))
    shown = kazinform(
        "query", "select article_id, versions from articles", "--format", output_format,
        "--warehouse", str(warehouse), cwd=tmp_path,
    ).stdout  # fmt: skip
    assert SEED.stem in shown
    if output_format == "json":
        assert json.loads(shown) == [{"article_id": SEED.stem, "versions": 1}]
    elif output_format == "csv":
        assert shown.splitlines() == ["article_id,versions", f"{SEED.stem},1"]


class CountedList(list):
    """A list that counts how often something walks it."""

    walks = 0

    def __iter__(self):
        CountedList.walks += 1
        return super().__iter__()


def test_a_task_gets_an_untouched_value_itself_and_prefect_never_walks_it(prefect_api: str) -> None:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.tasks import untouched

    received: list[object] = []

    @task(cache_policy=NO_CACHE)  # as the project's tasks: a cache key would serialize the value
    def keep(value: list) -> None:
        received.append(value)

    @flow
    def hand_over(marked: bool) -> None:
        keep(untouched(visits) if marked else visits)

    visits = CountedList(range(10))
    hand_over(marked=False)
    assert CountedList.walks >= 2  # futures resolved, task inputs collected: both walk the list
    assert received[-1] == visits
    CountedList.walks = 0
    hand_over(marked=True)
    assert CountedList.walks == 0
    assert received[-1] is visits


def test_the_logs_name_each_stage_with_its_duration(prefect_api: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEED, inputs / SEED.name)
    shutil.copy(FIXTURES / "gen_a_ru.html", inputs / "gen_a_ru.html")
    (inputs / "empty.txt").write_text("")
    result = kazinform("ingest", str(inputs), "--warehouse", str(tmp_path / "w.duckdb"), cwd=tmp_path)
    logs = result.stdout + result.stderr
    assert re.search(r"read and parsed 3 files in \d+\.\d\d s", logs), logs[-3000:]
    assert re.search(r"staged 3 visits in \d+\.\d\d s, wrote them in \d+\.\d\d s", logs), logs[-3000:]
    assert re.search(
        r"ingest stages: look-up of earlier reads \d+\.\d s \(0 paths read before\); "
        r"read and parse \d+\.\d s \(3 inputs\); stage \d+\.\d s; write \d+\.\d s "
        r"\(3 visits in 1 loads, largest 3\); whole run \d+\.\d s",
        logs,
    ), logs[-3000:]


def test_memory_is_bounded_by_the_load_batch_not_the_input(prefect_api: str, tmp_path: Path) -> None:
    """5,000 text copies (39 MB) held at once weigh ~145 MB parsed and ~3× that while loaded; the
    command gathers them in loads of ~2,300 and stays under the 600 MB the whole ingest may take."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    seed = SEED.read_text(encoding="utf-8")
    for i in range(5_000):
        text = seed.replace("Госвизит", f"Госвизит {i}", 1)
        (inputs / f"{i:05d}_{i:016x}.txt").write_text(text, encoding="utf-8")
    command = [str(Path(sys.executable).with_name("kazinform")), "ingest", str(inputs)]
    command += ["--warehouse", str(tmp_path / "w.duckdb")]
    child = run_measured("import os, sys; os.execv(sys.argv[1], sys.argv[1:])", command, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    loads = re.search(r"\((\d+) visits in (\d+) loads, largest (\d+)\)", child.stdout + child.stderr)
    assert loads, child.stderr[-3000:]
    visits, count, largest = map(int, loads.groups())
    assert visits == 5_000 and count >= 2 and largest <= 3_000
    assert child.peak_rss_mb < 600, child.peak_rss_mb
    assert query(tmp_path / "w.duckdb", "select count(*) from articles") == [(5_000,)]
