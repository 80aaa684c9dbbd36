"""Vendor look-ups the rules need but a webhook left out (a requester's e-mail, an organization).

Deciding stays pure: a connector's ``enrich`` reads only this cache and raises
:class:`LookupNeeded` on a miss. The worker then makes the look-up through the
vendor's client — outside any database transaction, with the client's retry
policy — stores the answer here and decides the event again. An answer of
``None`` means "the vendor does not know": the rules then treat the value as
unknown, never as a reason to refuse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class LookupNeeded(Exception):
    """The decision needs ``kind`` ``key`` from ``vendor`` (say ``user`` ``"8447388090494"``)."""

    def __init__(self, vendor: str, kind: str, key: str):
        super().__init__(f"{vendor} {kind} {key} must be looked up")
        self.vendor, self.kind, self.key = vendor, kind, key


class Lookups:
    """Answers of earlier look-ups, each kept for ``ttl_seconds`` (unknowns for ``unknown_ttl_seconds``).

    One per process, shared by its worker threads: a user looked up by one thread is not looked up again
    by the next (each request counts against the vendor's rate limit).
    """

    def __init__(self, ttl_seconds: float = 900.0, unknown_ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 50_000):
        self.ttl, self.unknown_ttl, self.clock, self.max_entries = ttl_seconds, unknown_ttl_seconds, clock, max_entries
        self._answers: dict[tuple[str, str, str], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()  # puts (rare) take turns; gets read whichever dict is current
        self.made = 0  # look-ups made through this cache (for tests and the operator)

    def get(self, vendor: str, kind: str, key: str) -> dict[str, Any] | None:
        """The cached answer; raises LookupNeeded when there is none or it has expired."""
        entry = self._answers.get((vendor, kind, key))
        if entry is None or entry[0] < self.clock():
            raise LookupNeeded(vendor, kind, key)
        return entry[1]

    def put(self, vendor: str, kind: str, key: str, answer: dict[str, Any] | None) -> None:
        ttl = self.ttl if answer is not None else self.unknown_ttl
        with self._lock:
            if len(self._answers) >= self.max_entries:
                now = self.clock()
                answers = {k: v for k, v in self._answers.items() if v[0] >= now}
                self._answers = answers if len(answers) < self.max_entries else {}
            self._answers[(vendor, kind, key)] = (self.clock() + ttl, answer)

    def fetch(self, needed: LookupNeeded, look_up: Callable[[str, str], dict[str, Any] | None]) -> None:
        """Make the look-up ``needed`` names with ``look_up(kind, key)`` and keep its answer."""
        with self._lock:
            self.made += 1
        self.put(needed.vendor, needed.kind, needed.key, look_up(needed.kind, needed.key))
