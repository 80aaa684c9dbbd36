"""The receiver: every answer it can give, through Flask's test client."""

import json

import pytest

from slabridge.plugins import Plugins
from slabridge_webhooks import create_app


@pytest.fixture
def client(settings, store):
    app = create_app(settings, Plugins(settings), store)
    return app.test_client()


def post(client, vendor, headers, body):
    return client.post(f"/webhooks/{vendor}", headers=headers, data=body)


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_signed_webhook_is_accepted_once_then_duplicate(client, store, signed, vendor):
    headers, body = signed(vendor, "SUP-1" if vendor == "jira" else "1")
    first = post(client, vendor, headers, body)
    assert first.status_code == 202, first.json
    assert first.json["status"] == "accepted"
    again = post(client, vendor, headers, body)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "delivery_id": first.json["delivery_id"]}
    assert len(store.rows("inbox")) == 1


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_bad_signature_is_401_with_reason(client, store, signed, vendor):
    headers, body = signed(vendor, "SUP-1" if vendor == "jira" else "1", secret="wrong-secret")
    answer = post(client, vendor, headers, body)
    assert answer.status_code == 401
    assert answer.json["error"] == "Unauthorized"
    assert "does not match" in answer.json["message"]
    assert store.rows("inbox") == []


@pytest.mark.parametrize("vendor", ["zendesk", "jira"])
def test_signature_is_checked_on_the_raw_body(client, signed, vendor):
    headers, body = signed(vendor, "SUP-1" if vendor == "jira" else "1")
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    assert post(client, vendor, headers, reformatted).status_code == 401


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_secrets_during_rotation(client, signed, monkeypatch, vendor):
    """While both are configured, the new and the previous secret sign; once the old one is removed, it no longer does."""
    ticket = "SUP-9" if vendor == "jira" else "9"
    monkeypatch.setenv(f"TEST_{vendor.upper()}_SECRET", "new-secret")
    monkeypatch.setenv(f"TEST_{vendor.upper()}_SECRET_OLD", "test-secret-one")
    for secret in ["test-secret-one", "new-secret"]:  # the second may be a duplicate: verified first all the same
        headers, body = signed(vendor, ticket, secret=secret)
        assert post(client, vendor, headers, body).status_code in (200, 202)
    monkeypatch.delenv(f"TEST_{vendor.upper()}_SECRET_OLD")
    headers, body = signed(vendor, ticket, secret="test-secret-one")
    assert post(client, vendor, headers, body).status_code == 401


def test_unknown_vendor_404(client):
    answer = client.post("/webhooks/acme", json={})
    assert answer.status_code == 404
    assert answer.json == {"error": "Not Found", "message": "no enabled connector at /webhooks/acme"}


def test_disabled_vendor_404_is_the_same_as_unknown(settings, store, signed):
    settings.vendors["zendesk"].enabled = False
    client = create_app(settings, Plugins(settings), store).test_client()
    headers, body = signed("zendesk", "1")
    answer = post(client, "zendesk", headers, body)
    assert answer.status_code == 404
    assert answer.json["message"] == "no enabled connector at /webhooks/zendesk"  # installed or not: no telling


BAD_IDS = ["1/../../../users/1", "5?role=admin#", "0", "-3", "1e3", "12345678901234567890123", ""]


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
@pytest.mark.parametrize("bad", BAD_IDS + ["SUP-1/../../user", "sup-1", "SUP-"])
def test_a_ticket_id_not_of_the_vendors_form_is_refused_before_anything_is_stored(client, store, sign, vendor, bad):
    body = {"zendesk": {"ticket": {"id": bad}}, "freshdesk": {"ticket": {"id": bad}},
            "jira": {"webhookEvent": "jira:issue_updated", "issue": {"key": bad, "fields": {}}}}[vendor]
    raw = json.dumps(body).encode()
    answer = post(client, vendor, sign(vendor, raw), raw)
    assert answer.status_code == 422 and answer.is_json
    assert store.rows("inbox") == []


def test_wrong_method_405_json(client):
    answer = client.get("/webhooks/zendesk")
    assert answer.status_code == 405
    assert answer.is_json and "GET" in answer.json["message"]


def test_wrong_content_type_415(client):
    answer = client.post("/webhooks/zendesk", data="a=b", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415
    assert "application/json" in answer.json["message"]


def test_too_large_413(settings, store):
    settings.max_body_bytes = 1000
    client = create_app(settings, Plugins(settings), store).test_client()
    answer = client.post("/webhooks/zendesk", data=b"{" + b" " * 2000 + b"}", content_type="application/json")
    assert answer.status_code == 413
    assert answer.json["message"] == "body larger than 1000 bytes"


def test_invalid_json_400_says_where(client, monkeypatch):
    headers = {"Content-Type": "application/json", "X-Slabridge-Secret": "test-secret-one"}
    answer = post(client, "freshdesk", headers, b'{"ticket": {"id": 1,}}')
    assert answer.status_code == 400
    assert answer.json["message"] == "body is not valid JSON: Expecting property name enclosed in double quotes " \
                                     "at line 1 column 21"
    answer = post(client, "freshdesk", headers, b'{"ticket": {"subject": "cut off')
    assert answer.json["message"] == "body is not valid JSON: Unterminated string starting at line 1 column 24"


def test_missing_field_422_names_it(client):
    headers = {"Content-Type": "application/json", "X-Slabridge-Secret": "test-secret-one"}
    answer = post(client, "freshdesk", headers, b'{"ticket": {"subject": "no id"}}')
    assert answer.status_code == 422
    assert answer.json["message"] == "missing required field ticket.id"


def test_json_array_422(client):
    headers = {"Content-Type": "application/json", "X-Slabridge-Secret": "test-secret-one"}
    answer = post(client, "freshdesk", headers, b"[1, 2]")
    assert answer.status_code == 422


def test_unknown_path_404_json(client):
    answer = client.get("/nowhere")
    assert answer.status_code == 404 and answer.is_json


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_readiness_503_when_database_unreachable(settings, store, tmp_path):
    from slabridge.store import Store

    broken = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    client = create_app(settings, Plugins(settings), broken).test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "database unreachable" in answer.json["message"]


def test_a_webhook_while_the_database_is_unreachable_gets_503_and_one_log_line(settings, signed, caplog):
    from slabridge.store import Store

    broken = Store("postgresql://nobody@127.0.0.1:1/none")
    client = create_app(settings, Plugins(settings), broken).test_client()
    headers, body = signed("zendesk", "5")
    answer = post(client, "zendesk", headers, body)
    assert answer.status_code == 503
    assert answer.json["message"] == "database unreachable: the event was not accepted; send it again later"
    assert "127.0.0.1" not in answer.get_data(as_text=True)  # where the database is stays in the log
    [line] = [r for r in caplog.records if r.name == "slabridge.receiver" and r.levelname != "INFO"]
    assert "not accepted, database unreachable: OperationalError" in line.getMessage() and not line.exc_info


def test_a_webhook_while_sqlite_stays_locked_gets_503_and_is_taken_once_it_is_free(settings, signed, tmp_path):
    """A writer holding the database past the busy timeout: 503, nothing half-stored, earlier events kept."""
    import sqlite3

    from slabridge.store import Store

    store = Store(f"sqlite:///{tmp_path}/locked.db")
    store.upgrade()
    client = create_app(settings, Plugins(settings), store).test_client()
    assert post(client, "zendesk", *signed("zendesk", "4")).status_code == 202
    pooled = store.engine.raw_connection()
    pooled.cursor().execute("PRAGMA busy_timeout=100")  # not 30 s in a test
    pooled.close()
    holder = sqlite3.connect(store.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    headers, body = signed("zendesk", "5")
    try:
        answer = post(client, "zendesk", headers, body)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503 and "database unavailable" in answer.json["message"]
    assert post(client, "zendesk", headers, body).status_code == 202  # the sender's retry
    assert sorted(r["ticket_id"] for r in store.rows("inbox")) == ["4", "5"]
    store.close()


def test_store_failure_is_json_500_not_traceback(settings, store, signed, monkeypatch):
    client = create_app(settings, Plugins(settings), store).test_client()
    monkeypatch.setattr(store, "enqueue", lambda event: 1 / 0)
    headers, body = signed("zendesk", "5")
    answer = post(client, "zendesk", headers, body)
    assert answer.status_code == 500
    assert answer.is_json and "Traceback" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("body, message", [
    (b'{"event": "exploded", "ticket": {"id": "5"}}', "field event: not one of created, updated"),
    (b'{"ticket": {"id": "5", "created_at": "SSN 078-05-1120"}}', "field ticket.created_at: not an ISO-8601 timestamp"),
])
def test_a_bad_field_is_named_but_its_value_never_repeated(client, sign, body, message):
    answer = post(client, "zendesk", sign("zendesk", body), body)
    assert answer.status_code == 422 and message in answer.json["message"]
    assert "exploded" not in answer.json["message"] and "078-05" not in answer.json["message"]  # may be PHI


@pytest.mark.parametrize("vendor", ["zendesk", "jira"])
def test_a_replayed_body_under_a_new_delivery_id_is_a_duplicate(client, store, signed, sign, vendor):
    headers, body = signed(vendor, "SUP-3" if vendor == "jira" else "3")
    assert post(client, vendor, headers, body).status_code == 202
    replay = sign(vendor, body)  # signed again: a fresh invocation id / webhook identifier
    id_header = "X-Zendesk-Webhook-Invocation-Id" if vendor == "zendesk" else "X-Atlassian-Webhook-Identifier"
    assert replay[id_header] != headers[id_header]
    again = post(client, vendor, replay, body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert len(store.rows("inbox")) == 1


def test_a_real_second_change_of_the_same_ticket_is_not_a_duplicate(client, store, signed, sign):
    headers, body = signed("jira", "SUP-4")
    assert post(client, "jira", headers, body).status_code == 202
    changed = json.loads(body)
    changed["timestamp"] += 1000  # a second later, the same ticket again
    raw = json.dumps(changed).encode()
    assert post(client, "jira", sign("jira", raw), raw).status_code == 202
    assert len(store.rows("inbox")) == 2


@pytest.mark.parametrize("age_seconds, status", [(30 * 24 * 3600, 401), (-2 * 3600, 401), (600, 202)])
def test_a_jira_body_dated_outside_the_tolerance_is_refused(client, store, signed, age_seconds, status):
    from datetime import datetime, timedelta, timezone

    headers, body = signed("jira", "SUP-5", now=datetime.now(timezone.utc) - timedelta(seconds=age_seconds))
    answer = post(client, "jira", headers, body)
    assert answer.status_code == status
    if status == 401:
        assert "outside the 1:00:00 tolerance" in answer.json["message"] and store.rows("inbox") == []


def test_a_zendesk_timestamp_is_parsed_only_after_the_signature_matches(client, signed):
    headers, body = signed("zendesk", "6", secret="wrong-secret")
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = "0001-01-01T00:00:00+14:00"
    answer = post(client, "zendesk", headers, body)
    assert answer.status_code == 401 and "does not match" in answer.json["message"]


def test_a_signed_body_of_the_wrong_shape_is_a_422_naming_where_it_failed(client, store, sign):
    raw = json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1,
                      "issue": {"key": "SUP-7", "fields": ["not", "an", "object"]}}).encode()
    answer = post(client, "jira", sign("jira", raw), raw)
    assert answer.status_code == 422 and "wrong type" in answer.json["message"]
    assert store.rows("inbox") == []


CREATED_AT = {"zendesk": ("ticket", "created_at"), "freshdesk": ("ticket", "created_at"),
              "jira": ("issue", "fields", "created")}


def dated(signed, vendor: str, created: str) -> bytes:
    """A sample webhook of ``vendor`` whose ticket says it was created at ``created``."""
    body = json.loads(signed(vendor, "SUP-8" if vendor == "jira" else "8")[1])
    *path, last = CREATED_AT[vendor]
    inner = body
    for key in path:
        inner = inner[key]
    inner[last] = created
    return json.dumps(body).encode()


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
@pytest.mark.parametrize("created", ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                     "2200-01-01T00:00:00Z"])
def test_an_instant_slabridge_cannot_compute_with_is_a_422_naming_the_field(client, store, signed, sign, vendor,
                                                                            created):
    """Such an instant failed deep in the calendar (``year 10001 is out of range``) once the worker decided it, or
    made a worker compile every year up to it (~200 MiB and seconds for the year 4000)."""
    body = dated(signed, vendor, created)
    answer = post(client, vendor, sign(vendor, body), body)
    assert answer.status_code == 422, answer.json
    field = ".".join(CREATED_AT[vendor])
    assert answer.json["message"] == f"field {field}: outside the instants slabridge computes with (1970 to 2199)"
    assert store.rows("inbox") == []


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_a_webhook_dated_after_its_arrival_beyond_the_clock_skew_is_refused(client, store, signed, sign, vendor):
    from datetime import datetime, timedelta, timezone

    ahead = (datetime.now(timezone.utc) + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = dated(signed, vendor, ahead)
    answer = post(client, vendor, sign(vendor, body), body)
    assert answer.status_code == 422, answer.json
    assert answer.json["message"].startswith("created_at is 30.0 hours after this webhook arrived, more than "
                                             "clock_skew_seconds (3600) allows")
    assert store.rows("inbox") == []
    within = (datetime.now(timezone.utc) + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = dated(signed, vendor, within)  # a sender's clock a little ahead: taken
    assert post(client, vendor, sign(vendor, body), body).status_code == 202


def test_the_clock_skew_allowed_is_a_setting(settings, store, signed, sign):
    from datetime import datetime, timedelta, timezone

    settings.clock_skew_seconds = 48 * 3600
    client = create_app(settings, Plugins(settings), store).test_client()
    body = dated(signed, "zendesk", (datetime.now(timezone.utc) + timedelta(hours=30)).isoformat())
    assert post(client, "zendesk", sign("zendesk", body), body).status_code == 202


def test_a_connector_option_of_the_wrong_type_is_a_503_the_sender_retries_not_a_422(settings, store, signed, caplog):
    settings.vendors["zendesk"].options["signature_tolerance_seconds"] = "five minutes"
    client = create_app(settings, Plugins(settings), store).test_client()
    headers, body = signed("zendesk", "12")
    answer = post(client, "zendesk", headers, body)
    assert answer.status_code == 503
    assert answer.json["message"] == (
        "the receiver's configuration must be mended (vendors.zendesk.options.signature_tolerance_seconds: not a "
        "number above zero); the event was not accepted, send it again later")
    assert store.rows("inbox") == [] and "signature_tolerance_seconds" in caplog.text
    settings.vendors["zendesk"].options["signature_tolerance_seconds"] = 300  # mended: the redelivery is taken
    assert post(client, "zendesk", headers, body).status_code == 202
