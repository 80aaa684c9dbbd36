"""Answers the rules work out once for the objects they were asked about, known by identity.

Contracts, customers and calendar specs are frozen and replaced whole when their files are
reloaded, so an object's identity stands for its content: no hashing of a whole contract.
An entry keeps its objects alive, so their ids cannot be reused by others while it exists;
a reload brings new objects, hence new entries, and the oldest are dropped all at once
when ``kept`` is reached.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class ByIdentity(Generic[V]):
    def __init__(self, kept: int = 4096):
        self._entries: dict[tuple, tuple[tuple, V]] = {}
        self.kept = kept

    def get(self, key: Hashable, objects: tuple, work_out: Callable[..., V], *arguments: Any) -> V:
        """The answer for ``key``, ``work_out(*arguments)`` on first asking. ``key`` names ``objects`` by their
        ids (with whatever else the answer depends on, by value); the entry keeps the objects themselves."""
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        answer = work_out(*arguments)
        if len(self._entries) >= self.kept:
            self._entries.clear()
        self._entries[key] = (objects, answer)
        return answer
