"""A fake Jira Cloud / JSM API for the demo and tests (real HTTP on loopback)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime

from slabridge.testing.fakeapi import FakeAPI

ISSUE = r"/rest/api/3/issue/([A-Za-z][A-Za-z0-9_]*-\d+)"


def _issue(api, key):
    return api.ticket(key, fields={})


def _show(api, m, body):
    issue = _issue(api, m[1])
    return 200, {"key": m[1], "fields": {**issue["fields"], "labels": issue["tags"]}}


def _edit(api, m, body):
    issue = _issue(api, m[1])
    for op in ((body or {}).get("update") or {}).get("labels", []):
        if "add" in op and op["add"] not in issue["tags"]:
            issue["tags"].append(op["add"])
        if "remove" in op and op["remove"] in issue["tags"]:
            issue["tags"].remove(op["remove"])
    issue["fields"].update((body or {}).get("fields") or {})
    return 204, None


def _assignee(api, m, body):
    _issue(api, m[1])["fields"]["assignee"] = {"accountId": (body or {}).get("accountId")}
    return 204, None


def _comment(api, m, body):
    _issue(api, m[1])["comments"].append(body)
    return 201, {"id": str(len(api.requests)), "body": (body or {}).get("body"), "public": (body or {}).get("public")}


def _transition(api, m, body):
    _issue(api, m[1])["fields"]["status"] = {"transition": ((body or {}).get("transition") or {}).get("id")}
    return 204, None


def _user(api, m, body, query):
    user = api.record("user", query.get("accountId", ""))
    return (200, user) if user else (404, {"errorMessages": ["user not found"]})


def _organizations(api, m, body, query):
    found = api.record("organizations", query.get("accountId", "")) or []
    return 200, {"size": len(found), "start": 0, "limit": 50, "isLastPage": True, "values": found}


def _comments(api, m, body, query):
    comments = list(_issue(api, m[1])["comments"])
    if "orderBy" in query:  # the platform API: newest first when asked
        return 200, {"comments": comments[::-1] if query["orderBy"] == "-created" else comments,
                     "startAt": 0, "maxResults": len(comments), "total": len(comments)}
    start, limit = int(query.get("start", 0)), int(query.get("limit", 50))
    page = comments[start:start + limit]
    return 200, {"start": start, "limit": limit, "size": len(page), "isLastPage": start + limit >= len(comments),
                 "values": page}


def fake_api() -> FakeAPI:
    return FakeAPI("jira", [
        ("GET", r"/rest/api/3/user", _user), ("GET", r"/rest/servicedeskapi/organization", _organizations),
        ("GET", ISSUE, _show), ("PUT", ISSUE, _edit), ("PUT", ISSUE + "/assignee", _assignee),
        ("POST", ISSUE + "/transitions", _transition), ("POST", ISSUE + "/comment", _comment),
        ("POST", r"/rest/servicedeskapi/request/([A-Za-z][A-Za-z0-9_]*-\d+)/comment", _comment),
        ("GET", ISSUE + "/comment", _comments),
        ("GET", r"/rest/servicedeskapi/request/([A-Za-z][A-Za-z0-9_]*-\d+)/comment", _comments),
    ])


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers a Jira admin webhook with a secret sends with ``body``."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature": signature,
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4())}


def sample_webhook(secret: str, ticket_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
    """A signed ``jira:issue_created`` admin webhook."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    body = json.dumps({
        "timestamp": int(now.timestamp() * 1000), "webhookEvent": "jira:issue_created",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Sam", "accountType": "customer"},
        "issue": {"id": "10001", "key": ticket_id, "fields": {
            "summary": "Estimates blocked", "description": "We are blocked and cannot generate an estimate.",
            "priority": {"name": "Medium"}, "status": {"name": "Waiting for support"}, "labels": [],
            "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ray",
                         "emailAddress": "ray@tailspin.example"},
            "customfield_10002": [{"id": 12, "name": "Tailspin Pools"}],
            "created": stamp, "updated": stamp}},
    }).encode()
    return signed_headers(secret, body, now), body
