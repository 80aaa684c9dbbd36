"""Serving the receiver in production: waitress, bounded against slow and idle clients.

Waitress reads each request whole before a thread handles it, so a client that
dribbles bytes holds a socket, never a thread; connections idle for longer than
``http_idle_timeout_seconds`` are closed, and at most ``http_connection_limit``
are open at once (the rest wait in the listen backlog). SIGTERM and SIGINT stop
accepting, let requests in hand finish, then stop the in-process workers after
their unit of work.
"""

from __future__ import annotations

import errno
import logging
import signal
import threading
from collections.abc import Callable

from waitress.server import create_server

from .config import Settings
from .stopsignals import on_stop_signals, stopped

log = logging.getLogger("slabridge.serve")


class CannotListen(Exception):
    """The receiver's address cannot be listened on; the message says which and why."""


def serve_app(app, host: str, port: int, settings: Settings, workers: list[threading.Thread],
              stop: threading.Event, announce: Callable[[str], None]) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; then drain requests and join ``workers`` (which watch ``stop``).
    :class:`CannotListen` if the address cannot be had (nothing started then)."""
    try:
        server = create_server(
            app, host=host, port=port, ident="slabridge",
            threads=settings.http_threads,
            channel_timeout=settings.http_idle_timeout_seconds,
            cleanup_interval=max(1, min(30, int(settings.http_idle_timeout_seconds // 2) or 1)),
            connection_limit=settings.http_connection_limit,
            max_request_body_size=settings.max_body_bytes * 2,  # the app answers 413 first; this bounds chunked bodies
        )
    except (OSError, ValueError) as exc:  # in use, not this machine's address, not a host name, a privileged port
        raise CannotListen(f"cannot listen on {host}:{port}: {_why_not(exc)}") from None

    def shut_down(signum: int) -> None:
        log.info("received %s: finishing requests and units of work in hand", signal.Signals(signum).name)
        raise SystemExit(0)  # out of waitress's loop; what follows in the finally is not interrupted again

    previous = on_stop_signals(shut_down)
    for thread in workers:
        thread.start()
    announce(f"http://{host}:{server.effective_port}")
    try:
        server.run()  # returns after SystemExit, once waitress's own threads have finished their requests
    finally:
        server.close()
        stop.set()
        for thread in workers:
            thread.join()
        stopped(previous)
        log.info("stopped")


def _why_not(exc: OSError | ValueError) -> str:
    """Why an address cannot be listened on, with what to do where that is plain."""
    if getattr(exc, "errno", None) == errno.EADDRINUSE:
        return "another server (or another slabridge) listens there already; choose another --port"
    if getattr(exc, "errno", None) == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); choose another --port"
    reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).rstrip(".")
    return f"{reason[:1].lower()}{reason[1:]} (--host must be a name or address of this machine)"
