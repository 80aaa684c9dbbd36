"""Serving the receiver in production: waitress, bounded against slow and idle clients.

Waitress reads each request whole before a thread handles it, so a client that
dribbles bytes holds a socket, never a thread; connections idle for longer than
``http_idle_timeout_seconds`` are closed, and at most ``http_connection_limit``
are open at once (the rest wait in the listen backlog). SIGTERM and SIGINT stop
accepting, let requests in hand finish, then stop the in-process workers after
their unit of work.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from waitress.server import create_server

from .config import Settings
from .stopsignals import on_stop_signals, stopped

log = logging.getLogger("slabridge.serve")


def serve_app(app, host: str, port: int, settings: Settings, workers: list[threading.Thread],
              stop: threading.Event, announce: Callable[[str], None]) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; then drain requests and join ``workers`` (which watch ``stop``)."""
    server = create_server(
        app, host=host, port=port, ident="slabridge",
        threads=settings.http_threads,
        channel_timeout=settings.http_idle_timeout_seconds,
        cleanup_interval=max(1, min(30, int(settings.http_idle_timeout_seconds // 2) or 1)),
        connection_limit=settings.http_connection_limit,
        max_request_body_size=settings.max_body_bytes * 2,  # the app answers 413 first; this bounds chunked bodies
    )

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
