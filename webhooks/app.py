"""Flask app factory: verify, parse, dedupe, persist, answer 202 — nothing more.

Every error is JSON ``{"error": <status name>, "message": <what was wrong>}``, never
a traceback; only the operator console (/console, see :mod:`.console`) answers pages.
Vendor APIs are never called from a request.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import hmac
import os
import sys
import time

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

from slabridge import config, logs, metrics
from slabridge.config import ConfigError, Settings
from slabridge.connectors import OptionError, WebhookRejected, WebhookRequest
from slabridge.models import problems
from slabridge.plugins import Plugins
from slabridge.intake import StoreUnavailable
from slabridge.startup import CannotStart, open_store
from slabridge.store import Store

from .admin import admin_api
from .console import console, page

log = logging.getLogger("slabridge.receiver")
CANNOT_BOOT = 3  # the exit status gunicorn reads as "this worker cannot boot": it stops instead of retrying


def create_app(settings: Settings | None = None, plugins: Plugins | None = None,
               store: Store | None = None) -> Flask:
    """Build the receiver. Without arguments it loads configuration and opens the database as the CLI does;
    if either cannot be used, it prints each problem to stderr and exits with :data:`CANNOT_BOOT`."""
    try:
        if settings is None:
            settings = config.load()
        if store is None:
            store = open_store(settings.database_url)
    except (ConfigError, CannotStart) as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(CANNOT_BOOT) from None
    logs.configure(settings.log_level, settings.log_format)
    plugins = plugins or Plugins(settings)
    app = Flask("slabridge_webhooks")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["slabridge"] = {"settings": settings, "plugins": plugins, "store": store}

    @app.post("/webhooks/<vendor>")
    def receive(vendor: str):
        connector = plugins.enabled_connector(vendor)
        if connector is None:  # the same answer for unknown and disabled: callers learn nothing installed
            return _error(404, f"no enabled connector at /webhooks/{vendor}")
        if request.mimetype != "application/json":
            return _error(415, f"Content-Type must be application/json, not {request.mimetype or 'missing'}")
        incoming = WebhookRequest(headers=request.headers, body=request.get_data(cache=False),
                                  received_at=datetime.now(timezone.utc))
        vendor_settings = settings.vendor(vendor)
        try:
            connector.verify(incoming, vendor_settings)
            event = connector.parse(incoming, vendor_settings)
        except WebhookRejected as rejected:
            return refuse(vendor, rejected.status, rejected.message)
        except OptionError as exc:  # the configuration's fault, not the sender's: it sends again on a 503
            log.error("%s webhook not accepted: %s", vendor, exc, extra={"vendor": vendor, "status": 503})
            metrics.WEBHOOKS.labels(vendor, "unavailable", "503").inc()
            return _error(503, f"the receiver's configuration must be mended ({exc}); the event was not accepted, "
                               "send it again later")
        except ValidationError as exc:  # the connector read it, but what it read is not a valid event
            return refuse(vendor, 422, f"the body does not make a valid event: {problems(exc)}")
        except Exception as exc:  # noqa: BLE001 - signed, but not a shape the connector can read: the sender's fault
            return refuse(vendor, 422, f"the body is not shaped as {vendor} sends it: a field has the wrong type "
                                       f"({exc.__class__.__name__} while reading it at {_connector_frame(exc)})")
        if len(event.delivery_id) > 256:
            return refuse(vendor, 422, "the delivery id is longer than 256 characters")
        if ahead := _ahead_of_arrival(event, incoming.received_at, settings.clock_skew_seconds):
            return refuse(vendor, 422, ahead)
        fields = {"vendor": vendor, "delivery_id": event.delivery_id[:80], "ticket": event.ticket.key,
                  "event_kind": str(event.kind)}
        try:
            stored = store.enqueue(event, by_content=event.occurred_at != incoming.received_at)
        except StoreUnavailable as exc:  # the sender retries: vendors redeliver on a 5xx
            log.warning("%s %s for %s not accepted, %s: %s", vendor, event.kind, event.ticket.key, exc, exc.detail,
                        extra={**fields, "status": 503})
            metrics.WEBHOOKS.labels(vendor, "unavailable", "503").inc()
            return _error(503, f"{exc}: the event was not accepted; send it again later")
        if not stored:
            metrics.WEBHOOKS.labels(vendor, "duplicate", "200").inc()
            log.info("duplicate %s %s for %s", vendor, event.kind, event.ticket.key, extra={**fields, "status": 200})
            return jsonify(status="duplicate", delivery_id=event.delivery_id), 200
        metrics.WEBHOOKS.labels(vendor, "accepted", "202").inc()
        log.info("accepted %s %s for %s", vendor, event.kind, event.ticket.key, extra={**fields, "status": 202})
        return jsonify(status="accepted", delivery_id=event.delivery_id, ticket=event.ticket.key), 202

    last_noted: dict[str, float] = {}

    def refuse(vendor: str, status: int, message: str):
        """Answer a refused webhook; count it, log it and (at most once a second per vendor) remember it for
        the console. ``message`` names fields and problems, never ticket values."""
        log.info("rejected %s webhook: %s %s", vendor, status, message, extra={"vendor": vendor, "status": status})
        metrics.WEBHOOKS.labels(vendor, "rejected", str(status)).inc()
        now = time.time()
        if now - last_noted.get(vendor, 0.0) >= 1.0:  # a flood of forgeries is not a flood of database writes
            last_noted[vendor] = now
            try:
                store.note_rejection(vendor, status, message, now)
            except Exception:  # noqa: BLE001 - the answer matters more than the console's note
                log.warning("could not record a rejected %s webhook", vendor)
        return _error(status, message)

    app.register_blueprint(admin_api(settings, store))
    if settings.console:
        app.register_blueprint(console(app, settings, plugins, store))

    @app.get("/metrics")
    def scrape():
        tokens = [os.environ.get(settings.metrics_token_env), os.environ.get(settings.admin_token_env)]
        tokens = [t for t in tokens if t]
        if not tokens:
            return _error(404, f"metrics are off: set the environment variable {settings.metrics_token_env} "
                               f"(or {settings.admin_token_env})")
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip().encode()
        if not any(hmac.compare_digest(presented, t.encode()) for t in tokens):
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        return Response(metrics.exposition(store), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        try:
            store.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not crash
            return _error(503, f"database unreachable: {exc.__class__.__name__}")
        return jsonify(status="ready")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = {413: f"body larger than {settings.max_body_bytes} bytes",
                   405: f"method {request.method} is not allowed here"}.get(exc.code or 500, exc.description)
        if settings.console and request.path.startswith("/console/"):  # people read these: a page, not JSON
            return page("error.html", exc.code or 500, message=message)
        return _error(exc.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.path)
        if settings.console and request.path.startswith("/console/"):
            return page("error.html", 500, message="this page could not be shown; the server's log says why")
        return _error(500, "internal error; the event was not accepted, the sender may retry")

    return app


def _connector_frame(exc: BaseException) -> str:
    """Where in the connector reading failed (module:function), to point a maintainer at it."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "site-packages" not in f.filename] or frames
    last = inside[-1] if inside else None
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.name}" if last else "unknown"


def _ahead_of_arrival(event, arrived: datetime, skew_seconds: float) -> str | None:
    """Why ``event`` cannot be taken, if it says it happened (or its ticket was made or changed) further after
    its arrival than the clocks may disagree: its clocks would run from the future."""
    latest = arrived + timedelta(seconds=skew_seconds)
    for name in ("occurred_at", "created_at", "updated_at"):
        when = getattr(event, name)
        if when is not None and when > latest:
            return (f"{name} is {(when - arrived).total_seconds() / 3600:,.1f} hours after this webhook arrived, "
                    f"more than clock_skew_seconds ({skew_seconds:g}) allows: is the sender's clock, this host's, "
                    "or the time zone the sender writes its timestamps in, wrong?")
    return None


def _error(status: int, message: str):
    return jsonify(error=HTTPStatus(status).phrase, message=message), status
