"""Raw input bytes: how they are encoded in `raw_pages` and how to get them back.

Pages are compressed one by one with zstd, and only those not stored yet: the load compresses the
bodies whose sha256 it does not find in `raw_pages` (warehouse.stage), so a revisit compresses what
changed. DuckDB then stores small incompressible blobs instead of compressing long ones itself at
checkpoint. DuckDB's own ZSTD works on whole vectors of rows and so also
finds what pages have in common: on the benchmark's synthetic text copies it stores raw bytes in
~0.9 KB per page where per-page zstd takes ~1.5 KB, but it costs the writer ~60 µs per page at
every checkpoint. A page that zstd does not shrink (tiny inputs) is stored as it is.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import duckdb
import pyarrow as pa

# Encodings a stored page may have; 'zlib' rows come from earlier releases and stay readable.
IDENTITY, ZSTD, ZLIB = "identity", "zstd", "zlib"
RAW_ENCODING = ZSTD
_ZSTD = pa.Codec("zstd", compression_level=3)

SELECT_RAW_PAGE = "SELECT encoding, data, size FROM raw_pages WHERE raw_sha256 = ?"


def raw_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_raw(data: bytes, encoding: str = RAW_ENCODING) -> tuple[str, bytes]:
    """(encoding actually used, stored bytes): falls back to identity when compression does not pay."""
    if encoding == IDENTITY:
        return IDENTITY, data
    if encoding == ZSTD:
        packed = _ZSTD.compress(data, asbytes=True)
    elif encoding == ZLIB:
        packed = zlib.compress(data, 1)
    else:
        raise ValueError(f"unknown raw page encoding {encoding!r}")
    return (encoding, packed) if len(packed) < len(data) else (IDENTITY, data)


@dataclass(frozen=True, slots=True)
class PackedRaw:
    """A raw body hashed and compressed where it was read, so what waits for the load is its
    compressed form (an HTML page shrinks ~5×) and the load neither hashes nor compresses it again."""

    sha256: str
    encoding: str
    data: bytes  # the stored form (`encoding` applied)
    size: int  # the original length


def pack_raw(data: bytes, sha256: str | None = None) -> PackedRaw:
    """`data` compressed; `sha256`: its hash when the caller has it already."""
    encoding, stored = encode_raw(data)
    return PackedRaw(sha256 or raw_sha256(data), encoding, stored, len(data))


# Many bodies are hashed or compressed in chunks on a few threads: hashlib and pyarrow's zstd release
# the GIL on bodies of a few KB, so 2 cores do the work of a large batch in ~0.75 of the time
# (50,000 text copies: hash + compress 1.94 s on one thread, 1.47 s on two). Below
# PARALLEL_FROM bodies the pool's hand-offs cost more than they save.
PARALLEL_FROM = 2_000
_CHUNK = 1_000
_THREADS = min(os.cpu_count() or 1, 4)
_In = TypeVar("_In")
_Out = TypeVar("_Out")


def _map_chunked(work: Callable[[_In], _Out], items: Sequence[_In]) -> list[_Out]:
    """`[work(item) for item in items]`, in order, on `_THREADS` threads when there are many items."""
    if len(items) < PARALLEL_FROM or _THREADS == 1:
        return [work(item) for item in items]
    chunks = [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]
    with ThreadPoolExecutor(_THREADS, thread_name_prefix="raw-bodies") as pool:
        done = pool.map(lambda chunk: [work(item) for item in chunk], chunks)
        return [result for chunk in done for result in chunk]


def sha256_each(bodies: Sequence[bytes | None]) -> list[str | None]:
    """The sha256 of each body (None stays None), in order."""
    return _map_chunked(lambda body: raw_sha256(body) if body is not None else None, bodies)


def pack_each(shas: Sequence[str], bodies: Sequence[bytes]) -> list[PackedRaw]:
    """Each body packed under its sha256, already known (staging hashed it): only compressed here."""
    encoded = _map_chunked(encode_raw, bodies)
    return [
        PackedRaw(sha, encoding, stored, len(body))
        for sha, (encoding, stored), body in zip(shas, encoded, bodies, strict=True)
    ]


def decode_raw(encoding: str, stored: bytes, size: int) -> bytes:
    """The original bytes; `size` is their length (zstd needs it to decompress)."""
    if encoding == IDENTITY:
        return stored
    if encoding == ZSTD:
        return _ZSTD.decompress(stored, decompressed_size=size, asbytes=True)
    if encoding == ZLIB:
        return zlib.decompress(stored)
    raise ValueError(f"unknown raw page encoding {encoding!r}")


def raw_page_bytes(conn: duckdb.DuckDBPyConnection, sha: str) -> bytes:
    """The original bytes stored under `sha` (hex sha256); KeyError if the warehouse has none."""
    row = conn.execute(SELECT_RAW_PAGE, [sha]).fetchone()
    if row is None:
        raise KeyError(f"no raw page with sha256 {sha}")
    encoding, stored, size = row
    return decode_raw(encoding, bytes(stored), size)
