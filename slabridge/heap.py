"""The garbage collector and slabridge's large, long-lived heaps.

CPython's collector now and then makes a full pass over every object it tracks. What a process builds
before its work starts (modules, contracts, the customers' directory, a replay's events) lives until
it exits, and walking it achieves nothing: in a worker a full pass over its ~110,000 start-up objects
took ~55 ms, five times in 6,000 events. Freezing moves what exists into a generation no pass walks.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG_COLLECTION = 20_000  # allocations between collections of the youngest generation, during a replay


def settle() -> None:
    """For a long-running process once it is built (``slabridge worker``, ``slabridge serve``): collect the
    start-up garbage, then freeze what is left. Objects made later are collected as before."""
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """For a replay: what exists when it starts (contracts, plugins, the events given) outlives it, so
    the full passes leave it alone (``gc.freeze``) until it ends: a pass over a list of 100k events took a
    twentieth of the replay's time. Decisions leave next to no reference cycles (20 objects in 20k events),
    so the youngest generation is collected every :data:`YOUNG_COLLECTION` allocations, not 700: most of
    what a decision builds is freed before a collection would walk it. Both are undone at the end."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], YOUNG_COLLECTION), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
