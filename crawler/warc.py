"""WARC export of fetched responses (ISO 28500 via warcio): the web archives' own format.

Each fetch with an HTTP answer becomes a `request` record and a `response` record, so the archive
replays in standard tools (pywb, ReplayWeb.page). Fetches that never got an answer are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from io import BytesIO
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.fetch import FetchResult

_REASONS = {200: "OK", 301: "Moved Permanently", 304: "Not Modified", 404: "Not Found", 410: "Gone"}


def write_warc(results: Iterable[FetchResult], target: str | Path | BinaryIO, *, gzip: bool = True) -> int:
    """Append request/response pairs for `results` to `target`; returns the responses written."""
    if isinstance(target, str | Path):
        with open(target, "ab") as stream:
            return _write(results, stream, gzip)
    return _write(results, target, gzip)


def _write(results: Iterable[FetchResult], stream: BinaryIO, gzip: bool) -> int:
    writer = WARCWriter(stream, gzip=gzip)
    written = 0
    for result in results:
        if result.http_status is None:
            continue
        date = {"WARC-Date": result.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        parts = urlsplit(result.final_url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = StatusAndHeaders(
            f"GET {path} HTTP/1.1", result.request_headers, is_http_request=True
        )
        request = writer.create_warc_record(
            result.final_url, "request", http_headers=request_headers, warc_headers_dict=date
        )
        # The body is stored decoded; drop headers that describe the wire form it no longer has.
        headers = [
            (k, v)
            for k, v in result.response_headers
            if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
        ]
        status_line = f"{result.http_status} {_REASONS.get(result.http_status, 'Status')}"
        response = writer.create_warc_record(
            result.final_url,
            "response",
            payload=BytesIO(result.body or b""),
            http_headers=StatusAndHeaders(status_line, headers, protocol="HTTP/1.1"),
            warc_headers_dict=date,
        )
        writer.write_record(request)
        writer.write_record(response)
        written += 1
    return written
