"""A fake vendor REST API on loopback, for the demo, end-to-end tests and plugin authors.

It is a real HTTP server (waitress, in a thread on an ephemeral port, keeping connections alive). Each
connector supplies its routes; this class records every request, keeps ticket
state the routes change, and can be told to misbehave: answer 429 with
``Retry-After``, 409, 5xx, or slowly.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from waitress.server import create_server
from werkzeug.wrappers import Request, Response

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
        # waitress keeps connections alive, as the vendors do (werkzeug's server closes each one)
        logging.getLogger("waitress").setLevel(logging.ERROR)
        self._server = create_server(self._wsgi, host="127.0.0.1", port=0, threads=self.threads,
                                     ident=f"fake-{self.name}")
        self._thread = threading.Thread(target=self._server.run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            server, self._server = self._server, None
            server.task_dispatcher.shutdown(timeout=1)

            def close_all() -> None:
                for dispatcher in list(server._map.values()):
                    dispatcher.close()
            try:
                server.trigger.pull_trigger(close_all)  # closed by the server's own loop, which then ends
            except OSError:  # its wake-up pipe is already closed (seen once in CI): close from here
                close_all()
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.effective_port}"

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

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        recorded = Recorded(request.method, request.path, dict(request.args), dict(request.headers), body, time.time())
        with self.lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            fault = next((f for f in self.faults if f.method == request.method and f.path == request.path), None)
            if fault:
                self.faults.remove(fault)
            elif self._outage and time.time() < self._outage[0]:
                _until, status, headers, delay = self._outage
                fault = Fault(request.method, request.path, status, headers, delay)
        try:
            if self.latency:
                time.sleep(self.latency)
            if fault:
                time.sleep(fault.delay)
                payload = fault.body or {"error": f"injected {fault.status}"}
                status, headers = fault.status, fault.headers
            else:
                status, payload, headers = self._handle(request.method, request.path, body, dict(request.args))
        finally:
            with self.lock:
                self.in_flight -= 1
        recorded.status = status
        text = "" if payload is None else json.dumps(payload)
        return Response(text, status=status, headers=headers, mimetype="application/json")(environ, start_response)

    def _handle(self, method: str, path: str, body: Any, query: dict[str, str]) -> tuple[int, Any, dict]:
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                takes_query = handler.__code__.co_argcount >= 4
                with self.lock:
                    status, payload = handler(self, match, body, query) if takes_query else handler(self, match, body)
                return status, payload, {}
        return 404, {"error": f"no route {method} {path} in the fake {self.name} API"}, {}
