"""The vendor-neutral models that cross every plugin boundary.

Connectors turn webhooks into a :class:`TicketEvent`; rules turn events into a
:class:`Decision` whose :data:`Action` list a connector's client writes back.
Events and actions are validated pydantic models; a decision and its reasons
are built per event, so they are cheap values (:mod:`slabridge.values`). All
are frozen: a plugin can read them, never change them in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, Union

import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .timeparse import supported
from .values import Value


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def evolve(self, update: dict[str, Any]) -> Any:
        """``model_copy(update=update)`` without pydantic's general path (these models have no extra and no
        private attributes): an event is copied on most decisions."""
        copied = _new(type(self))
        _set(copied, "__dict__", {**self.__dict__, **update})
        _set(copied, "__pydantic_extra__", None)
        _set(copied, "__pydantic_fields_set__", self.__pydantic_fields_set__ | update.keys())
        _set(copied, "__pydantic_private__", None)
        return copied


_new, _set = object.__new__, object.__setattr__


def _in_standard_utc(when: datetime) -> datetime:
    """An instant slabridge computes with (:func:`~slabridge.timeparse.supported`), at offset zero in the standard
    library's UTC: pydantic reads ``Z`` and ``+00:00`` into a zone of its own, which every comparison, conversion
    and hash then asks for its offset (a Python call each); the same instant in ``timezone.utc`` needs no asking,
    and is written out alike."""
    if when.tzinfo is not timezone.utc and when.utcoffset() == _ZERO:
        when = when.replace(tzinfo=timezone.utc)
    return supported(when)


_ZERO = timedelta(0)
Instant = Annotated[AwareDatetime, AfterValidator(_in_standard_utc)]


class EventKind(StrEnum):
    """What happened to the ticket. ``deleted``: deleted or marked spam on the helpdesk (it may come back: the
    next event after one is decided as any other); ``timer``: a durable timer of slabridge's fired."""

    created = "created"
    updated = "updated"
    comment = "comment"
    status = "status"
    priority = "priority"
    deleted = "deleted"
    timer = "timer"


class Person(Frozen):
    """Someone on the ticket, as the helpdesk knows them."""

    id: str | None = None
    email: str | None = None
    name: str | None = None


class Actor(Person):
    """Who caused the event.

    ``is_self`` is slabridge's own API user (our write-backs echoed back);
    ``is_automation`` is any other trigger, macro or bot of the helpdesk;
    ``is_agent`` says a support agent acted (None where the vendor does not say).
    """

    is_automation: bool = False
    is_self: bool = False
    is_agent: bool | None = None


class Organization(Frozen):
    """The ticket's organization; ``also``: the ids of the further ones it is shared with, in the vendor's order
    (a JSM request shared with several). A customer is found by the first of them the customers file names."""

    id: str | None = None
    name: str | None = None
    also: tuple[str, ...] = Field(default=(), exclude_if=lambda ids: not ids)  # stored states stay as they were


class TicketRef(Frozen):
    """Where a ticket lives: the vendor and the vendor's own id or key."""

    vendor: str
    id: str

    @cached_property
    def key(self) -> str:
        """``vendor:id``: a ticket's name in the store, the logs and replay lines (asked several times a decision)."""
        return f"{self.vendor}:{self.id}"


class Comment(Frozen):
    """The comment an event carries, if any. The body may hold PHI: never log it.

    ``public`` is None where the webhook does not say (a Freshdesk note of unnamed type): the connector's
    ``enrich`` looks it up, and until then (a replay makes no look-ups) the comment counts as private.
    """

    public: bool | None = True
    author: Actor = Field(default_factory=Actor)
    body: str = Field(default="", repr=False)


ABSENT_FIELDS = ("subject", "description", "priority", "status", "tags", "custom_fields", "requester",
                 "organization", "created_at")


class TicketEvent(Frozen):
    """One change of one ticket, as every rule sees it, whatever the vendor.

    ``absent`` names the fields this delivery does not carry (a Jira comment event
    has no description or labels; a Zendesk envelope no custom fields): absent
    means *unchanged*, never *empty*, and the engine fills them from the ticket's
    last event before any rule runs.
    """

    vendor: str
    delivery_id: str
    ticket: TicketRef
    kind: EventKind
    actor: Actor = Field(default_factory=Actor)
    requester: Person = Field(default_factory=Person)
    organization: Organization = Field(default_factory=Organization)
    subject: str = Field(default="", repr=False)
    description: str = Field(default="", repr=False)
    priority: str | None = None
    status: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    comment: Comment | None = None
    created_at: Instant | None = None
    updated_at: Instant | None = None
    occurred_at: Instant  # an instant without a UTC offset would be read in no particular zone
    absent: tuple[Literal[ABSENT_FIELDS], ...] = ()  # type: ignore[valid-type]


# --- Actions: what a decision asks a connector to write back ---------------


class SetFields(Frozen):
    """Set ticket fields (deadlines) named by the vendor's field mapping."""

    type: Literal["set_fields"] = "set_fields"
    fields: dict[str, str | None]


class AddTags(Frozen):
    type: Literal["add_tags"] = "add_tags"
    tags: tuple[str, ...]


class RemoveTags(Frozen):
    type: Literal["remove_tags"] = "remove_tags"
    tags: tuple[str, ...]


class SetPriority(Frozen):
    """Set the priority, in the vendor's own value (``high``, ``3``, ``Highest``)."""

    type: Literal["set_priority"] = "set_priority"
    priority: str


class InternalNote(Frozen):
    type: Literal["internal_note"] = "internal_note"
    body: str = Field(repr=False)


class PublicReply(Frozen):
    type: Literal["public_reply"] = "public_reply"
    body: str = Field(repr=False)


class Assign(Frozen):
    type: Literal["assign"] = "assign"
    group: str | None = None
    assignee: str | None = None


class SetStatus(Frozen):
    """Close (``solved``/``closed``) or reopen a ticket, in slabridge's neutral words."""

    type: Literal["set_status"] = "set_status"
    status: str


Action = Annotated[
    Union[SetFields, AddTags, RemoveTags, SetPriority, InternalNote, PublicReply, Assign, SetStatus],
    Field(discriminator="type"),
]
ACTIONS: TypeAdapter[Action] = TypeAdapter(Action)


class Reason(Value, omit_defaults=True):
    """Why a rule decided what it did: the rule, the contract clause, the inputs.

    In JSON a reason without a clause has no ``clause`` key; ``inputs`` is always there
    (a factory msgspec cannot see into is never taken for the default).
    """

    rule: str
    text: str
    clause: str | None = None
    inputs: dict[str, Any] = msgspec.field(default_factory=lambda: {})


class Decision(Value):
    """Everything the engine decided for one event, with its reasons."""

    ticket: TicketRef
    delivery_id: str
    customer: str | None = None
    entitlement: str | None = None
    severity: str | None = None
    actions: tuple[Action, ...] = ()
    reasons: tuple[Reason, ...] = ()
    ignored: bool = False


def problems(error: ValidationError, whole: str = "event", limit: int = 5) -> str:
    """A validation error's fields and problems, never the values (they may hold ticket text); ``whole`` names
    what a problem without a field is about."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}" for e in error.errors()[:limit])
