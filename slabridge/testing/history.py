"""A realistic ticket history over the five example contracts, and a database filled from it.

:func:`generate` makes canonical events (tickets created by entitled and non-entitled requesters in
every helpdesk, customer, agent and automated comments, text that triggers reclassification, spread
over time); ``bench/replay.py`` replays them. :func:`record` has the real worker decide them into a
database, its clock following the events, as if they had arrived live: the console's tests and
benchmark read that database.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from ..models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef

REQUESTERS = [  # (vendor, organization, e-mail)
    ("zendesk", "8447346622598", "dana@acme.example"), ("zendesk", "8447346622598", "hal@acme.example"),
    ("freshdesk", "501", "pat@northwind.example"), ("freshdesk", "812", "morgan@contoso.example"),
    ("freshdesk", "812", "temp@contoso.example"), ("zendesk", "9100", "casey@fabrikam.example"),
    ("jira", "12", "ray@tailspin.example"), ("zendesk", "777", "stranger@unknown.example"),
]
PRIORITIES = {"zendesk": ["low", "normal", "high", "urgent"], "freshdesk": ["1", "2", "3", "4"],
              "jira": ["Low", "Medium", "High", "Highest"]}
TEXTS = ["The report footer is misaligned.", "The service is inoperable for everyone.",
         "We are blocked and cannot generate an estimate.", "No user is able to logon since 6am.",
         "Feature request: please add dark mode.", "Patient MRN 4417720 is missing.",
         "Exports are very slow today.", "Please run a data import of last year's jobs."]


def generate(count: int, rng: random.Random,
             start: datetime = datetime(2026, 3, 2, 13, tzinfo=timezone.utc)) -> list[TicketEvent]:
    events, open_tickets, clock = [], [], start
    for n in range(count):
        clock += timedelta(seconds=rng.randint(5, 90))
        if not open_tickets or rng.random() < 0.3:
            vendor, org, email = rng.choice(REQUESTERS)
            ticket = {"id": str(10_000 + n) if vendor != "jira" else f"SUP-{n}", "vendor": vendor, "org": org,
                      "email": email,
                      "priority": rng.choice(PRIORITIES[vendor]), "text": rng.choice(TEXTS), "created": clock}
            open_tickets.append(ticket)
            kind, comment = EventKind.created, None
        else:
            ticket = rng.choice(open_tickets[-400:])
            by = rng.choice(["agent", "customer", "automation"])
            author = Actor(email=ticket["email"] if by == "customer" else f"{by}@support.example",
                           is_agent=by != "customer", is_automation=by == "automation")
            kind, comment = EventKind.comment, Comment(public=True, author=author, body="Update.")
        vendor = ticket["vendor"]
        events.append(TicketEvent(
            vendor=vendor, delivery_id=f"b{n}", ticket=TicketRef(vendor=vendor, id=ticket["id"]), kind=kind,
            actor=comment.author if comment else Actor(email=ticket["email"]),
            requester=Person(email=ticket["email"]), organization=Organization(id=ticket["org"]),
            subject="Ticket", description=ticket["text"], priority=ticket["priority"], status="open",
            comment=comment, created_at=ticket["created"], occurred_at=clock))
    return events


def record(store, plugins, directory, events: list[TicketEvent], until: datetime | None = None,
           send: bool = True) -> None:
    """Enqueue and decide ``events`` with the real worker, its clock at each event's time (timers firing
    between them), then run the clock on to ``until``. With ``send``, write-backs go to the configured
    vendors as they are made (a vendor that is not enabled dead-letters them); without, they wait in
    the outbox."""
    from ..worker import Worker

    now = {"t": 0.0}
    worker = Worker(store, plugins, directory, clock=lambda: now["t"])

    def work() -> None:
        while worker.process_event() or worker.fire_timer() or (send and worker.send_one()):
            pass

    for event in events:
        now["t"] = event.occurred_at.timestamp()
        work()  # timers due before this event fire first
        store.enqueue(event, now=now["t"])
        work()
    if until is not None:
        now["t"] = until.timestamp()
        work()
