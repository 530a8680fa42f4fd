"""The command line's one error path: every error becomes one line (`what went wrong — what to do`)
and an exit status; and the checks of a path given to `kazinform parse`."""

from __future__ import annotations

import argparse
import errno
import stat
from pathlib import Path

# Exit statuses: a run that failed, a command given wrongly, and Ctrl-C (128 + SIGINT, as shells do).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_CHECK_PATH = "check the path"
_FIX_LINK = "fix or remove the link"
_CHECK_PERMISSIONS = "check the file's permissions"
_ADVICE_BY_ERRNO: dict[int, str] = {
    errno.ELOOP: _FIX_LINK,
    errno.EACCES: _CHECK_PERMISSIONS,
    errno.EPERM: _CHECK_PERMISSIONS,
}
_DEBUG_ADVICE = "run again with --debug to see where it happened"
_PREFECT_ADVICE = (
    "check that the Prefect API answers (PREFECT_API_URL), or unset PREFECT_API_URL to let kazinform "
    "start a local server"
)
_OS_ERROR_REASONS: dict[int, str] = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "symbolic link loop",
    errno.EISDIR: "is a directory",
    errno.ENOSPC: "no space left on the device",
}


class UnreadableInputError(Exception):
    """A path given to `parse` that cannot be read as one input; says why and what to do."""

    def __init__(self, reason: str, advice: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(f"{reason} — {advice}")
        self.status = status


def read_input_file(path: Path) -> bytes:
    """The bytes of one input file, refused in words if it is no readable file or is over the cap."""
    from flows.read import describe_os_error  # here: `query` and `history` need no parser imports
    from parsers.limits import InputTooLargeError, read_capped

    try:
        info = path.stat()  # follows links: a loop or a dangling link fails here, before any read
        if stat.S_ISDIR(info.st_mode):
            advice = "`kazinform parse` takes files; `kazinform ingest DIR` reads a directory"
            raise UnreadableInputError("is a directory", advice, EXIT_USAGE)
        if not stat.S_ISREG(info.st_mode):  # a pipe or device could block or never end
            raise UnreadableInputError("not a regular file (a device, pipe or socket)", _CHECK_PATH)
        return read_capped(path)
    except InputTooLargeError as error:
        advice = "news pages are 100–300 KB; check that this file is one"
        raise UnreadableInputError(str(error), advice) from error
    except OSError as error:
        reason = describe_os_error(path, error)
        advice = _FIX_LINK if reason.startswith("dangling") else _ADVICE_BY_ERRNO.get(error.errno or 0)
        raise UnreadableInputError(reason, advice or _CHECK_PATH) from error


def first_line(text: object) -> str:
    return (str(text).strip().splitlines() or [""])[0]


def _with_advice(message: str, advice: str) -> str:
    """`message — advice`, unless the message already says what to do."""
    return message if " — " in message else f"{message} — {advice}"


def describe_error(error: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """The one line (`what went wrong — what to do`) and exit status for an error a command raised."""
    import duckdb

    from flows.prefect_api import PrefectApiError
    from parsers.registry import UnknownSourceError
    from parsers.source import SourceDefinitionError
    from warehouse.db import (
        WarehouseError,
        WarehouseLockedError,
        WarehouseNotFoundError,
        resolve_warehouse_path,
    )
    from warehouse.query_sandbox import QueryRefusedError, QuerySqlError

    if isinstance(error, QueryRefusedError | QuerySqlError | UnknownSourceError):
        return first_line(error), EXIT_USAGE
    if isinstance(error, SourceDefinitionError):  # a source's own file (or package) is wrong
        return _with_advice(first_line(error), "fix that source's definition"), EXIT_FAILURE
    if isinstance(error, WarehouseNotFoundError):
        path = resolve_warehouse_path(getattr(args, "warehouse", None))
        return (
            f"no warehouse at {path} — run `kazinform ingest` first, or pass --warehouse FILE "
            "(or set $KAZINFORM_WAREHOUSE)",
            EXIT_FAILURE,
        )
    if isinstance(error, WarehouseLockedError):
        message, _, advice = first_line(error).partition("; ")
        return _with_advice(message, advice or "try again when the other run has finished"), EXIT_FAILURE
    if isinstance(error, WarehouseError):
        advice = "check that the file is a kazinform warehouse (a DuckDB file) that can be read"
        return _with_advice(first_line(error), advice), EXIT_FAILURE
    if isinstance(error, PrefectApiError):
        message = first_line(error)  # most of these already say what to do, naming PREFECT_API_URL
        return (
            message if "PREFECT_API_URL" in message else _with_advice(message, _PREFECT_ADVICE)
        ), EXIT_FAILURE
    if isinstance(error, duckdb.InterruptException) or str(error) == "Query interrupted":
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(error, duckdb.Error):
        return f"warehouse error: {first_line(error)} — {_DEBUG_ADVICE}", EXIT_FAILURE
    if isinstance(error, OSError):
        return _describe_os_error(error), EXIT_FAILURE
    if isinstance(error, MemoryError):
        return "out of memory — give the run more memory, or fewer inputs at a time", EXIT_FAILURE
    module = type(error).__module__
    what = first_line(error) or type(error).__name__
    if module.startswith(("httpx", "httpcore")):
        return f"network error: {what} — {_PREFECT_ADVICE}", EXIT_FAILURE
    if module.startswith("prefect"):
        return f"Prefect: {what} — {_PREFECT_ADVICE}", EXIT_FAILURE
    return f"unexpected error ({type(error).__name__}: {first_line(error)}) — {_DEBUG_ADVICE}", EXIT_FAILURE


def _describe_os_error(error: OSError) -> str:
    reason = _OS_ERROR_REASONS.get(error.errno or 0) or (error.strerror or "").lower() or str(error)
    if error.filename is None:
        return f"{reason} — check the paths and the network this command uses"
    target = f" → {error.filename2}" if error.filename2 is not None else ""
    return f"{error.filename}{target}: {reason} — check the path and its permissions"
