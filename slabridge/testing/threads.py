"""Running one piece of work on several threads at once, for the tests of state the worker's threads share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(index)`` on ``count`` threads released together; the answers in index order. Raises
    AssertionError naming each thread that raised (and what)."""
    start, answers, errors = threading.Barrier(count), [None] * count, []

    def run(index: int) -> None:
        start.wait()
        try:
            answers[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread that raised it
            errors.append(f"thread {index}: {exc!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], errors
    return answers
