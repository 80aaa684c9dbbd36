"""A fake vendor REST API on loopback, for the demo, end-to-end tests and plugin authors.

It is a real HTTP/1.1 server on an ephemeral port: a thread per connection, connections kept alive as
the vendors keep them, each request read and answered by that thread (plain sockets: the fake's own
CPU is not what the benchmarks measure, so it stays small). Each connector supplies its routes; this
class records every request, keeps ticket state the routes change, and can be told to misbehave:
answer 429 with ``Retry-After``, 409, 5xx, or slowly.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

Handler = Callable[..., tuple[int, Any]]  # (api, match, body) or (api, match, body, query) -> (status, payload)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class Fault:
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None


class FakeAPI:
    def __init__(self, name: str, routes: list[tuple[str, str, Handler]]):
        self.name = name
        self.routes = [(m, re.compile(p + r"\Z"), h) for m, p, h in routes]
        self.tickets: dict[str, dict[str, Any]] = {}
        self.records: dict[tuple[str, str], Any] = {}  # (kind, id) -> what a look-up route answers
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self._outage: tuple[float, int, dict[str, str], float] | None = None
        self.latency = 0.0  # seconds every answer waits, as a vendor across the internet does
        self.threads = 4  # requests served at once (raise it with ``latency`` to serve many clients)
        self.in_flight = self.most_in_flight = 0  # requests being answered now, and at most so far

    # --- control ----------------------------------------------------------

    def start(self) -> "FakeAPI":
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()
            server.close_connections()
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, method: str, path: str, status: int, headers: dict[str, str] | None = None,
                  delay: float = 0.0, body: Any = None) -> None:
        """Answer the next ``method path`` request with ``status`` instead of handling it."""
        self.faults.append(Fault(method, path, status, headers or {}, delay, body))

    def outage(self, status: int, seconds: float, headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """Answer every request with ``status`` (after ``delay``) for the next ``seconds``: a vendor outage."""
        with self.lock:
            self._outage = (time.time() + seconds, status, headers or {}, delay)

    def writes(self) -> list[Recorded]:
        """Every request that was not a read."""
        return [r for r in self.requests if r.method != "GET"]

    def ticket(self, ticket_id: str, **defaults: Any) -> dict[str, Any]:
        """The stored ticket, created with ``defaults`` if new."""
        return self.tickets.setdefault(str(ticket_id), {"id": ticket_id, "tags": [], "comments": [], **defaults})

    def record(self, kind: str, key: str) -> Any:
        """A stored user, organization or the like for look-up routes; None (404) if unknown."""
        return self.records.get((kind, str(key)))

    # --- serving ----------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, dict]:
        """One request: recorded, then faulted or routed. Returns (status, JSON text, extra headers)."""
        path, _, query_text = target.partition("?")
        path = unquote(path, errors="replace")
        query: dict[str, str] = {}
        for key, value in parse_qsl(query_text, keep_blank_values=True):
            query.setdefault(key, value)
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        recorded = Recorded(method, path, query, headers, body, time.time())
        with self.lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            fault = next((f for f in self.faults if f.method == method and f.path == path), None)
            if fault:
                self.faults.remove(fault)
            elif self._outage and time.time() < self._outage[0]:
                _until, status, outage_headers, delay = self._outage
                fault = Fault(method, path, status, outage_headers, delay)
        try:
            if self.latency:
                time.sleep(self.latency)
            if fault:
                time.sleep(fault.delay)
                payload = fault.body or {"error": f"injected {fault.status}"}
                status, extra = fault.status, fault.headers
            else:
                status, payload, extra = self._handle(method, path, body, query)
        finally:
            with self.lock:
                self.in_flight -= 1
        recorded.status = status
        return status, "" if payload is None else json.dumps(payload), extra

    def _handle(self, method: str, path: str, body: Any, query: dict[str, str]) -> tuple[int, Any, dict]:
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                takes_query = handler.__code__.co_argcount >= 4
                with self.lock:
                    status, payload = handler(self, match, body, query) if takes_query else handler(self, match, body)
                return status, payload, {}
        return 404, {"error": f"no route {method} {path} in the fake {self.name} API"}, {}


class _Server(socketserver.ThreadingTCPServer):
    """Loopback, an ephemeral port, a daemon thread per connection; at most ``api.threads`` requests
    answered at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: FakeAPI):
        self.api = api
        self.slots = threading.BoundedSemaphore(api.threads)
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Connection)

    def close_connections(self) -> None:
        """End every kept-alive connection (their threads then return)."""
        with self.open_lock:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Connection(socketserver.StreamRequestHandler):
    """HTTP/1.1 requests on one connection, answered in turn until the client closes it or asks to."""

    server: _Server

    def handle(self) -> None:
        with self.server.open_lock:
            self.server.open.add(self.connection)
        try:
            while self._one():
                pass
        except (OSError, ValueError):  # the client went away, or sent what is not HTTP
            pass
        finally:
            with self.server.open_lock:
                self.server.open.discard(self.connection)

    def _one(self) -> bool:
        """Read and answer one request; False when the connection is to be closed."""
        line = self.rfile.readline(65537)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().title()] = value.strip()
        length = headers.get("Content-Length") or "0"
        problem = ("the request line is not METHOD TARGET VERSION" if len(parts) != 3 else
                   "the fake reads bodies by Content-Length only" if "Transfer-Encoding" in headers else
                   f"Content-Length {length[:40]!r} is not a number" if not length.isdigit() else None)
        if problem:
            self._send(400, json.dumps({"error": problem}), {"Connection": "close"})
            return False
        method, target, version = parts
        raw = self.rfile.read(int(length))
        with self.server.slots:
            status, text, extra = self.server.api.answer(method, target, headers, raw)
        closing = version != "HTTP/1.1" or headers.get("Connection", "").lower() == "close"
        self._send(status, text, {**extra, "Connection": "close"} if closing else extra)
        return not closing

    def _send(self, status: int, text: str, extra: dict[str, str]) -> None:
        body = text.encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}",
                *(f"{name}: {value}" for name, value in extra.items())]
        self.connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
