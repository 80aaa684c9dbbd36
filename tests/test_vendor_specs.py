"""The OpenAPI request checker rejects what the vendors' documents reject (so the autouse check means something)."""

import pytest


@pytest.mark.parametrize("vendor, method, path, body, fragment", [
    ("zendesk", "PUT", "/api/v2/tickets/12", {"ticket": {"assignee_id": "abc"}}, "'abc' is not of type 'integer'"),
    ("zendesk", "PUT", "/api/v2/tickets/abc", {"ticket": {}}, "path parameter ticket_id: 'abc' is not an integer"),
    ("zendesk", "PATCH", "/api/v2/tickets/12", {"ticket": {}}, "no such operation"),
    ("zendesk", "PUT", "/api/v2/tickets/12/tags", {"tag": ["x"]}, "'tags' is a required property"),
    ("zendesk", "PUT", "/api/v2/tickets/12", {"ticket": {"custom_fields": [{"value": "x"}]}}, "'id' is a required"),
    ("freshdesk", "PUT", "/api/v2/tickets/12", {"priority": "high"}, "is not of type 'integer'"),
    ("freshdesk", "POST", "/api/v2/tickets/12/notes", {"private": True}, "'body' is a required property"),
    ("jira", "PUT", "/rest/api/3/issue/SUP-1", {"update": {"labels": "x"}}, "is not of type 'array'"),
    ("jira", "POST", "/rest/servicedeskapi/request/SUP-1/comment", {"body": "x", "public": "yes"},
     "is not of type 'boolean'"),
    ("jira", "PUT", "/rest/api/3/issues/SUP-1", {}, "no such operation"),
])
def test_checker_rejects(request_checkers, vendor, method, path, body, fragment):
    problems = request_checkers[vendor].problems(method, path, body)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("vendor, method, path, body", [
    ("zendesk", "PUT", "/api/v2/tickets/12", {"ticket": {"priority": "urgent", "comment": {"body": "x", "public": False}}}),
    ("zendesk", "PUT", "/api/v2/tickets/12", {"ticket": {"custom_fields": [{"id": 360001, "value": "2026-03-04T11:00:00-07:00"}]}}),
    ("zendesk", "PUT", "/api/v2/tickets/12/tags", {"tags": ["sla_p1"], "safe_update": True,
                                                   "updated_stamp": "2026-03-04T11:00:00Z"}),
    ("freshdesk", "PUT", "/api/v2/tickets/12", {"priority": 4, "tags": ["a"], "custom_fields": {"cf_x": "y"}}),
    ("freshdesk", "POST", "/api/v2/tickets/12/reply", {"body": "hello"}),
    ("jira", "PUT", "/rest/api/3/issue/SUP-1", {"update": {"labels": [{"add": "sla_p1"}]}, "fields": {"priority": {"name": "High"}}}),
    ("jira", "PUT", "/rest/api/3/issue/SUP-1/assignee", {"accountId": "5b10ac8d82e05b22cc7d4ef5"}),
    ("jira", "POST", "/rest/servicedeskapi/request/SUP-1/comment", {"body": "x", "public": False}),
])
def test_checker_accepts_what_slabridge_sends(request_checkers, vendor, method, path, body):
    assert request_checkers[vendor].problems(method, path, body) == []


def test_a_fake_vendor_request_the_spec_rejects_fails_the_test(request_checkers, requests_match_vendor_specs):
    import httpx

    from slabridge.plugins import Plugins

    fake = Plugins().connectors["zendesk"].fake_api().start()
    try:
        httpx.put(f"{fake.url}/api/v2/tickets/5", json={"ticket": {"assignee_id": "not-a-number"}})
    finally:
        fake.stop()
    assert fake in requests_match_vendor_specs
    problems = request_checkers["zendesk"].problems("PUT", "/api/v2/tickets/5", fake.requests[0].body)
    assert problems  # the autouse fixture would fail this test; clear the record so it does not
    fake.requests.clear()
