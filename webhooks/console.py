"""The operator console at /console: SLA board, ticket timelines, dead letters, compliance, connectors, contracts.

Server-rendered (Jinja), no JavaScript, nothing loaded from elsewhere. Signing in takes the admin token
(from the environment); the session cookie is HttpOnly and SameSite=Strict, signed with a key derived
from that token (every gunicorn worker derives the same one; a new token signs everyone out), and every
form that changes something carries a CSRF token. Without an admin token the console is off and says
how to turn it on. Ticket text is never shown (see :mod:`slabridge.overview`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

from flask import Blueprint, Flask, Response, redirect, render_template, request, session, url_for

from slabridge import board as sla_board
from slabridge import overview
from slabridge.charts import compliance_charts
from slabridge.config import Settings
from slabridge.plugins import Plugins
from slabridge.report import PERIODS, compliance, to_csv
from slabridge.store import Store

log = logging.getLogger("slabridge.console")
PER_PAGE = 50
QUERY_TOKENS = ("token", "access_token", "admin_token", "auth")


def console(app: Flask, settings: Settings, plugins: Plugins, store: Store) -> Blueprint:
    """The console's blueprint; ``app`` gets the session settings it needs."""
    token = os.environ.get(settings.admin_token_env, "")
    if token:
        app.secret_key = hmac.new(token.encode(), b"slabridge console session", hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_NAME="slabridge_console", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=settings.console_secure_cookie,
                      SESSION_COOKIE_PATH="/console", PERMANENT_SESSION_LIFETIME=timedelta(hours=8))
    pages = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                      static_folder="static", static_url_path="/static")
    loaded: list = []  # the contracts, on first use: the receiver itself needs none
    states = sla_board.StateCache(store)

    def directory():
        if not loaded:
            from slabridge.directory import load

            loaded.append(load(settings.contracts_dir, settings.customers_file))
        return loaded[0][0]

    @pages.before_request
    def guard():
        if request.endpoint == "console.static":
            return None
        if not token:
            return page("off.html", 404, variable=settings.admin_token_env)
        if any(name in request.args for name in QUERY_TOKENS):
            return page("error.html", 400, message="A token in the address is refused: it would be kept in "
                        "logs and browser history. Sign in with the form instead.")
        session.setdefault("csrf", secrets.token_urlsafe(32))
        if request.method == "POST" and not hmac.compare_digest(request.form.get("csrf", "").encode(),
                                                                  session["csrf"].encode()):
            log.warning("console: %s %s refused: missing or wrong CSRF token", request.method, request.path)
            return page("error.html", 400, message="This form has expired or did not come from this console "
                        "(CSRF token missing or wrong). Go back, reload the page and try again.")
        if request.endpoint != "console.sign_in" and not session.get("signed_in"):
            return redirect(url_for("console.sign_in", next=request.path), 303)
        return None

    @pages.app_context_processor
    def common():
        return {"csrf": session.get("csrf", ""), "signed_in": session.get("signed_in", False),
                "humanize": sla_board.humanize}

    @pages.route("/sign-in", methods=["GET", "POST"])
    def sign_in():
        if request.method == "GET":
            return page("sign_in.html", 200)
        presented = request.form.get("token", "")
        if not hmac.compare_digest(presented.encode(), token.encode()):
            log.warning("console: sign-in refused from %s (wrong token)", request.remote_addr)
            return page("sign_in.html", 401, failed=True)
        session.clear()
        session.update(signed_in=True, csrf=secrets.token_urlsafe(32))
        session.permanent = True
        log.info("console: signed in from %s", request.remote_addr)
        target = request.args.get("next", "")
        return redirect(target if target.startswith("/console/") else url_for("console.board"), 303)

    @pages.post("/sign-out")
    def sign_out():
        session.clear()
        return redirect(url_for("console.sign_in"), 303)

    @pages.get("/")
    def board():
        now = datetime.now(timezone.utc)
        filters = {k: request.args.get(k) or None for k in ("vendor", "customer", "severity")}
        rows = sla_board.board(states.states(), directory(), now, **filters)
        page_number = max(1, request.args.get("page", 1, type=int) or 1)
        pages_total = max(1, -(-len(rows) // PER_PAGE))
        shown = rows[(page_number - 1) * PER_PAGE: page_number * PER_PAGE]
        links = {(r.vendor, r.ticket_id): plugins.connectors[r.vendor].ticket_url(settings.vendor(r.vendor), r.ticket_id)
                 if r.vendor in plugins.connectors else None for r in shown}
        counts = {state: sum(1 for r in rows if r.state == state) for state in sla_board.RANK}
        return page("board.html", 200, rows=shown, links=links, filters=filters, counts=counts, total=len(rows),
                    page_number=min(page_number, pages_total), pages_total=pages_total, now=now,
                    vendors=sorted(plugins.connectors), customers=sorted(directory().customers),
                    severities=sorted({lvl for c in directory().contracts.values() for lvl in c.levels}))

    @pages.get("/tickets/<vendor>/<ticket_id>")
    def ticket(vendor: str, ticket_id: str):
        entries = overview.timeline(store, vendor, ticket_id)
        if not entries:
            return page("error.html", 404, message=f"No ticket {ticket_id} from {vendor} is known here.")
        connector = plugins.connectors.get(vendor)
        link = connector.ticket_url(settings.vendor(vendor), ticket_id) if connector else None
        return page("ticket.html", 200, vendor=vendor, ticket_id=ticket_id, entries=entries, link=link)

    @pages.get("/dead")
    def dead():
        return page("dead.html", 200, rows=store.dead_letters())

    @pages.post("/dead/<action>")
    def dead_action(action: str):
        kind, row_id = request.form.get("kind"), request.form.get("id", type=int)
        if action not in ("retry", "drop") or kind not in ("event", "write") or not 0 < (row_id or 0) < 2 ** 63:
            return page("error.html", 400, message="Say retry or drop, a kind (event or write) and a row id.")
        done = (store.retry_dead if action == "retry" else store.drop_dead)(kind, [row_id])
        log.info("console: %s %s %s (%d row)", action, kind, row_id, done)
        return redirect(url_for("console.dead"), 303)

    @pages.get("/compliance")
    def compliance_page():
        period, rows = compliance_rows()
        return page("compliance.html", 200, rows=rows, period=period, periods=PERIODS, charts=compliance_charts(rows, period))

    @pages.get("/compliance.<fmt>")
    def compliance_download(fmt: str):
        period, rows = compliance_rows()
        if fmt == "json":
            return Response(json.dumps(rows, indent=2), mimetype="application/json",
                            headers={"Content-Disposition": "attachment; filename=compliance.json"})
        if fmt == "csv":
            return Response(to_csv(rows), mimetype="text/csv",
                            headers={"Content-Disposition": "attachment; filename=compliance.csv"})
        return page("error.html", 404, message="Compliance downloads are .csv or .json.")

    def compliance_rows() -> tuple[str | None, list[dict]]:
        period = request.args.get("period") if request.args.get("period") in PERIODS else None
        return period, compliance(store.ticket_clocks(), directory(), datetime.now(timezone.utc), period)

    @pages.get("/connectors")
    def connectors():
        activity = overview.connector_activity(store)
        listed = []
        for name, connector in sorted(plugins.connectors.items()):
            vendor = settings.vendor(name)
            try:
                template = json.dumps(connector.webhook_template(vendor, f"{request.host_url}webhooks/{name}"),
                                      indent=2)
            except NotImplementedError:
                template = None
            listed.append({"name": name, "enabled": vendor.enabled, "base_url": vendor.base_url,
                           "activity": activity.get(name, {}), "template": template})
        return page("connectors.html", 200, connectors=listed)

    @pages.route("/contracts", methods=["GET", "POST"])
    def contracts():
        outcome, problem, submitted = None, None, request.form.get("event", "")
        if request.method == "POST":
            outcome, problem = what_would_happen(submitted, plugins, directory())
        return page("contracts.html", 422 if problem else 200, directory=directory(), clauses=clauses,
                    outcome=outcome, problem=problem, submitted=submitted)

    return pages


def page(template: str, status: int, **context):
    return render_template(f"console/{template}", status=status, phrase=HTTPStatus(status).phrase, **context), status


def clauses(contract) -> list[dict]:
    """Every part of a contract that cites the agreement (``source``) or says how it was read (``reading``)."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            if value.get("source") or value.get("reading"):
                found.append({"where": ".".join(path) or "(contract)", "source": value.get("source"),
                              "reading": value.get("reading")})
            for key, inner in value.items():
                walk(inner, path + [str(key)])
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, path + [str(index)])

    walk(contract.model_dump(mode="json"), [])
    return found


def what_would_happen(text: str, plugins: Plugins, directory) -> tuple[list[dict] | None, str | None]:
    """Decide one canonical event (JSON) in a dry run, as ``slabridge replay`` does."""
    from pydantic import ValidationError

    from slabridge.models import TicketEvent
    from slabridge.simulation import replay

    try:
        event = TicketEvent.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(the event)"
        return None, f"Not a canonical event: {where}: {first['msg']} ({exc.error_count()} problem(s) in all)."
    lines: list[str] = []
    replay([(1, event)], plugins, directory, 1, emit=lines.append)
    return [json.loads(line) for line in lines], None
