"""The operator console through Flask's test client: sign-in, CSRF, every page, downloads, bad input."""

import csv
import io
import json
import re
from datetime import datetime, timezone

import pytest
from markupsafe import escape

from slabridge.board import RANK
from slabridge.config import Settings
from slabridge.plugins import Plugins
from slabridge.report import compliance
from slabridge_webhooks import create_app

from .conftest import PHI, TOKEN


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


@pytest.fixture
def signed_in(console_app):
    client = console_app.test_client()
    token_page = client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"token": TOKEN, "csrf": csrf_of(token_page)})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/console/")
    return client


def test_everything_but_sign_in_needs_a_session(console_app):
    client = console_app.test_client()
    for path in ("/console/", "/console/dead", "/console/compliance", "/console/compliance.csv", "/console/connectors",
                 "/console/contracts", "/console/tickets/zendesk/1"):
        answer = client.get(path)
        assert answer.status_code == 303 and "/console/sign-in" in answer.headers["Location"], path
    assert client.get("/healthz").status_code == 200  # the receiver's own endpoints stay open


def test_the_session_cookie_is_httponly_and_samesite_strict(console_app):
    client = console_app.test_client()
    page = client.get("/console/sign-in")
    cookie = client.post("/console/sign-in", data={"token": TOKEN, "csrf": csrf_of(page)}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert TOKEN not in cookie


def test_a_wrong_token_is_a_401_page_and_the_token_is_never_logged(console_app, caplog):
    client = console_app.test_client()
    page = client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"token": "guess-123", "csrf": csrf_of(page)})
    assert answer.status_code == 401 and "not the admin token" in answer.get_data(as_text=True)
    assert "sign-in refused" in caplog.text and "guess-123" not in caplog.text
    assert client.get("/console/").status_code == 303  # still signed out


def test_a_form_without_its_csrf_token_is_a_400(signed_in, site, dead_write):
    store = site[1]
    dead_before = store.dead_letters()
    for data in ({}, {"csrf": "forged"}, {"csrf": "é" * 10}):
        answer = signed_in.post("/console/dead/retry", data={"kind": "write", "id": dead_write["id"], **data})
        assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert store.dead_letters() == dead_before
    assert signed_in.post("/console/sign-in", data={"token": TOKEN}).status_code == 400  # sign-in form too


def test_a_token_in_the_query_string_is_refused(console_app, signed_in):
    assert console_app.test_client().get(f"/console/?token={TOKEN}").status_code == 400
    assert signed_in.get("/console/dead?access_token=x").status_code == 400


def test_without_an_admin_token_the_console_is_off_and_says_how(site, monkeypatch):
    settings, store, *_ = site
    monkeypatch.delenv(settings.admin_token_env, raising=False)
    answer = create_app(settings, Plugins(settings), store).test_client().get("/console/")
    assert answer.status_code == 404 and settings.admin_token_env in answer.get_data(as_text=True)
    off = Settings(**{**settings.model_dump(), "console": False})
    assert create_app(off, Plugins(off), store).test_client().get("/console/sign-in").status_code == 404


def test_the_board_lists_breached_first_then_at_risk_and_links_each_ticket(signed_in):
    text = signed_in.get("/console/").get_data(as_text=True)
    states = re.findall(r'<tr data-state="(\w+)">', text)
    assert states and "breached" in states
    assert [RANK[s] for s in states] == sorted(RANK[s] for s in states)
    assert 'http-equiv="refresh"' in text
    assert re.search(r'href="http://127\.0\.0\.1:\d+/(agent/tickets|a/tickets|browse)/', text)  # the vendor's UI
    assert PHI not in text


def test_board_filters_and_pages(signed_in):
    text = signed_in.get("/console/?vendor=jira").get_data(as_text=True)
    rows = re.findall(r'<a href="/console/tickets/(\w+)/', text)
    assert rows and set(rows) == {"jira"}
    caret = signed_in.get("/console/?customer=nobody-at-all").get_data(as_text=True)
    assert "No open ticket matches." in caret
    last = signed_in.get("/console/?page=999").get_data(as_text=True)
    assert re.search(r"page (\d+) of \1<", last)  # a page past the end shows the last one


def test_a_ticket_timeline_shows_events_decisions_writes_and_reasons_but_no_ticket_text(signed_in, dead_write):
    dead = dead_write
    text = signed_in.get(f"/console/tickets/{dead['vendor']}/{dead['ticket_id']}").get_data(as_text=True)
    kinds = re.findall(r'<li class="(event|decision|write)">', text)
    assert kinds[0] == "event" and "decision" in kinds and "write" in kinds
    assert str(escape(dead["error"][:80])) in text  # the vendor's answer to the refused write
    assert "reason(s)" in text and "<code>entitlement" in text
    assert PHI not in text and "Ticket</dd>" not in text


def test_an_unknown_ticket_is_a_404_page(signed_in):
    answer = signed_in.get("/console/tickets/zendesk/999999999")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert signed_in.get("/console/no-such-page").status_code == 404


def test_a_dead_letter_is_retried_or_dropped_from_the_page(signed_in, site, dead_write):
    store, dead = site[1], dead_write
    page = signed_in.get("/console/dead")
    assert f'data-id="write-{dead["id"]}"' in page.get_data(as_text=True)
    answer = signed_in.post("/console/dead/retry", data={"csrf": csrf_of(page), "kind": "write", "id": dead["id"]})
    assert answer.status_code == 303
    assert dead["id"] not in [r["id"] for r in store.dead_letters() if r["kind"] == "write"]
    assert f'data-id="write-{dead["id"]}"' not in signed_in.get("/console/dead").get_data(as_text=True)
    bad = signed_in.post("/console/dead/explode", data={"csrf": csrf_of(page), "kind": "write", "id": 1})
    assert bad.status_code == 400
    for odd in ("99999999999999999999", "-5", "0", "x"):
        answer = signed_in.post("/console/dead/retry", data={"csrf": csrf_of(page), "kind": "write", "id": odd})
        assert answer.status_code == 400, odd


def test_a_dropped_dead_letter_leaves_the_list_for_good(signed_in, site, dead_write):
    store = site[1]
    page = signed_in.get("/console/dead")
    answer = signed_in.post("/console/dead/drop", data={"csrf": csrf_of(page), "kind": "write", "id": dead_write["id"]})
    assert answer.status_code == 303
    assert next(r for r in store.rows("outbox") if r["id"] == dead_write["id"])["status"] == "dropped"
    assert f'data-id="write-{dead_write["id"]}"' not in signed_in.get("/console/dead").get_data(as_text=True)


def test_compliance_page_charts_one_bar_per_row_and_downloads_the_same_rows(signed_in, site):
    settings, store, *_ = site
    from slabridge.directory import load

    expected = compliance(store.ticket_clocks(), load(settings.contracts_dir, settings.customers_file)[0],
                          datetime.now(timezone.utc), "week")
    text = signed_in.get("/console/compliance?period=week").get_data(as_text=True)
    assert text.count('<rect class="bar') == len(expected) > 0
    assert text.count("<svg") == len({r["customer"] for r in expected})
    rows = list(csv.DictReader(io.StringIO(signed_in.get("/console/compliance.csv?period=week").get_data(as_text=True))))
    assert [(r["period"], r["customer"], r["metric"]) for r in rows] == [
        (r["period"], r["customer"], r["metric"]) for r in expected]
    as_json = json.loads(signed_in.get("/console/compliance.json?period=week").get_data(as_text=True))
    assert [r["met"] for r in as_json] == [r["met"] for r in expected]
    assert signed_in.get("/console/compliance.xml").status_code == 404


def test_connectors_show_activity_last_refusal_and_the_set_up_template(signed_in, console_app):
    console_app.test_client().post("/webhooks/zendesk", data=b"{}", content_type="application/json")  # unsigned
    text = signed_in.get("/console/connectors").get_data(as_text=True)
    for vendor in ("zendesk", "freshdesk", "jira"):
        assert f'id="c-{vendor}"' in text
    assert re.search(r"last refused</dt><dd>\d{4}-\d\d-\d\d [\d:]+ UTC: 401", text)
    assert "Webhook set-up to copy into zendesk" in text
    assert "dead writes</dt><dd>1" in text or "dead writes</dt><dd>0" in text


def test_contracts_show_clauses_and_what_would_happen_to_an_event(signed_in, site):
    events = site[2]
    page = signed_in.get("/console/contracts")
    text = page.get_data(as_text=True)
    assert "CARET" in text.upper() and "clause(s) with their source and reading" in text
    event = next(e for e in events if e.kind == "created" and e.vendor == "zendesk")
    answer = signed_in.post("/console/contracts", data={"csrf": csrf_of(page), "event": event.model_dump_json()})
    decided = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="decision"' in decided and "<code>entitlement" in decided
    wrong = signed_in.post("/console/contracts", data={"csrf": csrf_of(page), "event": '{"vendor": 5}'})
    assert wrong.status_code == 422 and "Not a canonical event" in wrong.get_data(as_text=True)
    assert "Traceback" not in wrong.get_data(as_text=True)


def test_hostile_requests_to_the_console_never_5xx(signed_in, console_app, caplog):
    """Odd paths, query values and forms, signed in or not, with or without the CSRF token: never a 5xx."""
    from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

    csrf = csrf_of(signed_in.get("/console/sign-in"))
    anonymous = console_app.test_client()
    odd = st.one_of(st.text(max_size=30), st.sampled_from(["%00", "\u202e", "-1", "99999999999999999999", "1e9",
                                                           "../../etc/passwd", "<script>", "' OR 1=1 --"]))

    @hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
           path=st.sampled_from(["/console/", "/console/dead", "/console/dead/retry", "/console/dead/drop",
                                 "/console/compliance", "/console/compliance.csv", "/console/compliance.json",
                                 "/console/connectors", "/console/contracts", "/console/sign-in", "/console/sign-out",
                                 "/console/tickets/jira/SUP-1", "/console/tickets/zendesk/%ff", "/console/nope"]),
           query=st.dictionaries(st.sampled_from(["page", "vendor", "customer", "severity", "period", "next"]), odd,
                                 max_size=3),
           form=st.dictionaries(st.sampled_from(["kind", "id", "event", "token"]), odd, max_size=3),
           with_csrf=st.booleans(), signed=st.booleans())
    def send(method, path, query, form, with_csrf, signed):
        client = signed_in if signed else anonymous
        answer = client.open(path, method=method, query_string=query,
                             data={**form, **({"csrf": csrf} if with_csrf else {})})
        assert answer.status_code < 500, (path, query, form, answer.get_data(as_text=True)[:300])
        assert "Traceback" not in answer.get_data(as_text=True)

    send()
    assert not [r for r in caplog.records if r.exc_info]


def test_a_ticket_whose_stored_rows_were_edited_out_of_shape_still_shows_its_timeline(signed_in, site):
    settings, store, *_ = site
    from slabridge.store import audit, inbox, outbox

    now, where = datetime.now(timezone.utc).timestamp(), {"vendor": "zendesk", "ticket_id": "edited-by-hand"}
    with store.engine.begin() as conn:
        conn.execute(inbox.insert().values(**where, delivery_id="edited-1", status="done", received_at=now,
                                           event={"kind": "comment", "actor": 5, "tags": 7, "comment": PHI}))
        conn.execute(inbox.insert().values(**where, delivery_id="edited-2", status="done", received_at=now,
                                           event=PHI))
        conn.execute(audit.insert().values(**where, delivery_id="edited-1", at=now, kind="decision",
                                           body={"actions": [5, PHI], "reasons": PHI}))
        conn.execute(outbox.insert().values(**where, delivery_id="edited-1", status="done", created_at=now,
                                            action=PHI))
    answer = signed_in.get("/console/tickets/zendesk/edited-by-hand")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert len(re.findall(r'<li class="(event|decision|write)">', answer.get_data(as_text=True))) == 4
    assert PHI not in answer.get_data(as_text=True)


def test_a_console_page_that_fails_unexpectedly_is_an_error_page_not_the_receivers_json(signed_in, monkeypatch,
                                                                                        caplog):
    from slabridge import overview

    def broken(*_):
        raise RuntimeError("a bug")
    monkeypatch.setattr(overview, "timeline", broken)
    answer = signed_in.get("/console/tickets/zendesk/1")
    assert answer.status_code == 500 and answer.mimetype == "text/html"
    assert "this page could not be shown" in answer.get_data(as_text=True)
    assert "event was not accepted" not in answer.get_data(as_text=True) and "RuntimeError: a bug" in caplog.text
