"""Jira write-back: issue edits (labels, priority, fields), JSM comments, assignee."""

from __future__ import annotations

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.vendorapi import BadRequest, VendorClient


class JiraClient(VendorClient):
    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)
        self.group_field = settings.options.get("group_field")
        self.transitions = settings.options.get("transitions", {})  # e.g. {"solved": "31"}: workflow-specific

    def apply(self, ticket: TicketRef, action: Action) -> None:
        issue = f"/rest/api/3/issue/{ticket.id}"
        match action:
            case AddTags(tags=tags):
                self.request("PUT", issue, json={"update": {"labels": [{"add": t} for t in tags]}})
            case RemoveTags(tags=tags):
                self.request("PUT", issue, json={"update": {"labels": [{"remove": t} for t in tags]}})
            case SetFields(fields=fields):
                values = {k: (v[:10] if k == "duedate" and v else v) for k, v in fields.items()}
                self.request("PUT", issue, json={"fields": values})
            case SetPriority(priority=priority):
                self.request("PUT", issue, json={"fields": {"priority": {"name": priority}}})
            case InternalNote(body=body):
                self._comment(ticket, body, public=False)
            case PublicReply(body=body):
                self._comment(ticket, body, public=True)
            case Assign(group=group, assignee=assignee):
                if assignee:
                    self.request("PUT", f"{issue}/assignee", json={"accountId": assignee})
                if group:
                    if not self.group_field:
                        raise BadRequest("cannot assign a group: options.group_field is not configured for jira")
                    self.request("PUT", issue, json={"fields": {self.group_field: {"name": group}}})
            case SetStatus(status=status):
                if status not in self.transitions:
                    raise BadRequest(f"cannot set status {status!r}: options.transitions has no transition id for it")
                self.request("POST", f"{issue}/transitions", json={"transition": {"id": str(self.transitions[status])}})
            case _:
                raise BadRequest(f"the jira connector cannot apply {action.type}")

    def _comment(self, ticket: TicketRef, body: str, public: bool) -> None:
        self.request("POST", f"/rest/servicedeskapi/request/{ticket.id}/comment", json={"body": body, "public": public})
