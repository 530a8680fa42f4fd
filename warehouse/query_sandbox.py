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
- lock_configuration=true, set right after the reader's TimeZone: SET, RESET and PRAGMA of any
  setting, so none of the above can be undone.

What these settings leave open, because it writes nothing outside the query: temporary tables
and macros (in memory, gone at close), SET VARIABLE, SET search_path / schema / USE, and read_blob
of the warehouse file itself (DuckDB always allows the database's own file: its bytes, which the
tables show anyway). A query that needs more memory than it has spills to `<warehouse>.tmp`, as
every DuckDB query does, and the spill is removed when the query ends.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

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


class QueryRefusedError(Exception):
    """The query connection refused a statement it does not allow; the message says what and why."""


class QuerySqlError(Exception):
    """The statement is not valid SQL for this warehouse (syntax, unknown name, bad value)."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@contextmanager
def open_query_connection(
    path: Path | str, *, timeout: float = LOCK_TIMEOUT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that cannot reach beyond the warehouse file (see the module docstring)."""
    with open_reader(path, timeout=timeout, config=dict(QUERY_CONNECT_SETTINGS)) as connection:
        for statement in LOCK_STATEMENTS:
            connection.execute(statement)
        yield connection


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
