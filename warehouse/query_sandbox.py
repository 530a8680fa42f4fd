"""The connection `kazinform query` runs a person's SQL on: it reads the warehouse and nothing else.

The read-only open stops writes to the warehouse itself (DELETE, DROP, CREATE, INSERT, UPDATE).
Everything else SQL could reach — other files, other databases, extensions, the settings that
guard them — is closed by DuckDB's own settings, given to `duckdb.connect` so they hold from the
first statement, and then locked. Each was tried against a real file with DuckDB 2.0.1:

- enable_external_access=false: ATTACH of any other file (a hard link to the warehouse too, READ_WRITE
  or not), COPY … TO / FROM, EXPORT / IMPORT DATABASE, read_text, read_blob, read_csv, read_json,
  read_parquet, glob and sniff_csv on any path or URL, INSTALL, LOAD of an extension file.
- autoinstall_known_extensions=false: a query that needs an extension (httpfs for an https:// path)
  downloading it.
- autoload_known_extensions=false: such a query loading an installed extension.
- allow_community_extensions=false: LOAD of a community extension.
- allow_unsigned_extensions=false: LOAD of an unsigned extension file (DuckDB's default, held on
  purpose).
- allow_extension_repositories='forbidden': adding an extension repository, or trusting one added.
- allow_persistent_secrets=false: CREATE PERSISTENT SECRET writing a secret file under ~/.duckdb.
- python_enable_replacements=false: a table name resolving to a Python object of the calling code.
- memory_limit (QUERY_MEMORY_LIMIT, or $KAZINFORM_QUERY_MEMORY): what DuckDB may hold for a query;
  beyond it, it spills to `<warehouse>.tmp`, and a query that cannot spill is refused in one line.
- lock_configuration=true, set right after the reader's TimeZone: SET, RESET and PRAGMA of any
  setting, so none of the above can be undone.

What these settings leave open, because it writes nothing outside the query: temporary tables
and macros (in memory, gone at close), SET VARIABLE, SET search_path / schema / USE, and read_blob
of the warehouse file itself (DuckDB always allows the database's own file: its bytes, which the
tables show anyway). A query that needs more memory than it has spills to `<warehouse>.tmp`, as
every DuckDB query does, and the spill is removed when the query ends.

Output is streamed (`stream_sql`): DuckDB shapes each row into its output text (a CSV line, a JSON
object, or one text per column for the table) and hands it over in Arrow record batches of
OUTPUT_BATCH_ROWS rows, whose bytes go to stdout as they are; Python never holds the whole result
nor makes an object per value. DuckDB's own writers (COPY … TO) are closed by
enable_external_access, on purpose, for the person's SQL; the shaping is a projection over the
last statement's relation, so it runs on the same locked connection and cannot reach out either.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.db import LOCK_TIMEOUT_SECONDS, open_reader

# Settings passed to duckdb.connect for the query connection; see the module docstring for what
# each one stops.
QUERY_CONNECT_SETTINGS: dict[str, object] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
}
# DuckDB's memory for the query: its buffer pool, which also keeps the file's blocks it has read,
# and every operator; what needs more spills to `<warehouse>.tmp`. DuckDB's default, 80% of the
# machine's memory, let the README's query of the 1M-row `articles` view, streamed as CSV, reach
# 560 MB (COPY … TO alone: 500 MB). The command costs ~140 MB before the query (Python, DuckDB,
# pyarrow, the open file) and DuckDB fills its limit, so: 128 MB → 275–285 MB, 160 MB → ~315 MB,
# and 100 MB ran 2.5× slower (the view's join no longer fits). A larger analysis (a join or sort
# of bodies) runs too, spilling, and faster with KAZINFORM_QUERY_MEMORY set, e.g. "2GB".
QUERY_MEMORY_LIMIT = "128MB"
QUERY_MEMORY_ENV = "KAZINFORM_QUERY_MEMORY"
_MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
# Run in this order after open_reader's own settings, which a lock given to connect would refuse:
# the zone for the whole database (open_reader sets it for its session only), so the cursor a
# query runs on shows UTC as every reader does; then the lock.
LOCK_STATEMENTS: tuple[str, ...] = ("SET GLOBAL TimeZone = 'UTC'", "SET lock_configuration = true")

# How often the main thread looks up from waiting on the query (a Ctrl-C is seen at once anyway).
_WAIT_SLICE_SECONDS = 0.2
# After Ctrl-C, how long the interrupted query may take to stop before the command exits anyway.
INTERRUPT_GRACE_SECONDS = 5.0

# What a person can do instead, by the kind of refusal.
_READ_ONLY_ADVICE = "`kazinform query` only reads; the warehouse is changed by `kazinform ingest` and `crawl`"
_OUTSIDE_ADVICE = "`kazinform query` reads the warehouse's tables and views only"
# DuckDB's first line names the error's kind ("Invalid Input Error: "); a refusal says its own instead.
_ERROR_KIND = re.compile(r"^(?:[A-Z][a-z]+ )+Error: ")
_SQL_ADVICE = "check the statement; the tables and views are listed under Schema in the README"

# Rows per record batch handed from DuckDB to the output: one DuckDB vector. What the command holds
# is a few batches (the ones queued, the one written): ~4 MB each for README-sized rows, and still
# ~100 MB each for rows carrying 50 KB texts. Larger batches measured no faster (1M rows, csv).
OUTPUT_BATCH_ROWS = 2_048
# Batches the query may run ahead of the writing (a slow reader of stdout holds the query back).
_QUEUED_BATCHES = 4
# Rows `kazinform query --format table` shows (a screenful); its footer counts them all.
TABLE_ROWS_SHOWN = 40
# Put before each row of JSON output; the writer slices it off the first row (see json_rows).
JSON_ROW_SEPARATOR = ",\n"
# Column types whose text is JSON in every format (lists of authors and tags, structs, maps).
_JSON_TEXT_TYPES = frozenset({"list", "array", "struct", "map", "union"})
# Column types whose text never holds a comma, a quote or a line break: never quoted in CSV.
_PLAIN_TEXT_TYPES = frozenset(
    {"boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
     "uinteger", "ubigint", "uhugeint", "float", "double", "decimal", "date", "time",
     "timestamp", "timestamp with time zone", "timestamp_s", "timestamp_ms", "timestamp_ns",
     "time with time zone", "interval", "uuid"}
)  # fmt: skip
# Column types whose non-finite values (NaN, ±Infinity) JSON cannot hold: shown as null.
_FLOAT_TYPES = frozenset({"float", "double"})


class QueryRefusedError(Exception):
    """The query connection refused a statement it does not allow; the message says what and why."""


class QueryMemoryError(QueryRefusedError):
    """The query needs more memory than the query connection may use (or the setting is wrong)."""


class QuerySqlError(Exception):
    """The statement is not valid SQL for this warehouse (syntax, unknown name, bad value)."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


# Turns the relation of a query's last statement into the relation that is streamed out.
Shape = Callable[[duckdb.DuckDBPyRelation], duckdb.DuckDBPyRelation]


@dataclass(frozen=True, slots=True)
class QueryStream:
    columns: list[str]  # the last statement's column names
    batches: Iterator[pa.RecordBatch]  # its rows, shaped, in order


@contextmanager
def open_query_connection(
    path: Path | str, *, timeout: float = LOCK_TIMEOUT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that cannot reach beyond the warehouse file (see the module docstring)."""
    config = {**QUERY_CONNECT_SETTINGS, "memory_limit": query_memory_limit()}
    with open_reader(path, timeout=timeout, config=config) as connection:
        for statement in LOCK_STATEMENTS:
            connection.execute(statement)
        yield connection


def query_memory_limit() -> str:
    """$KAZINFORM_QUERY_MEMORY (a DuckDB size: "512MB", "2GB") or QUERY_MEMORY_LIMIT."""
    configured = os.environ.get(QUERY_MEMORY_ENV, "").strip()
    if not configured:
        return QUERY_MEMORY_LIMIT
    if not _MEMORY_SIZE.match(configured):
        raise QueryMemoryError(
            f"query refused: {QUERY_MEMORY_ENV}={configured!r} is not a size — give one as DuckDB "
            'writes them, e.g. "512MB" or "2GB"'
        )
    return configured


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Run `sql` (one or more statements; the last one's rows are returned).

    A statement the connection refuses raises QueryRefusedError; bad SQL raises QuerySqlError;
    anything else DuckDB raises (I/O, memory) is left as it is. Ctrl-C interrupts the query and
    raises KeyboardInterrupt.
    """
    outcome: dict[str, Any] = {}
    # The query runs on a cursor in a worker so that the main thread, which receives Ctrl-C, stays
    # free to interrupt it: DuckDB does not reliably notice a signal while a long statement runs,
    # and a busy connection refuses other calls, interrupt() of its cursor excepted.
    cursor = connection.cursor()
    # An event, not Thread.join: a join cut short by Ctrl-C can report a live thread as finished.
    finished = threading.Event()

    def execute() -> None:
        try:
            result = cursor.execute(sql)
            columns = [d[0] for d in result.description] if result.description else []
            outcome["result"] = QueryResult(columns, result.fetchall() if columns else [])
        except BaseException as error:  # handed to the main thread, which raises it
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=execute, name="kazinform-query", daemon=True).start()
    try:
        while not finished.wait(_WAIT_SLICE_SECONDS):
            pass
    except KeyboardInterrupt:
        cursor.interrupt()
        finished.wait(INTERRUPT_GRACE_SECONDS)
        raise
    finally:
        if finished.is_set():
            cursor.close()
    error = outcome.get("error")
    if isinstance(error, duckdb.Error):
        raise classify_error(error, sql) from error
    if error is not None:
        raise error
    return outcome["result"]


@contextmanager
def stream_sql(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    shape: Shape,
    *,
    batch_rows: int = OUTPUT_BATCH_ROWS,
) -> Iterator[QueryStream]:
    """Run `sql` (one or more statements) and stream the last one's rows, shaped by `shape`.

    Errors are raised as by run_sql: the statement's own when the stream is opened, one met while
    the rows are produced from `batches`. Ctrl-C while waiting on either interrupts the query and
    raises KeyboardInterrupt; leaving the block early stops the query too.
    """
    worker = _QueryWorker(connection.cursor(), sql, shape, batch_rows)
    try:
        kind, columns = worker.next_item()
        yield QueryStream(columns if kind == "columns" else [], worker.batches())
    finally:
        worker.stop()


class _QueryWorker:
    """Runs the query on a cursor in a thread and queues its batches for the main thread.

    As in run_sql, the main thread only waits, so a Ctrl-C reaches it at once and it can interrupt
    the cursor; the queue's bound keeps the query from running ahead of the output.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, sql: str, shape: Shape, batch_rows: int) -> None:
        self._cursor = cursor
        self._sql = sql
        self._shape = shape
        self._batch_rows = batch_rows
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_QUEUED_BATCHES)
        self._stopping = threading.Event()
        # an event, not Thread.join: a join cut short by Ctrl-C can report a live thread as finished
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kazinform-query", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as error:  # handed to the main thread, which raises it
            self._put(("error", error))
        finally:
            self._finished.set()

    def _produce(self) -> None:
        """Queue the columns, each batch, then the end. Every DuckDB object it makes (the relation,
        the reader of its result) is gone when it returns: one left to the end of the thread could be
        freed after the connection is closed, which aborts the process."""
        relation = _last_relation(self._cursor, self._sql)
        if relation is None:  # no statement
            self._put(("columns", []))
        else:
            self._put(("columns", list(relation.columns)))
            reader = self._shape(relation).to_arrow_reader(self._batch_rows)
            try:
                for batch in reader:
                    if not self._put(("batch", batch)):
                        return
            finally:
                reader.close()
        self._put(("end", None))

    def _put(self, item: tuple[str, Any]) -> bool:
        """Queue `item` unless the main thread has stopped listening; False then."""
        while not self._stopping.is_set():
            try:
                self._items.put(item, timeout=_WAIT_SLICE_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def next_item(self) -> tuple[str, Any]:
        while True:
            try:
                kind, value = self._items.get(timeout=_WAIT_SLICE_SECONDS)
            except queue.Empty:
                continue
            if kind != "error":
                return kind, value
            if isinstance(value, duckdb.Error):
                raise classify_error(value, self._sql) from value
            raise value

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            kind, batch = self.next_item()
            if kind != "batch":
                return
            yield batch

    def stop(self) -> None:
        """Stop the query if it still runs (Ctrl-C, an error writing) and close its cursor."""
        self._stopping.set()
        if not self._finished.is_set():
            self._cursor.interrupt()
            self._finished.wait(INTERRUPT_GRACE_SECONDS)
        if self._finished.is_set():
            self._thread.join()  # finished: only the thread's own end is left
            self._cursor.close()


def _last_relation(cursor: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run every statement but the last; the last one's relation (not yet run when it is a query)."""
    statements = duckdb.extract_statements(sql)
    if not statements:
        return None
    for statement in statements[:-1]:
        cursor.execute(statement.query)
        cursor.complete()  # runs it to its end; its rows are not wanted
    return cursor.sql(statements[-1].query)


# --- shapes: each row as the text it is written as ---------------------------------------------


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_text(position: int, type_id: str) -> str:
    """SQL for the text of result column `position` (1-based; names may repeat): lists and other
    nested values as JSON, timestamps as DuckDB shows them (UTC on this connection), the rest cast."""
    reference = f"#{position}"
    if type_id in _JSON_TEXT_TYPES:
        return f"CAST(to_json({reference}) AS VARCHAR)"
    if type_id == "varchar":
        return reference
    return f"CAST({reference} AS VARCHAR)"


def text_cells(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Every column as its text (null stays null): the cells of the table format."""
    texts = [_value_text(i, t.id) for i, t in enumerate(relation.types, start=1)]
    return relation.project(", ".join(texts)) if texts else relation


def _csv_field(position: int, type_id: str) -> str:
    """A column's text (see text_cells) as a CSV field: quoted when it holds a comma, a quote or a
    line break, and when empty (so that an empty text and a null, written as nothing, differ).
    Which texts may need quotes is known from the type, and the check is skipped for the others."""
    value = f"#{position}"
    quoted = f"'\"' || replace({value}, '\"', '\"\"') || '\"'"
    if type_id in _PLAIN_TEXT_TYPES:
        return f"coalesce({value}, '')"
    if type_id in _JSON_TEXT_TYPES:  # JSON of a list or struct: quotes or commas, nearly always
        return f"coalesce({quoted}, '')"
    # four contains() per value: one regexp_matches cost ~1.2 s more on the 1M titles of the benchmark
    needs_quotes = " OR ".join(
        [
            f"{value} = ''",
            *(f"contains({value}, {literal})" for literal in ("'\"'", "','", "e'\\n'", "e'\\r'")),
        ]
    )
    return f"CASE WHEN {value} IS NULL THEN '' WHEN {needs_quotes} THEN {quoted} ELSE {value} END"


def csv_header(columns: list[str]) -> str:
    """The header line, quoted as the rows are."""
    fields = []
    for name in columns:
        quoted = name == "" or any(c in name for c in ',"\r\n')
        fields.append('"' + name.replace('"', '""') + '"' if quoted else name)
    return ",".join(fields) + "\n"


def csv_lines(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """One text column: each row as a CSV line, line break included (RFC 4180 quoting; lists
    and other nested values as JSON text)."""
    if not relation.columns:
        return relation
    fields = ", ',', ".join(_csv_field(i, t.id) for i, t in enumerate(relation.types, start=1))
    return text_cells(relation).project(f"concat({fields}, e'\\n') AS line")


def json_rows(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """One text column: each row as a JSON object after JSON_ROW_SEPARATOR, so that the rows are
    joined by slicing the separator off the first one. Values keep their JSON types; dates and
    timestamps are strings, lists arrays, non-finite floats null."""
    pairs = []
    for position, (name, column_type) in enumerate(zip(relation.columns, relation.types, strict=True), 1):
        value = f"#{position}"
        if column_type.id in _FLOAT_TYPES:
            value = f"CASE WHEN isfinite({value}) THEN {value} END"
        pairs.append(f"{_sql_string(name)}, {value}")
    if not pairs:
        return relation
    row = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)"
    return relation.project(f"{_sql_string(JSON_ROW_SEPARATOR)} || {row} AS line")


def line_bytes(batch: pa.RecordBatch) -> memoryview | bytes:
    """The text of a one-column batch of lines, all rows joined, without a copy when DuckDB
    handed the texts over in one buffer (the usual case)."""
    lines = batch.column(0)
    if len(lines) == 0:
        return b""
    offset_format = {pa.string(): "i", pa.large_string(): "q"}.get(lines.type)
    _, offsets, data = lines.buffers()
    if offset_format is None or lines.null_count or offsets is None or data is None:
        return "".join(lines.to_pylist()).encode()
    bounds = memoryview(offsets).cast(offset_format)
    start, end = bounds[lines.offset], bounds[lines.offset + len(lines)]
    return memoryview(data)[start:end]


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _without_kind(text: str) -> str:
    """'Permission Error: Cannot access file …' → 'Cannot access file …'."""
    return _ERROR_KIND.sub("", text, count=1)


def _statement_types(sql: str) -> set[str]:
    try:
        return {statement.type.name for statement in duckdb.extract_statements(sql)}
    except duckdb.Error:
        return set()


def classify_error(error: duckdb.Error, sql: str) -> Exception:
    """The error DuckDB raised for `sql`, as a refusal, a SQL error, or itself."""
    text = _first_line(error)
    detail = _without_kind(text)
    types = _statement_types(sql)

    def refused(what: str, advice: str) -> QueryRefusedError:
        return QueryRefusedError(f"query refused: {what}: {detail} — {advice}")

    if isinstance(error, duckdb.OutOfMemoryException):
        limit = os.environ.get(QUERY_MEMORY_ENV, "").strip() or QUERY_MEMORY_LIMIT
        return QueryMemoryError(
            f"query refused: it needs more than the {limit} a query may use: {detail} — "
            f"set {QUERY_MEMORY_ENV} (e.g. {QUERY_MEMORY_ENV}=2GB) for a larger analysis"
        )
    if "attached in read-only mode" in text:
        return refused("the warehouse is opened read-only", _READ_ONLY_ADVICE)
    if "configuration has been locked" in text or "while database is running" in text:
        return refused("settings cannot be changed", _OUTSIDE_ADVICE)
    if isinstance(error, duckdb.PermissionException):
        if "extension" in text.lower() or types & {"LOAD", "UPDATE_EXTENSIONS"}:
            return refused("installing or loading extensions is disabled", _OUTSIDE_ADVICE)
        if "ATTACH" in types:
            return refused("attaching other databases is disabled", _OUTSIDE_ADVICE)
        if "file system operations are disabled" in text:
            return refused("reading or writing files is disabled", _OUTSIDE_ADVICE)
        return refused("not permitted", _OUTSIDE_ADVICE)
    if "ATTACH" in types and (
        isinstance(error, duckdb.ResourceInUseException) or "in read-only mode" in text
    ):
        # the warehouse itself again, or a new in-memory database: neither may be attached
        return refused("attaching other databases is disabled", _OUTSIDE_ADVICE)
    if isinstance(error, duckdb.ProgrammingError | duckdb.DataError | duckdb.NotSupportedError):
        return QuerySqlError(f"bad SQL: {text} — {_SQL_ADVICE}")
    return error
