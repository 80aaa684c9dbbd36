"""Zendesk write-back: ticket updates through PUT, one per decision where the API allows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.timeparse import parse_instant
from slabridge.vendorapi import COMMENTS, BadRequest, Conflict, NotFound, VendorClient, as_text, numeric_id

CONFLICT_RETRIES = 3
SEEN_TICKETS = 1024  # tickets whose stamp and tags from our last update are kept, to write again without a read

GROUP_FIX = "map the contract's group name to its id in vendors.zendesk.groups"
ASSIGNEE_FIX = "give the agent's zendesk user id (customers file: tam.assignee.zendesk)"


class ZendeskClient(VendorClient):
    """Ticket writes use ``safe_update`` with the ticket's ``updated_at``: a 409 means someone
    changed the ticket meanwhile, so the ticket is read again and the write retried.

    One decision's writes to a ticket go in one ticket update (tags as the ticket's whole list,
    computed from the tags read with the stamp; one comment per update); a lone tag change uses
    the tags endpoint."""

    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)
        self.settings = settings
        self._seen: dict[str, dict] = {}  # ticket path -> stamp and tags our last update returned
        self._seen_lock = threading.Lock()  # several tickets may be written at once (send_concurrency)

    def apply(self, ticket: TicketRef, action: Action) -> None:
        path = _path(ticket)
        match action:
            case AddTags(tags=tags):
                self._safely("PUT", f"{path}/tags", path, lambda seen: {"tags": list(tags), **_stamp(seen)})
            case RemoveTags(tags=tags):
                self._safely("DELETE", f"{path}/tags", path, lambda seen: {"tags": list(tags), **_stamp(seen)})
            case _:
                change = self._change(action)
                self._safely("PUT", path, path, lambda seen: {"ticket": {**change, **_stamp(seen)}})

    def joins(self, group: Sequence[Action], action: Action) -> bool:
        if isinstance(action, COMMENTS) and any(isinstance(a, COMMENTS) for a in group):
            return False  # an update carries one comment
        try:  # one that cannot be written goes alone: it fails without the others
            for each in (*group, action):
                self._change(each)
        except BadRequest:
            return False
        return True

    def apply_together(self, ticket: TicketRef, actions: Sequence[Action]) -> None:
        if len(actions) == 1:
            return self.apply(ticket, actions[0])
        path, change = _path(ticket), {}
        for action in actions:
            for key, value in self._change(action).items():
                change[key] = change.get(key, []) + value if key == "custom_fields" else value
        tag_changes = [a for a in actions if isinstance(a, (AddTags, RemoveTags))]

        def body(seen: dict) -> dict:
            tags = {"tags": _retagged(seen.get("tags") or [], tag_changes)} if tag_changes else {}
            return {"ticket": {**change, **tags, **_stamp(seen)}}
        self._safely("PUT", path, path, body)

    def _change(self, action: Action) -> dict:
        """What ``action`` changes in a ticket update (tags: nothing, the caller rewrites the list)."""
        match action:
            case AddTags() | RemoveTags():
                return {}
            case SetFields(fields=fields):
                return {"custom_fields": [{"id": _field_id(k), "value": v} for k, v in fields.items()]}
            case SetPriority(priority=priority):
                return {"priority": priority}
            case InternalNote(body=body):
                return {"comment": {"body": body, "public": False}}
            case PublicReply(body=body):
                return {"comment": {"body": body, "public": True}}
            case Assign(group=group, assignee=assignee):
                change = {"group_id": numeric_id(self.settings.group(group), "zendesk", "group", GROUP_FIX)
                          if group else None,
                          "assignee_id": numeric_id(assignee, "zendesk", "assignee", ASSIGNEE_FIX) if assignee else None}
                return {k: v for k, v in change.items() if v is not None}
            case SetStatus(status=status):
                return {"status": status}
        raise BadRequest(f"the zendesk connector cannot apply {action.type}")

    def changed_since(self, ticket: TicketRef, at: float) -> None:
        """Forget the ticket's stamp if it is older than ``at``: someone changed the ticket after our last
        update (the webhook of an agent's reply, say), so the stamp would only earn a 409."""
        path = _path(ticket)
        with self._seen_lock:
            seen = self._seen.get(path)
            if seen is not None and _epoch(seen.get("updated_at")) < at:
                del self._seen[path]

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

    def _safely(self, method: str, url: str, ticket_path: str, body: Callable[[dict], dict]) -> None:
        """Send ``body(ticket as last seen)`` with its stamp; on a 409 read the ticket again and retry."""
        for attempt in range(CONFLICT_RETRIES):
            with self._seen_lock:
                seen = self._seen.pop(ticket_path, None)
            seen = seen or self._read(ticket_path)
            try:
                response = self.request(method, url, json=body(seen))
            except Conflict:  # changed meanwhile: the next attempt reads the ticket again
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                continue
            written = (response.json() or {}).get("ticket") if response.content else None
            if isinstance(written, dict) and written.get("updated_at"):  # tag writes return none: read next time
                with self._seen_lock:
                    if len(self._seen) >= SEEN_TICKETS:
                        self._seen.pop(next(iter(self._seen)))  # the oldest: a stale one costs a 409 and a read
                    self._seen[ticket_path] = {"updated_at": written["updated_at"], "tags": written.get("tags")}
            return

    def _read(self, ticket_path: str) -> dict:
        return self.request("GET", ticket_path).json().get("ticket") or {}


def _path(ticket: TicketRef) -> str:
    return f"/api/v2/tickets/{quote(ticket.id, safe='')}"


def _epoch(stamp: object) -> float:
    """An ``updated_at`` as epoch seconds; one that cannot be read counts as the oldest (forgotten)."""
    try:
        when = parse_instant(stamp)
    except ValueError:
        when = None
    return when.timestamp() if when is not None else float("-inf")


def _stamp(seen: dict) -> dict:
    updated_at = seen.get("updated_at")
    return {"safe_update": True, "updated_stamp": updated_at} if updated_at else {}


def _retagged(tags: list[str], changes: Sequence[Action]) -> list[str]:
    """The ticket's tags after ``changes`` (adds and removes, in order)."""
    tags = list(tags)
    for change in changes:
        if isinstance(change, AddTags):
            tags += [t for t in change.tags if t not in tags]
        else:
            tags = [t for t in tags if t not in change.tags]
    return tags


def _field_id(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value
