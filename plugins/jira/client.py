"""Jira write-back: one issue edit per decision (labels, priority, fields, group), JSM comments, assignee,
transitions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.vendorapi import BadRequest, NotFound, VendorClient, as_text

PAGE = 100
MAX_PAGES = 10  # JSM lists comments oldest first; a request with more than 1,000 is not searched to its end


class JiraClient(VendorClient):
    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)
        self.settings = settings
        self.group_field = settings.options.get("group_field")
        self.transitions = settings.options.get("transitions", {})  # e.g. {"solved": "31"}: workflow-specific
        self.comment_api = settings.options.get("comment_api", "servicedesk")  # or "platform" (Jira without JSM)
        self.internal_role = settings.options.get("internal_role", "Administrators")

    def apply(self, ticket: TicketRef, action: Action) -> None:
        issue = f"/rest/api/3/issue/{quote(ticket.id, safe='')}"
        match action:
            case InternalNote(body=body):
                self._comment(ticket, body, public=False)
            case PublicReply(body=body):
                self._comment(ticket, body, public=True)
            case Assign(group=group, assignee=assignee) if assignee:
                self.request("PUT", f"{issue}/assignee", json={"accountId": assignee})
                if group:
                    self.apply_together(ticket, [Assign(group=group)])
            case SetStatus(status=status):
                if status not in self.transitions:
                    raise BadRequest(f"cannot set status {status!r}: options.transitions has no transition id for it")
                self.request("POST", f"{issue}/transitions", json={"transition": {"id": str(self.transitions[status])}})
            case _:
                edit: dict = {}
                self._edit(edit, action)
                self.request("PUT", issue, json=edit)

    def joins(self, group: Sequence[Action], action: Action) -> bool:
        """Labels, fields, priority and the group field are one issue edit; the rest are requests of their own."""
        return all(self._editable(a) for a in (*group, action))

    def apply_together(self, ticket: TicketRef, actions: Sequence[Action]) -> None:
        if len(actions) == 1:
            return self.apply(ticket, actions[0])
        edit: dict = {}
        for action in actions:
            self._edit(edit, action)
        self.request("PUT", f"/rest/api/3/issue/{quote(ticket.id, safe='')}", json=edit)

    def _editable(self, action: Action) -> bool:
        try:
            self._edit({}, action)
        except BadRequest:
            return False
        return True

    def _edit(self, edit: dict, action: Action) -> None:
        """Add ``action`` to an issue edit (``update`` operations and ``fields``); BadRequest if it is not one."""
        fields = edit.setdefault("fields", {}) if not isinstance(action, (AddTags, RemoveTags)) else None
        match action:
            case AddTags(tags=tags):
                edit.setdefault("update", {}).setdefault("labels", []).extend({"add": t} for t in tags)
            case RemoveTags(tags=tags):
                edit.setdefault("update", {}).setdefault("labels", []).extend({"remove": t} for t in tags)
            case SetFields(fields=values):
                fields.update({k: (v[:10] if k == "duedate" and v else v) for k, v in values.items()})
            case SetPriority(priority=priority):
                fields["priority"] = {"name": priority}
            case Assign(group=group, assignee=None) if group:
                if not self.group_field:
                    raise BadRequest("cannot assign a group: options.group_field is not configured for jira")
                fields[self.group_field] = {"name": self.settings.group(group)}
            case _:
                raise BadRequest(f"the jira connector cannot apply {action.type}")

    def look_up(self, kind: str, key: str) -> dict | None:
        try:
            if kind == "user":
                user = self.request("GET", "/rest/api/3/user", params={"accountId": key}).json() or {}
                return {"email": as_text(user.get("emailAddress")), "name": as_text(user.get("displayName")),
                        "account_type": as_text(user.get("accountType"))}
            if kind == "issue":  # what a partial issue left out, when there is no earlier event to carry
                return self.request("GET", f"/rest/api/3/issue/{quote(key, safe='')}").json() or None
            if kind == "organization":  # every one the customer is in, in Jira's order (one page: 50)
                found = self.request("GET", "/rest/servicedeskapi/organization", params={"accountId": key}).json()
                known = [{"id": as_text(o.get("id")), "name": as_text(o.get("name"))}
                         for o in (found or {}).get("values") or () if isinstance(o, dict) and as_text(o.get("id"))]
                return {"organizations": known} if known else None
        except NotFound:
            return None
        return super().look_up(kind, key)

    def has_comment(self, ticket: TicketRef, text: str) -> bool:
        key = quote(ticket.id, safe="")
        if self.comment_api != "servicedesk":
            found = self.request("GET", f"/rest/api/3/issue/{key}/comment",
                                 params={"orderBy": "-created", "maxResults": PAGE}).json() or {}
            return any(text in json.dumps(c.get("body")) for c in found.get("comments") or () if isinstance(c, dict))
        for page in range(MAX_PAGES):
            found = self.request("GET", f"/rest/servicedeskapi/request/{key}/comment",
                                 params={"start": page * PAGE, "limit": PAGE}).json() or {}
            if any(isinstance(c, dict) and text in str(c.get("body") or "") for c in found.get("values") or ()):
                return True
            if found.get("isLastPage", True):
                return False
        return False

    def _comment(self, ticket: TicketRef, body: str, public: bool) -> None:
        if self.comment_api == "servicedesk":
            self.request("POST", f"/rest/servicedeskapi/request/{quote(ticket.id, safe='')}/comment",
                         json={"body": body, "public": public})
            return
        comment: dict = {"body": adf(body)}
        if not public:  # plain Jira has no internal comments: restrict visibility to a role
            comment["visibility"] = {"type": "role", "value": self.internal_role}
        self.request("POST", f"/rest/api/3/issue/{quote(ticket.id, safe='')}/comment", json=comment)


def adf(text: str) -> dict:
    """Plain text as an Atlassian Document Format document: one paragraph per paragraph."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [""]
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []} for p in paragraphs]}
