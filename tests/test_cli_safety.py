"""`kazinform query` reads the warehouse and nothing else, and every CLI error is one line.

Each attack runs the real command in a subprocess against real DuckDB files, then checks that
nothing happened: the other warehouse keeps its rows, the queried file is byte for byte the same,
no file was written, nothing outside was printed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from child_usage import run_command_measured
from test_warehouse_support import bare, make_record, parsed
from warehouse.db import open_writer
from warehouse.load import load_batch

ROOT = Path(__file__).resolve().parent.parent
VISITS_PER_WAREHOUSE = 2  # one article visit and one failed visit


def kazinform(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it; no Prefect is needed by query, history or parse."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_warehouse(path: Path) -> None:
    with open_writer(path) as connection:
        load_batch(
            connection,
            "run-1",
            [parsed(make_record()), bare("failed", article_id=None, error="timed out", locator="x")],
        )


def visit_count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute("select count(*) from visits").fetchone()[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Warehouses:
    queried: Path
    hard_link: Path  # the queried file under another name
    other: Path
    outside: Path  # a directory with a file whose name must not leak

    def sql(self, template: str) -> str:
        return template.format(
            other=self.other, link=self.hard_link, queried=self.queried, outside=self.outside
        )


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Warehouses:
    folder = tmp_path_factory.mktemp("query-safety")
    queried, other = folder / "queried.duckdb", folder / "other.duckdb"
    build_warehouse(queried)
    build_warehouse(other)
    hard_link = folder / "hard-link.duckdb"
    os.link(queried, hard_link)
    outside = folder / "outside"
    outside.mkdir()
    (outside / "secret-name.txt").write_text("root:x:0:0:secret line\n")
    return Warehouses(queried, hard_link, other, outside)


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kazinform: ") and " — " in lines[0]
    return lines[0]


# (id, SQL template, words the refusal must say)
ATTACKS = [
    ("attach-other-read-write", "attach '{other}' as e (READ_WRITE); delete from e.visits", "attaching"),
    ("attach-other", "attach '{other}' as e; delete from e.visits", "attaching"),
    ("attach-other-read-only", "attach '{other}' as e (READ_ONLY)", "attaching"),
    ("attach-hard-link", "attach '{link}' as e (READ_WRITE); delete from e.visits", "attaching"),
    ("attach-itself", "attach '{queried}' as e (READ_WRITE); delete from e.visits", "attaching"),
    ("attach-memory", "attach ':memory:' as m", "attaching"),
    ("copy-to-csv", "copy visits to '{outside}/copy.csv'", "files is disabled"),
    ("copy-to-parquet", "copy (select 1) to '{outside}/copy.parquet' (format parquet)", "files is disabled"),
    ("export-database", "export database '{outside}/export'", "files is disabled"),
    ("import-database", "import database '{outside}'", "files is disabled"),
    ("read-text", "select * from read_text('/etc/passwd')", "files is disabled"),
    ("read-blob", "select * from read_blob('{outside}/secret-name.txt')", "files is disabled"),
    ("read-csv", "select * from read_csv('{outside}/secret-name.txt', sep=':')", "files is disabled"),
    ("read-json", "select * from read_json('/etc/passwd')", "files is disabled"),
    ("read-parquet", "select * from read_parquet('{outside}/copy.parquet')", "files is disabled"),
    ("glob", "select * from glob('{outside}/*')", "files is disabled"),
    ("glob-root", "select * from glob('/root/*')", "files is disabled"),
    ("copy-from", "create temp table t(line varchar); copy t from '/etc/passwd'", "files is disabled"),
    ("read-url", "select * from read_csv('https://example.com/x.csv')", "disabled"),
    ("install-httpfs", "install httpfs", "extensions is disabled"),
    ("force-install", "force install httpfs", "extensions is disabled"),
    ("load-httpfs", "load httpfs", "extensions is disabled"),
    ("load-file", "load '{outside}/evil.duckdb_extension'", "extensions is disabled"),
    ("set-external-access", "set enable_external_access = true", "settings cannot be changed"),
    ("set-unlock", "set lock_configuration = false", "settings cannot be changed"),
    ("reset-unlock", "reset lock_configuration", "settings cannot be changed"),
    ("set-threads", "set threads = 1", "settings cannot be changed"),
    ("set-profiling-output", "set profiling_output = '{outside}/profile.txt'", "settings cannot be changed"),
    ("set-log-query-path", "set log_query_path = '{outside}/log.txt'", "settings cannot be changed"),
    ("pragma-threads", "pragma threads = 1", "settings cannot be changed"),
    ("pragma-profiling", "pragma enable_profiling", "settings cannot be changed"),
    ("delete", "delete from visits", "opened read-only"),
    ("drop", "drop table visits", "opened read-only"),
    ("create-table", "create table t (x int)", "opened read-only"),
    ("insert", "insert into visits (visit_id) values (999)", "opened read-only"),
    ("update", "update visits set outcome = 'failed'", "opened read-only"),
    ("select-then-delete", "select 1; delete from visits", "opened read-only"),
]


@pytest.mark.parametrize(("sql", "says"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_query_refuses_and_nothing_happens(warehouses: Warehouses, sql: str, says: str) -> None:
    before = sha256(warehouses.queried)
    result = kazinform("query", warehouses.sql(sql), "--warehouse", str(warehouses.queried))

    line = assert_one_line_error(result, 2)
    assert line.startswith("kazinform: query refused: ")
    assert says in line
    # nothing happened: both warehouses keep their rows, the queried file is unchanged …
    assert visit_count(warehouses.other) == VISITS_PER_WAREHOUSE
    assert visit_count(warehouses.hard_link) == VISITS_PER_WAREHOUSE
    assert sha256(warehouses.queried) == before
    # … no file was written beside the secret, and nothing outside was shown
    assert sorted(p.name for p in warehouses.outside.iterdir()) == ["secret-name.txt"]
    assert "root:x:0:0" not in result.stdout + result.stderr
    assert "secret-name" not in result.stdout.replace(str(warehouses.outside), "")


def test_the_same_attack_without_the_locked_connection_does_write(tmp_path: Path) -> None:
    """What the refusals above guard against: a plain read-only DuckDB connection attaches a hard
    link to its own file read-write and deletes its visits."""
    queried = tmp_path / "queried.duckdb"
    build_warehouse(queried)
    os.link(queried, tmp_path / "link.duckdb")
    with duckdb.connect(str(queried), read_only=True) as connection:
        connection.execute(f"attach '{tmp_path / 'link.duckdb'}' as e (READ_WRITE); delete from e.visits")
    assert visit_count(queried) == 0


def test_reading_queries_still_answer_in_every_format(warehouses: Warehouses) -> None:
    sql = "select outcome, count(*) as visits from visits group by outcome order by outcome"
    table = kazinform("query", sql, "--warehouse", str(warehouses.queried))
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["outcome", "visits"]
    assert "(2 rows)" in table.stdout
    as_json = kazinform("query", sql, "--format", "json", "--warehouse", str(warehouses.queried))
    assert json.loads(as_json.stdout) == [
        {"outcome": "created", "visits": 1},
        {"outcome": "failed", "visits": 1},
    ]
    # session-only statements change nothing outside the query and stay allowed
    temp = kazinform(
        "query",
        "create temp table t as select 41 as x; select x + 1 as answer from t",
        "--format",
        "csv",
        "--warehouse",
        str(warehouses.queried),
    )
    assert temp.stdout.split() == ["answer", "42"], temp.stderr


def test_timestamps_are_shown_in_utc_whatever_the_machine_zone(warehouses: Warehouses) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "query", "select current_setting('TimeZone') as zone",
         "--format", "csv", "--warehouse", str(warehouses.queried)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "Asia/Almaty"},
    )  # fmt: skip
    assert result.stdout.split() == ["zone", "UTC"], result.stderr


# The README's examples, as tests/test_readme_sql.py reads them (without importing its crawl fixtures).
README_QUERIES = re.findall(r"```sql\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("sql", README_QUERIES, ids=lambda sql: sql.splitlines()[0].strip("- "))
def test_readme_queries_run_on_the_locked_connection(warehouses: Warehouses, sql: str) -> None:
    result = kazinform("query", sql, "--warehouse", str(warehouses.queried))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# --- the error path ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["query", "history"])
def test_a_missing_warehouse_is_one_line_naming_it(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.duckdb"
    argument = "select 1" if command == "query" else "7da5a18f"
    line = assert_one_line_error(kazinform(command, argument, "--warehouse", str(missing)), 1)
    assert str(missing) in line
    assert "kazinform ingest" in line and "--warehouse" in line
    assert not missing.exists()


def test_a_directory_as_warehouse_is_one_line(tmp_path: Path) -> None:
    line = assert_one_line_error(kazinform("query", "select 1", "--warehouse", str(tmp_path)), 1)
    assert str(tmp_path) in line


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("selec 1", "syntax error"),
        ("select nope from visits", "nope"),
        ("select * from no_such_table", "no_such_table"),
        ("select 'x'::int", "convert"),
    ],
    ids=["syntax", "unknown-column", "unknown-table", "bad-cast"],
)
def test_bad_sql_is_one_line_and_bad_usage(warehouses: Warehouses, sql: str, says: str) -> None:
    line = assert_one_line_error(kazinform("query", sql, "--warehouse", str(warehouses.queried)), 2)
    assert line.startswith("kazinform: bad SQL: ")
    assert says in line


def test_a_missing_argument_is_one_line_and_bad_usage() -> None:
    line = assert_one_line_error(kazinform("query"), 2)
    assert "sql" in line and "kazinform query --help" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["crawl", "kazinform", "--rate", "-1"], "argument --rate: must be 0 or more: '-1'"),
        (["crawl", "--rate", "nan"], "argument --rate: must be 0 or more: 'nan'"),
        (["crawl", "--concurrency", "0"], "argument --concurrency: must be 1 or more: '0'"),
        (["fanout", "--rate", "fast"], "argument --rate: not a number of requests per second: 'fast'"),
        (["backfill", "kazinform", "--since", "2025-01-01", "--concurrency", "1.5"], "whole number"),
        (["serve", "--crawl-rate", "-0.5"], "argument --crawl-rate: must be 0 or more: '-0.5'"),
    ],
    ids=["crawl-negative-rate", "crawl-nan-rate", "crawl-no-connection", "fanout-rate", "backfill", "serve"],
)
def test_a_bad_rate_or_concurrency_is_bad_usage_before_any_run(
    tmp_path: Path, args: list[str], says: str
) -> None:
    # no Prefect API is set or started: the option is refused before any run is prepared
    line = assert_one_line_error(kazinform(*args, "--warehouse", str(tmp_path / "w.duckdb")), 2)
    assert says in line, line
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_with_the_same_status(warehouses: Warehouses, where: str) -> None:
    query = ["query", "selec 1", "--warehouse", str(warehouses.queried)]
    result = kazinform(*(["--debug", *query] if where == "before" else [*query, "--debug"]))
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ParserException" in result.stderr
    assert "--debug" in kazinform("--help").stdout


def assert_ctrl_c_stops(child: subprocess.Popen[str]) -> None:
    """A second later the query still runs; Ctrl-C then ends it within 15 s: 130, one line."""
    try:
        time.sleep(1)
        assert child.poll() is None, child.communicate()
        interrupted_at = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert time.monotonic() - interrupted_at < 15
    assert child.returncode == 130, stderr
    assert stderr == "kazinform: interrupted\n"


def test_ctrl_c_interrupts_a_long_query(warehouses: Warehouses) -> None:
    endless = "select count(*) from range(1000000000000) t(a), range(10) u(b) where a + b = 7"
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "query", endless, "--warehouse", str(warehouses.queried)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell starts background jobs with SIGINT ignored; a person at a terminal has it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(2)  # imports, the connection and the start of the query
    assert_ctrl_c_stops(child)


def test_an_unreachable_prefect_api_is_one_line_and_a_failure(tmp_path: Path) -> None:
    from flows.prefect_api import free_port

    dead_api = f"http://127.0.0.1:{free_port()}/api"
    warehouse = tmp_path / "w.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "ingest", str(ROOT / "seeds"), "--warehouse", str(warehouse)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PREFECT_API_URL": dead_api, "PREFECT_HOME": str(tmp_path / "prefect")},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("kazinform: ") and dead_api in line and "PREFECT_API_URL" in line


def test_a_failure_inside_a_flow_is_told_once_without_traceback(prefect_api: str, tmp_path: Path) -> None:
    not_a_warehouse = tmp_path / "a-directory"
    not_a_warehouse.mkdir()
    ingest = ["ingest", str(ROOT / "seeds"), "--warehouse", str(not_a_warehouse)]
    quiet = kazinform(*ingest, timeout=300)
    assert quiet.returncode == 1, quiet.stderr
    assert "Traceback" not in quiet.stderr
    [told] = [line for line in quiet.stderr.splitlines() if line.startswith("kazinform: ")]
    assert str(not_a_warehouse) in told and " — " in told
    loud = kazinform("--debug", *ingest, timeout=300)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr


def test_describe_error_for_a_locked_warehouse_and_an_os_error(tmp_path: Path) -> None:
    """Errors whose commands are slow to provoke (30 s lock wait, a Prefect run) are described
    from the real exception objects."""
    from flows.cli import build_parser
    from flows.cli_errors import describe_error
    from warehouse.db import WarehouseLockedError, open_reader

    path = tmp_path / "held.duckdb"
    build_warehouse(path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, '.'); from warehouse.db import open_writer\n"
         f"with open_writer({str(path)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseLockedError) as locked, open_reader(path, timeout=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()
    args = build_parser().parse_args(["query", "select 1", "--warehouse", str(path)])
    message, status = describe_error(locked.value, args)
    assert status == 1
    assert str(path) in message and "locked" in message and " — try again" in message

    with pytest.raises(OSError) as missing:
        (tmp_path / "absent.txt").read_bytes()
    message, status = describe_error(missing.value, args)
    assert status == 1
    absent = tmp_path / "absent.txt"
    assert message == f"{absent}: no such file or directory — check the path and its permissions"


# --- parse: one line per bad path ----------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.txt"
    good.write_bytes((ROOT / "seeds" / "000_7da5a18f75e09145.txt").read_bytes())
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.html")
    from parsers.limits import MAX_INPUT_BYTES

    huge = tmp_path / "huge.html"
    with huge.open("wb") as file:
        file.truncate(MAX_INPUT_BYTES + 1_000)  # sparse: costs no disk
    not_a_page = tmp_path / "not-a-page.html"
    not_a_page.write_text("garbage\n")
    return {
        "good": good,
        "folder": folder,
        "missing": tmp_path / "missing.html",
        "loop": tmp_path / "loop-a",
        "dangling": tmp_path / "dangling",
        "huge": huge,
        "not_a_page": not_a_page,
    }


@pytest.mark.parametrize(
    ("name", "status", "says"),
    [
        ("folder", 2, "is a directory"),
        ("missing", 1, "no such file"),
        ("loop", 1, "symbolic link loop"),
        ("dangling", 1, "dangling symbolic link"),
        ("huge", 1, "file is 5,001,000 bytes, more than the 5,000,000-byte limit"),
        ("not_a_page", 1, "cannot parse"),
    ],
)
def test_parse_names_a_bad_path_and_the_reason(
    inputs: dict[str, Path], name: str, status: int, says: str
) -> None:
    line = assert_one_line_error(kazinform("parse", str(inputs[name])), status)
    assert line.startswith(f"kazinform: {inputs[name]}: {says}")


def test_parse_prints_the_good_files_beside_the_bad_ones(inputs: dict[str, Path]) -> None:
    bad = ["missing", "loop", "dangling", "huge", "not_a_page"]
    result = kazinform("parse", str(inputs["good"]), *(str(inputs[name]) for name in bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines()] == [
        str(inputs[name]) for name in bad
    ]
    [record] = result.stdout.splitlines()
    assert '"article_id": "good"' in record


def test_parse_names_an_unreadable_file(tmp_path: Path) -> None:
    """As an unprivileged user (root reads everything: the child drops to `nobody` first)."""
    secret = tmp_path / "secret.html"
    secret.write_text("<html></html>")
    secret.chmod(0)
    seed = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
    script = (
        "import contextlib, io, os, sys\n"
        "import flows.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):  # a first parse imports all it needs\n"
        f"    assert flows.cli.main(['parse', {str(seed)!r}]) == 0\n"
        "if os.geteuid() == 0:  # the interpreter's own files may not be readable by nobody\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        f"sys.exit(flows.cli.main(['parse', {str(secret)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    line = assert_one_line_error(result, 1)
    assert line == f"kazinform: {secret}: permission denied — check the file's permissions"


# --- output: streamed, readable, bounded ---------------------------------------------------------

TYPED = (
    "select article_id, published_at, authors, tags, 'a,\"b' as quoted, '' as empty, null as nothing, "
    "'nan'::double as not_a_number, date '2025-11-12' as day, 7 as article_id from articles"
)


def test_csv_and_json_show_dates_times_in_utc_and_lists_as_json(warehouses: Warehouses) -> None:
    as_csv = kazinform("query", TYPED, "--format", "csv", "--warehouse", str(warehouses.queried))
    assert as_csv.returncode == 0, as_csv.stderr
    header, row = csv.reader(io.StringIO(as_csv.stdout))
    assert header == ["article_id", "published_at", "authors", "tags", "quoted", "empty", "nothing",
                      "not_a_number", "day", "article_id"]  # fmt: skip
    assert row[1] == "2025-11-12 14:09:00+00"
    assert json.loads(row[2]) == ["Наталья Мосунова"] and json.loads(row[3]) == ["Токаев", "Россия"]
    assert row[4:9] == ['a,"b', "", "", "nan", "2025-11-12"]
    assert '"a,""b"' in as_csv.stdout and ',"",,nan,' in as_csv.stdout  # an empty text is not a null

    as_json = kazinform("query", TYPED, "--format", "json", "--warehouse", str(warehouses.queried))
    assert as_json.returncode == 0, as_json.stderr
    [article] = json.loads(as_json.stdout)  # one valid JSON array (NaN would not be)
    assert article == {
        "article_id": 7,  # a repeated name: the last column's value, as a dict of the row would keep
        "published_at": "2025-11-12 14:09:00+00",
        "authors": ["Наталья Мосунова"],
        "tags": ["Токаев", "Россия"],
        "quoted": 'a,"b',
        "empty": "",
        "nothing": None,
        "not_a_number": None,
        "day": "2025-11-12",
    }
    table = kazinform("query", TYPED, "--warehouse", str(warehouses.queried)).stdout
    assert '2025-11-12 14:09:00+00  ["Наталья Мосунова"]  ["Токаев","Россия"]' in table
    empty = kazinform("query", "select 1 as x where false", "--format", "json",
                      "--warehouse", str(warehouses.queried))  # fmt: skip
    assert json.loads(empty.stdout) == []


def test_the_table_shows_the_first_rows_and_says_how_to_get_them_all(warehouses: Warehouses) -> None:
    from warehouse.query_sandbox import TABLE_ROWS_SHOWN

    sql = "select range as n, 'row ' || range as label from range(100000)"
    table = kazinform("query", sql, "--warehouse", str(warehouses.queried))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 2 + TABLE_ROWS_SHOWN + 1
    assert lines[2].split() == ["0", "row", "0"]
    assert lines[-1] == f"(100,000 rows, the first {TABLE_ROWS_SHOWN} shown; " + (
        "`--format csv` or `--format json` prints them all)"
    )
    as_csv = kazinform("query", sql, "--format", "csv", "--warehouse", str(warehouses.queried))
    assert as_csv.stdout.splitlines()[-1] == "99999,row 99999"
    assert len(as_csv.stdout.splitlines()) == 100_001


def test_rows_stream_out_in_bounded_memory(tmp_path: Path) -> None:
    """The README's query of the articles view, 300,000 articles, as CSV and JSON: the command's own
    peak RSS stays far below the output's size (the rows as Python objects took ~1.6 GB at 1M)."""
    from benchmarks.query import DEFAULT_SQL, build_warehouse

    warehouse = tmp_path / "large.duckdb"
    build_warehouse(warehouse, 300_000)
    for output_format in ("csv", "json"):
        output = tmp_path / f"out.{output_format}"
        command = [sys.executable, "-m", "flows.cli", "query", DEFAULT_SQL, "--format", output_format,
                   "--warehouse", str(warehouse)]  # fmt: skip
        shell = f"exec {shlex.join(command)} > {shlex.quote(str(output))}"
        usage = run_command_measured(["sh", "-c", shell], timeout=300)
        assert usage.returncode == 0, usage.stderr
        # target ≤ 300 MB at 1M rows (measured 278–283 MB by benchmarks/query.py); the margin is for
        # machines with more cores, where DuckDB runs more threads
        assert usage.peak_rss_mb < 400, (output_format, usage.peak_rss_mb)
        print(f"{output_format}: peak RSS {usage.peak_rss_mb:.0f} MB, {usage.seconds:.1f} s")
        with output.open(encoding="utf-8") as lines:
            if output_format == "csv":
                rows = csv.reader(lines)
                assert next(rows) == ["title", "published_at", "authors", "tags"]
                assert sum(1 for _ in rows) == 300_000
            else:
                assert len(json.load(lines)) == 300_000
        output.unlink()


def test_ctrl_c_interrupts_a_query_while_its_rows_stream_out(warehouses: Warehouses) -> None:
    endless = "select range as n, md5(range::varchar) as digest from range(1000000000000)"
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "query", endless, "--format", "csv",
         "--warehouse", str(warehouses.queried)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "n,digest\n"  # rows stream
    assert_ctrl_c_stops(child)


def test_a_reader_that_stops_early_ends_the_query_quietly(warehouses: Warehouses) -> None:
    """`kazinform query … | head -3`: the query stops with the reader, no error line."""
    endless = "select range as n from range(1000000000000)"
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "query", endless, "--format", "csv",
         "--warehouse", str(warehouses.queried)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert [child.stdout.readline() for _ in range(3)] == ["n\n", "0\n", "1\n"]
        child.stdout.close()
        stderr = child.stderr.read()
        child.wait(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, stderr
    assert stderr == ""


def query_with_memory(warehouses: Warehouses, sql: str, memory: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", "query", sql, "--format", "csv"]
    environment = {**os.environ, "KAZINFORM_QUERY_MEMORY": memory}
    return subprocess.run(
        [*command, "--warehouse", str(warehouses.queried)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment,
    )  # fmt: skip


def test_a_query_past_its_memory_is_refused_in_one_line(warehouses: Warehouses) -> None:
    big = "select length(string_agg(repeat('x', 1000), ',')) as size from range(200000)"
    result = query_with_memory(warehouses, big, "32MB")
    line = assert_one_line_error(result, 2)
    assert "32MB" in line and "KAZINFORM_QUERY_MEMORY" in line
    assert result.stdout == ""  # nothing half-written: the header waits for the first rows
    roomy = query_with_memory(warehouses, big, "1GB")
    assert roomy.stdout.split() == ["size", str(200_000 * 1001 - 1)], roomy.stderr
    bad = query_with_memory(warehouses, "select 1", "lots")
    assert "KAZINFORM_QUERY_MEMORY='lots' is not a size" in assert_one_line_error(bad, 2)
