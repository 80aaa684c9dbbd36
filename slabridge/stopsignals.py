"""A graceful stop on SIGTERM and SIGINT that a burst of signals cannot jam.

A Python signal handler runs between two bytecodes of the main thread, maybe inside a lock that thread
holds: the first handler's own ``stop.set()``, say, when a supervisor and a shell both signal, or Ctrl-C
is pressed twice. A handler that takes that lock again (``Event.set`` does) waits forever: a worker
seen hung that way after two SIGTERMs, its thread idle and its main thread blocked in ``Event.set``.
One that raises there leaves the stop half done. So a handler here only notes the signal; only the first
one does more, and what follows is left to a loop that polls :data:`RECEIVED`.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable


def on_stop_signals(first: Callable[[int], None] | None = None) -> dict:
    """Catch SIGTERM and SIGINT; return the handlers they had. Each signal is appended to :data:`RECEIVED`
    (no lock taken); ``first`` is called on the first one only (it may raise, to leave a server's loop)."""
    RECEIVED.clear()
    order = itertools.count()

    def note(signum: int, _frame) -> None:
        RECEIVED.append(signum)  # no lock taken: see above
        if next(order) == 0 and first is not None:  # one step, so a signal arriving here cannot be first too
            first(signum)
    return {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}


def stopped(previous: dict) -> None:
    """The stop is done: give back the ``previous`` handlers, or, after a stop signal, ignore further ones
    (the process is on its way out with its work done; a late signal would kill it mid-exit)."""
    for sig, handler in previous.items():
        signal.signal(sig, signal.SIG_IGN if RECEIVED else handler)


RECEIVED: list[int] = []  # the stop signals this process received, oldest first
