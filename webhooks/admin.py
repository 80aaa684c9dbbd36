"""The admin API: what an operator sets at run time, behind a bearer token from the environment.

Off (404, saying how to turn it on) while the token's variable is unset. Errors are
JSON ``{"error", "message"}`` like the rest of the receiver.
"""

from __future__ import annotations

import hmac
import os
from http import HTTPStatus

from flask import Blueprint, jsonify, request

from slabridge.config import Settings
from slabridge.store import Store


def admin_api(settings: Settings, store: Store) -> Blueprint:
    api = Blueprint("admin_api", __name__, url_prefix="/admin")
    directory = []  # loaded on first use: the receiver itself needs no contracts

    def customers():
        if not directory:
            from slabridge.directory import load

            directory.append(load(settings.contracts_dir, settings.customers_file)[0])
        return directory[0]

    @api.before_request
    def authorize():
        token = os.environ.get(settings.admin_token_env)
        if not token:
            return _error(404, f"the admin API is off: set the environment variable {settings.admin_token_env}")
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        return None

    @api.get("/planned-events")
    def list_planned():
        rows = store.planned_events(request.args.get("customer"))
        return jsonify([{**r, "from": r["from"].isoformat(), "to": r["to"].isoformat()} for r in rows])

    @api.post("/planned-events")
    def add_planned():
        from slabridge.cli.events import validated

        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object: {customer, from, to, kind, note?}")
        missing = [k for k in ("customer", "from", "to", "kind") if not isinstance(body.get(k), str)]
        if missing:
            return _error(422, f"field {missing[0]}: required, a string")
        try:
            planned = validated(body["customer"], body["kind"], body["from"], body["to"], body.get("note"), customers())
        except ValueError as exc:
            return _error(422, str(exc))
        event_id = store.add_planned_event(body["customer"], planned.kind, planned.starts, planned.ends,
                                           planned.note)
        return jsonify(id=event_id, customer=body["customer"], kind=planned.kind, **{
            "from": planned.starts.isoformat(), "to": planned.ends.isoformat()}), 201

    @api.delete("/planned-events/<int(max=9223372036854775807):event_id>")  # beyond: 404, not a DB overflow
    def remove_planned(event_id: int):
        if not store.remove_planned_event(event_id):
            return _error(404, f"no planned event {event_id}")
        return jsonify(status="removed", id=event_id)

    return api


def _error(status: int, message: str):
    return jsonify(error=HTTPStatus(status).phrase, message=message), status
