"""A small HTTP server on 127.0.0.1 for fetch, poll and lookup tests: fixed routes, ETag / Last-Modified, slow
answers, and answers that change from one request to the next (a 429, then the real answer).

A route is found by the request's full path (query string included), else by its path alone; a list of routes is
served in turn, its last one for every request after that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0  # seconds to wait before answering (a server that hangs)
    chunked: bool = False  # no Content-Length: the size is only known while streaming
    headers: dict[str, str] = field(default_factory=dict)  # more response headers (Retry-After, ...)


@dataclass
class LocalServer:
    port: int
    routes: dict[str, Route | list[Route]]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.time() of each request, in order
    served: dict[str, int] = field(default_factory=dict)  # route key -> requests it answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route_for(self, path: str) -> Route | None:
        key = path if path in self.routes else path.partition("?")[0]
        found = self.routes.get(key)
        if found is None:
            return None
        with self.lock:  # the server answers each request on its own thread
            count = self.served.get(key, 0)
            self.served[key] = count + 1
        if isinstance(found, list):
            return found[min(count, len(found) - 1)]
        return found


@contextmanager
def local_server(routes: dict[str, Route | list[Route]]) -> Iterator[LocalServer]:
    closing = threading.Event()
    state = LocalServer(port=0, routes=routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            state.arrived.append(time.time())
            state.requests.append((self.path, {k: v for k, v in self.headers.items()}))
            route = state.route_for(self.path)
            if route is None:
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            if route.delay and closing.wait(route.delay):
                return
            if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            ):
                self._send(304, b"", {})
                return
            headers = {"Content-Type": route.content_type, **route.headers}
            if route.etag:
                headers["ETag"] = route.etag
            if route.last_modified:
                headers["Last-Modified"] = route.last_modified
            self._send(route.status, route.body, headers, chunked=route.chunked)

        def _send(self, status: int, body: bytes, headers: dict[str, str], *, chunked: bool = False) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status == 304:
                self.end_headers()
                return
            try:
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 1 << 20):
                        piece = body[start : start + (1 << 20)]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a size cap or a timeout): that is what the test wanted

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        closing.set()
        server.shutdown()
        server.server_close()
