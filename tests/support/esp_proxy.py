"""A small fault-injecting HTTP proxy to put in front of moto's SES server.

Modes, switched from the test while a worker sends through it:

- ``pass``: forward everything (optionally after ``delay`` seconds);
- ``fail``: answer the next requests with the given HTTP statuses (429, 500, ...) without forwarding;
- ``hold_requests``: keep requests waiting without forwarding them (the ESP "hangs" before accepting);
- ``hold_responses``: forward to moto, so the message is accepted, then keep the answer back (the ambiguous window).

``go_down()`` makes the ESP unreachable: the port stops listening (a new connection is refused, before any byte
leaves) and open keep-alive connections are cut; ``come_back()`` listens on the same port again.

``release()`` lets everything held go: held requests are answered 503 and never forwarded, held responses are
written back (to a client that may be dead by then). ``pass_then(n, mode)`` switches mode after ``n`` forwards.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.services import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
_ERROR_TYPES = {429: "TooManyRequestsException", 500: "InternalFailure", 503: "ServiceUnavailable"}


@dataclass
class EspProxy:
    upstream: str
    port: int = field(default_factory=free_port)
    mode: str = "pass"
    delay: float = 0.0
    failures: list[int] = field(default_factory=list)
    forwarded: int = 0
    failed: int = 0
    held: int = 0
    _switch_after: tuple[int, str] | None = None
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _handler: type[BaseHTTPRequestHandler] | None = None
    _connections: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- control ---

    def fail(self, statuses: list[int]) -> None:
        with self._lock:
            self.failures = list(statuses)
            self.mode = "fail"

    def pass_then(self, count: int, mode: str) -> None:
        with self._lock:
            self._switch_after = (self.forwarded + count, mode)
            self.mode = "pass"

    def release(self) -> None:
        with self._lock:
            self.mode = "pass"
            self._switch_after = None
        self._released.set()

    def wait_for_held(self, count: int, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.held < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.held} requests held after {timeout}s (forwarded {self.forwarded})")
            time.sleep(0.05)

    # --- serving ---

    def _decide(self) -> tuple[str, int | None]:
        with self._lock:
            if self.mode == "fail":
                status = self.failures.pop(0)
                if not self.failures:
                    self.mode = "pass"
                self.failed += 1
                return "fail", status
            if self.mode in ("hold_requests", "hold_responses"):
                self.held += 1
                self._released.clear()
                return self.mode, None
            self.forwarded += 1
            if self._switch_after and self.forwarded >= self._switch_after[0]:
                self.mode, self._switch_after = self._switch_after[1], None
            return "pass", None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        request = urllib.request.Request(self.upstream + path, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, list(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, list(error.headers.items()), error.read()

    def start(self) -> EspProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._connections.discard(self.connection)
                super().finish()

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, headers: list, body: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client died while we held it: that is the point

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                action, status = proxy._decide()
                if action == "fail":
                    error = {"message": f"injected {status}"}
                    self._reply(
                        status,
                        [("Content-Type", "application/json"), ("x-amzn-ErrorType", _ERROR_TYPES.get(status, ""))],
                        json.dumps(error).encode(),
                    )
                    return
                if action == "hold_requests":
                    proxy._released.wait()
                    self._reply(503, [("x-amzn-ErrorType", "ServiceUnavailable")], b'{"message": "released"}')
                    return
                if proxy.delay:
                    time.sleep(proxy.delay)
                reply = proxy.forward(self.command, self.path, headers, body)
                if action == "hold_responses":
                    proxy._released.wait()
                self._reply(*reply)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._handler = Handler
        self._listen()
        return self

    def _listen(self) -> None:
        assert self._handler is not None, "start() first"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def go_down(self) -> None:
        """Unreachable from now on: nothing listens, and connections kept alive by clients are cut."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        self._listen()

    def stop(self) -> None:
        self.release()
        self.go_down()
