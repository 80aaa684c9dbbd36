"""Matching contract conditions against a ticket, and calendars per customer.

What a match reports is the contract's own words (the phrase or pattern name
that matched), never the ticket's text, which may hold PHI.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from slabridge.calendar import Calendar, compile_calendar
from slabridge.contract import Contract, Match
from slabridge.models import Comment, EventKind, TicketEvent
from slabridge.phrases import first_phrase

from .remembered import ByIdentity


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def new_comment(event: TicketEvent) -> Comment | None:
    """The comment an event brings: a comment event's only. Helpdesks send the ticket's latest comment with
    other changes too (Freshdesk's and Zendesk's trigger placeholders), beside the actor of that change, who need
    not be its author: an agent's priority change would pass the customer's last words as the agent's."""
    return event.comment if event.kind == EventKind.comment else None


def ticket_text(event: TicketEvent) -> str:
    """Subject, description and the customer's latest comment: what classification reads. Support's words are
    not the customer's: an agent asking "is the whole system down?" describes nothing."""
    parts = [event.subject, event.description]
    comment = new_comment(event)
    if comment and comment.public and not comment.author.is_automation and not by_support(comment.author, event):
        parts.append(own_words(comment.body))
    return "\n".join(p for p in parts if p)


def own_words(body: str) -> str:
    """A comment without the lines it quotes (``>`` first, as mail clients quote the message answered, and as
    connectors mark HTML and wiki-markup quotes): support's reply quoted under the customer's "Thanks" is not the
    customer's words."""
    if ">" not in body:
        return body
    return "\n".join(line for line in body.split("\n") if not line.lstrip().startswith(">"))


SENTENCE_END = re.compile(r"[.!?;\n]+")


def sentences(text: str) -> list[str]:
    """``text`` cut where a sentence or line ends."""
    return [part for part in SENTENCE_END.split(text) if part.strip()]


def first_pattern(patterns: list[str], text: str) -> str | None:
    return _first_pattern(tuple(patterns), text)


@lru_cache(maxsize=4096)
def _first_pattern(patterns: tuple[str, ...], text: str) -> str | None:
    """Remembered, like :func:`slabridge.phrases.first_phrase`: the same text comes back with each event."""
    return next((p for p in patterns if _pattern(p).search(text)), None)


def field_holds(value: Any, accepted: frozenset[str]) -> bool:
    """Whether a custom field's value is one of ``accepted`` (lower-cased): a plain value as text, a list (a
    multi-select's values, as every connector gives them) by any of its items."""
    if isinstance(value, (list, tuple)):
        return any(str(item).lower() in accepted for item in value if not isinstance(item, (dict, list)))
    return str(value).lower() in accepted


def matches(match: Match, event: TicketEvent, text: str, contract: Contract, designated: str | None,
            calendar_for, planned: tuple[str, ...] = ()) -> str | None:
    """A short description of why ``match`` holds, or None if it does not."""
    found = []
    if match.phrases:
        phrase = first_phrase(match.phrases, text, contract.language)
        if phrase is None:
            return None
        found.append(f'mentions "{phrase}"')
    if match.patterns:
        if first_pattern(match.patterns, text) is None:
            return None
        found.append("matches a contract pattern")
    for name, accepted in match.accepted.items():
        if not field_holds(event.custom_fields.get(name, ""), accepted):
            return None
        found.append(f"field {name}")
    if match.levels:
        if designated not in match.levels:
            return None
        found.append(f"designated {designated}")
    if match.statuses:
        if (event.status or "").lower() not in match.accepted_statuses:
            return None
        found.append(f"status {event.status}")
    if match.tags:
        tag = next((t for t in match.tags if t in event.tags), None)
        if tag is None:
            return None
        found.append(f"tagged {tag}")
    if match.planned_events:
        kind = next((k for k in planned if "*" in match.planned_events or k in match.planned_events), None)
        if kind is None:
            return None
        found.append(f"a planned {kind} is under way")
    if match.window:
        calendar_name, _, window = match.window.partition(".")
        when = event.created_at or event.occurred_at
        if calendar_for(calendar_name).window_at(when) != window:
            return None
        found.append(f"during the {window} window")
    return ", ".join(found) or "always"


_REGIONAL: ByIdentity[Calendar] = ByIdentity()  # calendar spec, region -> its compiled calendar


def calendars_for(contract: Contract, customer) -> "callable":
    """``calendar_for(name)``: the contract's calendar with the customer's regional holidays."""
    region = getattr(customer, "region", None)
    region_key = (region.country, region.subdivision) if region is not None else None

    def calendar_for(name: str) -> Calendar:
        spec = contract.calendars[name]
        return _REGIONAL.get((id(spec), region_key), (spec,), _regional, spec, region)

    return calendar_for


def _regional(spec, region) -> Calendar:
    """``spec`` compiled with the region's public holidays, where it takes a country's."""
    return compile_calendar(spec.for_region(region.country, region.subdivision)
                            if region is not None and spec.holidays.country else spec)


def level_of(contract: Contract, vendor: str, priority: str | None) -> str | None:
    """The contract level a vendor priority value means, or None."""
    return None if priority is None else contract.level_by_priority.get((vendor, priority.lower()))


def vendor_priority(contract: Contract, vendor: str, level: str) -> str | None:
    """The vendor value written back for ``level`` (the first listed)."""
    values = contract.levels[level].priorities.get(vendor) or []
    return values[0] if values else None


def explain(contract: Contract, text: str) -> list[str]:
    """For ``slabridge check --explain``: each classification rule and whether ``text`` satisfies it, and why."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    event = TicketEvent(vendor="(any)", delivery_id="explain", ticket={"vendor": "(any)", "id": "explain"},
                        kind="created", description=text, occurred_at=now, created_at=now)
    calendar_for = calendars_for(contract, None)
    lines = []
    for rule in contract.classification:
        outcome = rule.level or rule.request_type
        why = matches(rule.when, event, text, contract, contract.default_level, calendar_for)
        if why is None:
            lines.append(f"rule {rule.id} ({outcome}): no match")
            continue
        veto = next((v for m in rule.unless if (v := matches(m, event, text, contract, contract.default_level,
                                                              calendar_for))), None)
        lines.append(f"rule {rule.id} ({outcome}): " + (f"matched ({why}) but does not apply: {veto}" if veto
                                                         else f"MATCHES: {why}"))
    return lines or ["no classification rules"]


def by_support(author, event) -> bool:
    """The author is on support's side: never the requester (a colleague with an agent's account who raised the
    ticket writes as its customer), else as the helpdesk flags them, else anyone."""
    if is_requester(author, event):
        return False
    return author.is_agent if author.is_agent is not None else True


def is_requester(author, event) -> bool:
    """The author is the ticket's requester: the same id, or the same e-mail in any case."""
    requester = event.requester
    return bool((author.id and author.id == requester.id) or (
        author.email and requester.email and author.email.lower() == requester.email.lower()))
