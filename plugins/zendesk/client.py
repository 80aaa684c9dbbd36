"""Zendesk write-back: one request per action, ticket updates through PUT."""

from __future__ import annotations

from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.vendorapi import BadRequest, Conflict, NotFound, VendorClient, as_text, numeric_id

CONFLICT_RETRIES = 3

GROUP_FIX = "map the contract's group name to its id in vendors.zendesk.groups"
ASSIGNEE_FIX = "give the agent's zendesk user id (customers file: tam.assignee.zendesk)"


class ZendeskClient(VendorClient):
    """Ticket writes use ``safe_update`` with the ticket's ``updated_at``: a 409 means someone
    changed the ticket meanwhile, so the ticket is read again and the write retried."""

    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)
        self.settings = settings
        self._stamps: dict[str, str] = {}  # ticket path -> updated_at returned by our last ticket write

    def apply(self, ticket: TicketRef, action: Action) -> None:
        path = f"/api/v2/tickets/{quote(ticket.id, safe='')}"
        match action:
            case AddTags(tags=tags):
                self._safely("PUT", f"{path}/tags", path, lambda stamp: {"tags": list(tags), **stamp})
            case RemoveTags(tags=tags):
                self._safely("DELETE", f"{path}/tags", path, lambda stamp: {"tags": list(tags), **stamp})
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
                change = {"group_id": numeric_id(self.settings.group(group), "zendesk", "group", GROUP_FIX)
                          if group else None,
                          "assignee_id": numeric_id(assignee, "zendesk", "assignee", ASSIGNEE_FIX) if assignee else None}
                self._update(path, {k: v for k, v in change.items() if v is not None})
            case SetStatus(status=status):
                self._update(path, {"status": status})
            case _:
                raise BadRequest(f"the zendesk connector cannot apply {action.type}")

    def has_comment(self, ticket: TicketRef, text: str) -> bool:
        """The newest 100 comments (a re-send follows its first attempt closely)."""
        found = self.request("GET", f"/api/v2/tickets/{quote(ticket.id, safe='')}/comments",
                             params={"sort": "-created_at", "page[size]": "100"}).json() or {}
        return any(isinstance(c, dict) and text in str(c.get("body") or c.get("plain_body") or "")
                   for c in found.get("comments") or ())

    def look_up(self, kind: str, key: str) -> dict | None:
        if kind != "user":
            return super().look_up(kind, key)
        try:
            user = self.request("GET", f"/api/v2/users/{quote(key, safe='')}").json().get("user") or {}
        except NotFound:
            return None
        return {k: as_text(user.get(k)) for k in ("email", "name", "organization_id", "role")}

    def _update(self, path: str, ticket: dict) -> None:
        self._safely("PUT", path, path, lambda stamp: {"ticket": {**ticket, **stamp}})

    def _safely(self, method: str, url: str, ticket_path: str, body) -> None:
        for attempt in range(CONFLICT_RETRIES):
            updated_at = self._stamps.pop(ticket_path, None) or self._read_stamp(ticket_path)
            stamp = {"safe_update": True, "updated_stamp": updated_at} if updated_at else {}
            try:
                response = self.request(method, url, json=body(stamp))
            except Conflict:  # changed meanwhile: the next attempt reads the ticket again
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                continue
            written = (response.json() or {}).get("ticket") if response.content else None
            if isinstance(written, dict) and written.get("updated_at"):
                self._stamps[ticket_path] = written["updated_at"]  # tag writes return no stamp: read next time
            return

    def _read_stamp(self, ticket_path: str) -> str | None:
        return (self.request("GET", ticket_path).json().get("ticket") or {}).get("updated_at")


def _field_id(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value
