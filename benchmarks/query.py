"""Query output benchmark: `kazinform query` on a 1M-article warehouse against DuckDB's own COPY … TO.

Run: .venv/bin/python benchmarks/query.py [--rows 1000000] [--repeat 3] [--cache DIR] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages sit beside benchmarks/
    sys.path.insert(0, str(ROOT))

from warehouse.db import open_writer  # noqa: E402

# The README's first query: what a person asks of the warehouse first.
DEFAULT_SQL = "select title, published_at, authors, tags from articles"
FORMATS = ("csv", "json", "table")
# Bump when the generated rows change, so a cached warehouse of the old shape is not reused.
GENERATOR_VERSION = 1

METHOD = """\
method
  data     {rows:,} articles written with SQL straight into a scratch warehouse (the schema of every
           migration, created by warehouse.db.open_writer; then one INSERT … SELECT per table from
           range()): one current version each, Cyrillic title (~60 characters), lead, body of 4
           paragraphs (~1,200 characters, ~2 KB UTF-8), blocks JSON, published_at, 1–3 authors,
           2–5 tags, the article_state row and the visit the `articles` view joins. Cached in
           {cache} and reused while the generator is unchanged (--rebuild makes it again).
  query    {sql}
  command  `python -m flows.cli query SQL --format F --warehouse FILE > /dev/null`, started from a
           small launcher that forks and execs it and reads its own peak RSS with os.wait4 (a child
           of this process would inherit this process's peak); wall time from the launcher's start
           to its end, so interpreter start-up and imports are counted. The command runs with its
           defaults (the query connection's memory limit included, warehouse.query_sandbox).
  duckdb   the same query on a plain read-only connection (TimeZone UTC, no sandbox) written by
           DuckDB itself: `COPY (SQL) TO '/dev/null' (FORMAT csv, HEADER)` and
           `(FORMAT json, ARRAY true)`; a whole child process too (`python -c 'import duckdb; …'`),
           so both sides pay the same start-up; the COPY statement's own time is printed beside.
  repeats  {repeat} runs of each, medians (range in brackets). The warehouse file is read once
           before timing so every run finds it in the page cache.
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float


# Forks and execs argv[1:] with stdout on /dev/null; prints that child's own peak RSS and status.
_LAUNCHER = """
import json, os, sys, time
started = time.monotonic()
pid = os.fork()
if pid == 0:
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.monotonic() - started, "peak_rss_kb": usage.ru_maxrss,
                  "status": os.waitstatus_to_exitcode(status)}))
"""

_DUCKDB_COPY = """
import sys, time, duckdb
path, sql, options = sys.argv[1:]
connection = duckdb.connect(path, read_only=True)
connection.execute("SET TimeZone = 'UTC'")
started = time.monotonic()
connection.execute(f"COPY ({sql}) TO '/dev/null' ({options})")
print(f"copy {time.monotonic() - started:.6f}", file=sys.stderr)
"""
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER", "json": "FORMAT json, ARRAY true"}


def build_warehouse(path: Path, rows: int) -> None:
    """`rows` articles with one version each, written with SQL (minutes of loads spared)."""
    scratch = path.with_name(path.name + ".building")
    scratch.unlink(missing_ok=True)
    with open_writer(scratch) as connection:
        connection.execute(_GENERATE_SQL.format(rows=rows))
    scratch.rename(path)


# Words drawn by the row number so that the values vary without a random generator.
_GENERATE_SQL = """
BEGIN;
CREATE TEMP TABLE words AS
SELECT list_value('Президент', 'Казахстан', 'Астана', 'визит', 'соглашение', 'министр', 'экономика',
                  'регион', 'развитие', 'сотрудничество', 'правительство', 'инвестиции', 'проект',
                  'область', 'население', 'энергетика', 'транспорт', 'образование', 'здравоохранение',
                  'культура', 'спорт', 'наука', 'технологии', 'цифровизация') AS w;
CREATE TEMP TABLE people AS
SELECT list_value('Наталья Мосунова', 'Айгерим Сапарова', 'Ерлан Жаксылыков', 'Дана Омарова',
                  'Асель Нурланова', 'Руслан Ахметов', 'Мария Ким') AS p;
INSERT INTO visits (visit_id, run_id, source, article_id, path, visited_at, outcome, raw_sha256, bytes)
SELECT i, 'bench-run', 'kazinform', printf('%016x', hash(i)), printf('bench/%d.txt', i),
       TIMESTAMPTZ '2025-11-12 15:00:00+00' + to_seconds(i), 'created', NULL, 1500
FROM range({rows}) t(i);
INSERT INTO article_versions
SELECT 'kazinform', printf('%016x', hash(i)), 1,
       printf('https://www.inform.kz/ru/material-%016x', hash(i)), 'ru',
       w[1 + i % 24] || ' и ' || w[1 + (i // 24) % 24] || ': ' || w[1 + (i // 7) % 24]
           || ' обсудили ' || w[1 + (i // 3) % 24] || ' в ' || (i % 1000)::VARCHAR || ' году',
       'О чем договорились ' || w[1 + (i // 5) % 24] || ' и ' || w[1 + (i // 11) % 24] || '.',
       array_to_string(list_transform(range(4), lambda p:
           array_to_string(list_transform(range(12), lambda k: w[1 + (i + p * 7 + k * 5) % 24]), ' ')
           || '. ' || repeat('Текст абзаца о событиях дня. ', 6)), e'\n\n'),
       '[{{"kind":"paragraph"}},{{"kind":"paragraph"}},{{"kind":"paragraph"}},{{"kind":"paragraph"}}]',
       TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 137),
       '19:09, 12 Ноябрь 2025 | GMT +5', NULL,
       list_transform(range(1 + i % 3), lambda k: p[1 + (i + k) % 7]),
       list_transform(range(2 + i % 4), lambda k: w[1 + (i * 3 + k) % 24]),
       'Политика', 'https://static.inform.kz/photo.jpg', NULL, NULL,
       md5(i::VARCHAR), 'kazinform-text@1',
       TIMESTAMPTZ '2025-11-12 15:00:00+00' + to_seconds(i), NULL, i
FROM range({rows}) t(i), words, people;
INSERT INTO article_state (source, article_id, url, deleted, current_version, current_hash,
                           published_at, first_seen_at, last_seen_at, last_visited_at, last_changed_at)
SELECT source, article_id, url, false, 1, content_hash, published_at, valid_from, valid_from,
       valid_from, valid_from
FROM article_versions;
COMMIT;
"""


def cached_warehouse(cache: Path, rows: int, *, rebuild: bool) -> tuple[Path, float | None]:
    """The warehouse of `rows` articles in `cache`, built if missing; (path, seconds to build or None)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"query-{rows}-v{GENERATOR_VERSION}.duckdb"
    if rebuild:
        path.unlink(missing_ok=True)
    if path.exists():
        return path, None
    started = time.monotonic()
    build_warehouse(path, rows)
    return path, time.monotonic() - started


def launch(argv: list[str], cwd: Path = ROOT) -> Measured:
    """Run argv with stdout on /dev/null from a small launcher; its wall time and its own peak RSS."""
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *argv], cwd=cwd, capture_output=True, text=True, check=False
    )
    report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    if result.returncode != 0 or report.get("status") != 0:
        raise RuntimeError(f"{argv[2:4]} failed: {result.stderr.strip()[-2000:]}")
    return Measured(report["seconds"], report["peak_rss_kb"] / 1024)


def kazinform_query(path: Path, sql: str, output_format: str, project: Path = ROOT) -> Measured:
    """The command as a person runs it, from the checkout `project` (another one: its figures)."""
    argv = [sys.executable, "-m", "flows.cli", "query", sql, "--format", output_format]
    return launch([*argv, "--warehouse", str(path)], cwd=project)


def duckdb_copy(path: Path, sql: str, output_format: str) -> tuple[Measured, float]:
    """DuckDB writing the same rows itself: (the whole child, the COPY statement alone)."""
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", _DUCKDB_COPY,
         str(path), sql, COPY_OPTIONS[output_format]],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"COPY failed: {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    copy_seconds = float(result.stderr.split("copy ")[-1])
    return Measured(report["seconds"], report["peak_rss_kb"] / 1024), copy_seconds


def row_count(path: Path, sql: str) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.{digits}f} {unit} [{low:.{digits}f}–{high:.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="articles in the warehouse")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--sql", default=DEFAULT_SQL, help="the query measured")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "kazinform-bench",
        help="folder of the generated warehouse, reused between runs",
    )
    parser.add_argument("--rebuild", action="store_true", help="generate the warehouse again")
    parser.add_argument(
        "--project",
        type=Path,
        default=ROOT,
        help="run `kazinform query` from this checkout (an earlier release, to compare)",
    )
    args = parser.parse_args(argv)

    path, build_seconds = cached_warehouse(args.cache, args.rows, rebuild=args.rebuild)
    print(METHOD.format(rows=args.rows, cache=args.cache, sql=args.sql, repeat=args.repeat))
    built = f"built in {build_seconds:.1f} s" if build_seconds is not None else "reused from the cache"
    size_mb = path.stat().st_size / 1e6
    rows = row_count(path, args.sql)
    print(f"warehouse  {path.name}: {size_mb:,.0f} MB, {built}; the query answers {rows:,} rows")
    if args.project != ROOT:
        print(f"project    `kazinform query` run from {args.project}")
    warm_page_cache(path)

    print(
        f"\n{'format':<7} {'kazinform query':>24} {'its peak RSS':>20} {'DuckDB COPY (child)':>24} "
        f"{'its peak RSS':>20} {'COPY statement':>24} {'ratio':>7}"
    )
    for output_format in FORMATS:
        ours = [kazinform_query(path, args.sql, output_format, args.project) for _ in range(args.repeat)]
        ours_seconds = [m.seconds for m in ours]
        ours_rss = spread([m.peak_rss_mb for m in ours], "MB", 0)
        line = f"{output_format:<7} {spread(ours_seconds):>24} {ours_rss:>20}"
        if output_format in COPY_OPTIONS:
            theirs = [duckdb_copy(path, args.sql, output_format) for _ in range(args.repeat)]
            child_seconds = [m.seconds for m, _ in theirs]
            ratio = statistics.median(ours_seconds) / statistics.median(child_seconds)
            line += (
                f" {spread(child_seconds):>24} {spread([m.peak_rss_mb for m, _ in theirs], 'MB', 0):>20}"
                f" {spread([s for _, s in theirs]):>24} {ratio:>6.2f}×"
            )
        print(line, flush=True)
    print(
        "\nratio: kazinform query's median wall time over the DuckDB child's (target ≤ 2×, and ≤ 300 MB "
        "peak RSS);\ntable shows the first rows and counts them all, so it has no COPY to compare with"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
