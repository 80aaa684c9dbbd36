"""Zendesk write-back: one request per action, ticket updates through PUT."""

from __future__ import annotations

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, TicketRef,
)
from slabridge.vendorapi import VendorClient


class ZendeskClient(VendorClient):
    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)

    def apply(self, ticket: TicketRef, action: Action) -> None:
        path = f"/api/v2/tickets/{ticket.id}"
        match action:
            case AddTags(tags=tags):
                self.request("PUT", f"{path}/tags", json={"tags": list(tags)})
            case RemoveTags(tags=tags):
                self.request("DELETE", f"{path}/tags", json={"tags": list(tags)})
            case SetFields(fields=fields):
                values = [{"id": _field_id(k), "value": v} for k, v in fields.items()]
                self._update(path, {"custom_fields": values})
            case SetPriority(priority=priority):
                self._update(path, {"priority": priority})
            case InternalNote(body=body):
                self._update(path, {"comment": {"body": body, "public": False}})
            case PublicReply(body=body):
                self._update(path, {"comment": {"body": body, "public": True}})
            case Assign(group=group, assignee=assignee):
                change = {"group_id": _field_id(group) if group else None,
                          "assignee_id": _field_id(assignee) if assignee else None}
                self._update(path, {k: v for k, v in change.items() if v is not None})

    def _update(self, path: str, ticket: dict) -> None:
        self.request("PUT", path, json={"ticket": ticket})


def _field_id(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value
