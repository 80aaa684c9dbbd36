"""A graceful stop on SIGTERM and SIGINT that a burst of signals cannot jam.

A Python signal handler runs between two bytecodes of the main thread, maybe inside a lock that thread
holds: the first handler's own ``stop.set()``, say, when a supervisor and a shell both signal, or Ctrl-C
is pressed twice. A handler that takes that lock again (``Event.set`` does) waits forever: a worker
seen hung that way after two SIGTERMs, its thread idle and its main thread blocked in ``Event.set``.
One that raises there leaves the stop half done. So a handler here only notes the signal; only the first
one does more, and what follows is left to a loop that polls :data:`RECEIVED`.

Handing a signal back has a race of its own: one that arrives while CPython swaps its handler is dropped,
and CPython says so on stderr with a traceback ("Signal 15 ignored due to race condition"). At the end of a
stop that message is only noise, so :func:`stopped` keeps it off stderr (and the dropped signal is what the
stop already did).
"""

from __future__ import annotations

import itertools
import signal
import sys
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
    _quiet_swap_races(set(previous))
    for sig, handler in previous.items():
        signal.signal(sig, signal.SIG_IGN if RECEIVED else handler)


def _quiet_swap_races(signals: set[int]) -> None:
    """Keep CPython's note of a stop signal dropped while its handler was swapped off stderr (from now on,
    in this process); every other unraisable error still goes to the hook that was there."""
    if getattr(sys.unraisablehook, "quiets", None) == signals:
        return
    passed_on = sys.unraisablehook
    dropped = {f"Signal {int(sig)} ignored due to race condition" for sig in signals}

    def hook(unraisable) -> None:
        if not (isinstance(unraisable.exc_value, OSError) and str(unraisable.exc_value) in dropped):
            passed_on(unraisable)
    hook.quiets = signals
    sys.unraisablehook = hook


RECEIVED: list[int] = []  # the stop signals this process received, oldest first
