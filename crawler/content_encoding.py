"""HTTP Content-Encoding undone with a bound on the unpacked size (gzip, deflate, in the order applied).

httpx's own decoders unpack each network chunk whole: a 64 KB chunk of a gzip bomb becomes ~64 MB
before any cap can look at it. Here output comes in steps of `INFLATE_STEP`, so memory stays within
the cap plus one step whatever the compression ratio (crawler.fetch reads the raw body and feeds it in).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

# Decompressed output is produced in steps of this size, so memory stays bounded whatever the ratio.
INFLATE_STEP = 64 * 1024


class BodyProblem(Exception):
    """The body cannot be used as sent (too large once unpacked, corrupt, unknown encoding)."""


class _Inflater:
    """One Content-Encoding step (gzip or deflate) undone in bounded steps."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        # gzip: header auto-detected (gzip or zlib); deflate: zlib-wrapped per RFC 9110, raw as found
        # in the wild is tried when the first bytes are not a zlib header.
        self._wbits = zlib.MAX_WBITS | 32 if coding != "deflate" else zlib.MAX_WBITS
        self._inflater = zlib.decompressobj(self._wbits)
        self._started = False

    def inflate(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while pending:
            if self._inflater.eof:
                if not pending.strip(b"\0"):
                    return  # zero padding after the last member
                self._inflater = zlib.decompressobj(self._wbits)  # another gzip member (RFC 1952)
            try:
                out = self._inflater.decompress(pending, INFLATE_STEP)
            except zlib.error as error:
                if self.coding == "deflate" and not self._started:
                    self._started = True
                    self._wbits = -zlib.MAX_WBITS
                    self._inflater = zlib.decompressobj(self._wbits)
                    continue
                raise BodyProblem(f"corrupt {self.coding} body ({error})") from None
            self._started = True
            if out:
                yield out
            pending = self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        if not self._started:
            return b""  # an empty body
        rest = self._inflater.flush()
        if not self._inflater.eof:
            raise BodyProblem(f"{self.coding} body ends before its end marker")
        return rest


class BoundedDecoder:
    """Undoes Content-Encoding (identity, gzip, deflate, in the order applied) with a cap on the
    unpacked size; memory stays within the cap plus one step whatever the compression ratio."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise BodyProblem(f"unsupported content encoding: {', '.join(unknown)}")
        self._steps = [_Inflater("deflate" if c == "deflate" else "gzip") for c in reversed(codings)]
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        self._push(0, data)

    def finish(self) -> bytes:
        for index, step in enumerate(self._steps):
            self._push(index + 1, step.finish())
        return b"".join(self._parts)

    def _push(self, index: int, data: bytes) -> None:
        if index == len(self._steps):
            self._keep(data)
            return
        for piece in self._steps[index].inflate(data):
            self._push(index + 1, piece)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            codings = ", ".join(step.coding for step in reversed(self._steps))
            raise BodyProblem(f"body larger than {self._cap} bytes once decompressed ({codings})")
        if data:
            self._parts.append(data)
