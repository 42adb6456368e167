"""A local HTTP server whose JSON answer (and status code) the test sets: a real server for the http source, and a
sink that keeps what is POSTed to it (notifications)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JsonServer", "json_server"]


class JsonServer:
    def __init__(self) -> None:
        self.document: Any = {}
        self.status = 200
        self.requests = 0
        self.received: list[Any] = []
        """JSON bodies POSTed to it, in order (answered with the status set by `serve`)."""
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    body, status = json.dumps(server.document).encode(), server.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with server._lock:
                    server.requests += 1
                    status = server.status
                    if status < 300:
                        server.received.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def serve(self, document: Any, status: int = 200) -> None:
        with self._lock:
            self.document, self.status = document, status

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@contextmanager
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
