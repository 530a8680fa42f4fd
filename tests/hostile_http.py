"""A hostile HTTP/1.1 server for tests: the replica site on 127.0.0.1, except for chosen paths,
which answer the way a broken or malicious server would (a byte a second, bombs, huge heads, an
endless Retry-After).

It runs an asyncio loop in a background thread, so a path that drips a byte a second holds no
thread. Every answer closes its connection; each request is logged with its arrival time.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from replica import ReplicaSite

Behaviour = Callable[[asyncio.StreamWriter], Awaitable[None]]

# A dripping answer stops on its own after this long, so a client that never gives up cannot keep a
# test (or the server's thread) alive for ever; the tests' bounds are far below it.
MAX_DRIP_SECONDS = 120.0
_WRITE_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    at: float  # time.monotonic() when its head had arrived
    method: str
    path: str
    headers: dict[str, str]  # names in lower case


class HostileServer:
    """`routes` maps a path (no query) to a behaviour; other paths are answered by `site`."""

    def __init__(self, site: ReplicaSite, host: str = "127.0.0.1") -> None:
        self.site = site
        self.host = host
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> str:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.host, 0, limit=1 << 20), self._loop
        )
        self._server = started.result(timeout=10)
        self.base_url = f"http://{self.host}:{self._server.sockets[0].getsockname()[1]}"
        return self.base_url

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for handler in list(self._handlers):
                handler.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            parts = urlsplit(target)
            self.requests.append(Request(time.monotonic(), method, parts.path, headers))
            behaviour = self.routes.get(parts.path)
            if behaviour is not None:
                await behaviour(writer)
            else:
                await self._replica_answer(writer, method, parts.path, parts.query, headers)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client gave up: what a hostile answer is for
        except asyncio.CancelledError:
            pass  # the server stops; ending quietly spares asyncio's "task was cancelled" report
        finally:
            self._handlers.discard(task)
            with suppress(Exception):
                writer.close()

    async def _replica_answer(
        self, writer: asyncio.StreamWriter, method: str, path: str, query: str, headers: dict[str, str]
    ) -> None:
        response = self.site.respond(method, path, query, headers, self.base_url)
        if response.delay:
            await asyncio.sleep(response.delay)
        body = response.body if response.stream is None else b"".join(response.stream)
        await write_all(writer, head(response.status, {**response.headers, "Content-Length": str(len(body))}))
        if method != "HEAD":
            await write_all(writer, body)


@contextmanager
def serving(site: ReplicaSite, host: str = "127.0.0.1") -> Iterator[HostileServer]:
    server = HostileServer(site, host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- answers ---------------------------------------------------------------------------------


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


async def write_all(writer: asyncio.StreamWriter, data: bytes) -> None:
    for start in range(0, len(data), _WRITE_CHUNK):
        writer.write(data[start : start + _WRITE_CHUNK])
        await writer.drain()


async def drip(writer: asyncio.StreamWriter, data: bytes, interval: float) -> None:
    """`data` one byte every `interval` seconds, then more filler: an answer that never completes."""
    stop_at = time.monotonic() + MAX_DRIP_SECONDS
    position = 0
    while time.monotonic() < stop_at and not writer.is_closing():
        writer.write(data[position : position + 1] if position < len(data) else b"x")
        await writer.drain()
        position += 1
        await asyncio.sleep(interval)


def static(
    body: bytes, content_type: str = "text/html; charset=utf-8", status: int = 200, **headers: str
) -> Behaviour:
    """A complete answer (headers given as keyword arguments, underscores for dashes)."""
    extra = {name.replace("_", "-"): value for name, value in headers.items()}

    async def answer(writer: asyncio.StreamWriter) -> None:
        fields = {"Content-Type": content_type, **extra, "Content-Length": str(len(body))}
        await write_all(writer, head(status, fields) + body)

    return answer


def slow_head(interval: float = 1.0) -> Behaviour:
    """The status line and headers one byte per `interval`: the head never ends."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        await drip(writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ", interval)

    return answer


def slow_body(interval: float = 1.0, length: int = 200_000) -> Behaviour:
    """A prompt head announcing `length` bytes, then the body one byte per `interval`."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        await write_all(writer, head(200, {"Content-Type": "text/html", "Content-Length": str(length)}))
        await drip(writer, b"<!DOCTYPE html><html><body>", interval)

    return answer


def huge_head(size: int = 2_000_000) -> Behaviour:
    """A 200 whose header block is `size` bytes of filler lines before a small body."""
    line = "X-Filler: " + "a" * 990
    count = size // (len(line) + 2)

    async def answer(writer: asyncio.StreamWriter) -> None:
        filler = "".join(f"{line}\r\n" for _ in range(count)).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        await write_all(writer, filler)
        await write_all(writer, b"Content-Length: 2\r\nConnection: close\r\n\r\nok")

    return answer


def retry_after(seconds: int = 100_000, status: int = 429) -> Behaviour:
    return static(f"<h1>{status}</h1>".encode(), status=status, Retry_After=str(seconds))


def file_body(path: Path, content_type: str = "text/html", content_encoding: str | None = None) -> Behaviour:
    """The bytes of `path`, streamed, with the given type (and Content-Encoding when given)."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        fields = {"Content-Type": content_type, "Content-Length": str(path.stat().st_size)}
        if content_encoding:
            fields["Content-Encoding"] = content_encoding
        writer.write(head(200, fields))
        with path.open("rb") as stream:
            while chunk := stream.read(_WRITE_CHUNK):
                writer.write(chunk)
                await writer.drain()

    return answer


# --- hostile bodies --------------------------------------------------------------------------


def write_gzip_bomb(target: Path, unpacked_gib: int = 4) -> Path:
    """One gzip member of zeros unpacking to `unpacked_gib` GiB (~1 MB packed per GiB).

    Each 1 MiB of zeros is compressed after a full flush, so every block after the first is the
    same bytes: the file is written in about a second instead of compressing GiBs.
    """
    mib = bytes(1 << 20)
    blocks = unpacked_gib * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = compressor.flush()[:-8]  # the empty last block, without the trailer of 2 MiB
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(mib, crc)
    with target.open("wb") as out:
        out.write(first)
        for _ in range(blocks - 1):
            out.write(repeated)
        out.write(final_block + struct.pack("<II", crc, (blocks << 20) & 0xFFFFFFFF))
    return target


def big_feed(links: list[str], fake_items: int) -> bytes:
    """An RSS feed with `links` first, then `fake_items` short items of distinct article ids."""
    items = [f"<item><link>{link}</link></item>" for link in links]
    items += [f"<item><link>/ru/n-{i:08x}</link></item>" for i in range(fake_items)]
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Kazinform</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def deep_page(depth: int = 100_000) -> bytes:
    return b"<!DOCTYPE html><html><body>" + b"<div>" * depth + b"text" + b"</div>" * depth + b"</body></html>"
