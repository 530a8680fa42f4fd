"""Raw input bytes: how they are encoded in `raw_pages` and how to get them back."""

from __future__ import annotations

import hashlib
import zlib

import duckdb

# 'identity' stores the bytes as received and leaves compression to DuckDB's ZSTD string storage;
# 'zlib' compresses in Python first. See benchmarks/load.py for the figures behind the choice.
RAW_ENCODING = "identity"
_ZLIB_LEVEL = 1

SELECT_RAW_PAGE = "SELECT encoding, data FROM raw_pages WHERE raw_sha256 = ?"


def raw_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_raw(data: bytes, encoding: str = RAW_ENCODING) -> bytes:
    if encoding == "identity":
        return data
    if encoding == "zlib":
        return zlib.compress(data, _ZLIB_LEVEL)
    raise ValueError(f"unknown raw page encoding {encoding!r}")


def decode_raw(encoding: str, stored: bytes) -> bytes:
    if encoding == "identity":
        return stored
    if encoding == "zlib":
        return zlib.decompress(stored)
    raise ValueError(f"unknown raw page encoding {encoding!r}")


def raw_page_bytes(conn: duckdb.DuckDBPyConnection, sha: str) -> bytes:
    """The original bytes stored under `sha` (hex sha256); KeyError if the warehouse has none."""
    row = conn.execute(SELECT_RAW_PAGE, [sha]).fetchone()
    if row is None:
        raise KeyError(f"no raw page with sha256 {sha}")
    encoding, stored = row
    return decode_raw(encoding, bytes(stored))
