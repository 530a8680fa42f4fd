"""Serving a ReplicaSite over HTTP/1.1 on 127.0.0.1 (standard library, one thread per connection)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from replica.site import ReplicaSite, Response


class _ReplicaServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once
    site: ReplicaSite

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gives up (timeouts, oversized bodies) resets its connection: expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, which is what a crawler's client pool expects.
    protocol_version = "HTTP/1.1"
    server: _ReplicaServer
    server_version = "KazinformReplica/0.1"
    # Headers and body go out as one packet; otherwise Nagle + delayed ACK add ~40 ms per request.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.site.respond(self.command, parts.path, parts.query, headers, f"http://{host}")
        if response.delay:
            time.sleep(response.delay)
        try:
            self._write(response, send_body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout, size cap): expected in fault phases.
            self.close_connection = True

    def _write(self, response: Response, send_body: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        streamed_without_length = response.stream is not None and "Content-Length" not in response.headers
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        if streamed_without_length:
            # No length and no chunking: the end of the body is the end of the connection.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not send_body:
            return
        if response.stream is not None:
            for chunk in response.stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        elif response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The site keeps its own request_log; stderr noise would drown test output.
        pass


@contextmanager
def serve(site: ReplicaSite, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `site` in a background thread; yields its base address (a free port when port=0)."""
    server = _ReplicaServer((host, port), _Handler)
    server.site = site
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
