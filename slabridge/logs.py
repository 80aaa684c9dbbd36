"""Logging set-up for the long-running processes (receiver, worker, serve).

Configured only where nothing else has configured logging (a host application,
gunicorn's ``--log-config``, pytest), at ``log_level``; ``log_format = "json"``
writes one JSON object per line. Log lines carry ticket references, kinds,
actions and statuses, never ticket text.
"""

from __future__ import annotations

import json
import logging
import time

import msgspec

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# What a log call may pass in ``extra=`` for JSON lines: references and outcomes, never ticket text.
FIELDS = ("vendor", "delivery_id", "ticket", "event_kind", "action", "status", "duration_ms", "attempt")
_ENCODE = msgspec.json.Encoder().encode  # several times the standard library's speed; UTF-8, not escaped


class JsonFormatter(logging.Formatter):
    """One JSON object a line: when (UTC, milliseconds), level, logger, message and the :data:`FIELDS` passed."""

    def format(self, record: logging.LogRecord) -> str:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = {"at": f"{at}.{int(record.msecs):03d}+00:00", "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        given = record.__dict__
        line.update((name, given[name]) for name in FIELDS if name in given)
        if record.exc_info:
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        try:
            return _ENCODE(line).decode()
        except (TypeError, UnicodeEncodeError):  # a value msgspec cannot write (a path holding a lone surrogate)
            return json.dumps(line, default=str)


def configure(level: str, fmt: str = "text") -> None:
    """Send slabridge's logs to stderr at ``level`` unless the root logger already has a handler."""
    root = logging.getLogger()
    if not root.handlers:
        _without_unused_record_fields()
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.getLogger("slabridge").setLevel(level)


def _without_unused_record_fields() -> None:
    """Stop the logging module from gathering what neither format writes: the calling function and line (a
    walk up the stack on every record), thread, process and multiprocessing names. The logging HOWTO's
    "Optimization" section names these switches; they are set only where slabridge configures logging
    itself (a host application's own configuration keeps them)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
