"""Logging set-up for the long-running processes (receiver, worker, serve).

Configured only where nothing else has configured logging (a host application,
gunicorn's ``--log-config``, pytest), at ``log_level``; ``log_format = "json"``
writes one JSON object per line. Log lines carry ticket references, kinds,
actions and statuses, never ticket text.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# What a log call may pass in ``extra=`` for JSON lines: references and outcomes, never ticket text.
FIELDS = ("vendor", "delivery_id", "ticket", "event_kind", "action", "status", "duration_ms", "attempt")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line.update((name, getattr(record, name)) for name in FIELDS if hasattr(record, name))
        if record.exc_info:
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line)


def configure(level: str, fmt: str = "text") -> None:
    """Send slabridge's logs to stderr at ``level`` unless the root logger already has a handler."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.getLogger("slabridge").setLevel(level)
