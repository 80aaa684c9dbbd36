"""Writes from concurrent threads share one transaction and one durable commit.

SQLite commits one writer at a time, each commit with its own ``fsync``. When several
threads of a process (``slabridge serve``'s, or gunicorn's gthread workers') each
have a webhook to store, the first to arrive writes every row waiting at that moment
in one transaction; those that arrive during its commit wait and go together in the
next, written by one of them. Each caller returns only once its own row is committed
(or with its own error), so an answer still means "on disk". A caller alone pays a
lock and nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_PENDING = object()


class _Slot:
    __slots__ = ("item", "outcome")

    def __init__(self, item) -> None:
        self.item = item
        self.outcome = _PENDING

    def result(self):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class GroupCommit(Generic[Item, Result]):
    """Calls of :meth:`submit` from many threads, run in batches by ``write``: a list of items in, one
    outcome per item back (a result, or the exception that item's caller raises). If ``write``
    raises, every caller of that batch raises it."""

    def __init__(self, write: Callable[[list[Item]], list[Result | BaseException]]):
        self._write = write
        self._changed = threading.Condition(threading.Lock())
        self._waiting: list[_Slot] = []
        self._writing = False

    def submit(self, item: Item) -> Result:
        """Write ``item`` with whatever else is waiting; its outcome once that write is done."""
        slot = _Slot(item)
        with self._changed:
            self._waiting.append(slot)
            while self._writing and slot.outcome is _PENDING:
                self._changed.wait()
            if slot.outcome is not _PENDING:  # another thread wrote it
                return slot.result()
            self._writing = True
            batch, self._waiting = self._waiting, []
        try:
            outcomes = self._write([s.item for s in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch write answered {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch gets it
            outcomes = [exc] * len(batch)
        with self._changed:
            for waiting, outcome in zip(batch, outcomes):
                waiting.outcome = outcome
            self._writing = False
            self._changed.notify_all()
        return slot.result()
