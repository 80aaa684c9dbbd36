"""Every hook slabridge calls, grouped by pipeline phase.

Implement a hook by decorating a function of the same name with
``slabridge.hookimpl``; a plugin may take fewer arguments than the spec lists,
so specs can grow without breaking plugins. Built-in rules are ordinary plugins
registered ``trylast``: any installed plugin runs before them and, for
``firstresult`` hooks, replaces them by returning something other than None.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .connectors import Connector
    from .contract import Contract
    from .directory import Customer, Directory
    from .engine import TicketState
    from .models import Decision, TicketEvent
    from .verdicts import Classification, Deadline, Entitlement, Escalation

hookspec = pluggy.HookspecMarker("slabridge")

# --- Phase 0: set-up ---------------------------------------------------------


@hookspec
def slabridge_register_connectors(register: Callable[[Connector], None]) -> None:
    """Register helpdesk connectors by calling ``register(connector)``.

    :param register: takes a :class:`slabridge.connectors.Connector` instance.
    Result: collected (every plugin registers its own).
    Implemented by: each vendor plugin (``slabridge_zendesk`` …) and any
    third-party connector package, found through the ``slabridge`` entry point.
    """


# --- Phase 1: who is asking --------------------------------------------------


@hookspec(firstresult=True)
def slabridge_resolve_customer(event: TicketEvent, directory: Directory) -> Customer | None:
    """Find the customer a ticket belongs to.

    :param event: the ticket event.
    :param directory: the loaded customers directory.
    Result: firstresult; ``None`` means "unknown customer".
    Implemented by: built-in (customers file); a CRM plugin may override.
    """


@hookspec(firstresult=True)
def slabridge_entitlement(
    event: TicketEvent, customer: Customer | None, contract: Contract | None, now: datetime, state: TicketState,
    directory: Directory,
) -> Entitlement | None:
    """Decide whether and how the requester is entitled to support.

    :param event: the ticket event.
    :param customer: the resolved customer, or None if unknown.
    :param contract: the customer's contract, or None.
    :param now: the instant of the decision.
    :param state: what slabridge remembers of the ticket (memory, clocks, applied).
    :param directory: customers and contracts, with the incident ledger.
    Result: firstresult, an :class:`~slabridge.verdicts.Entitlement`. Its ``charges`` (prepaid
    incidents, per ticket or per hour) are written to the incident ledger in the decision's own
    transaction; ``directory.ledger(customer_id)`` gives the movements so far, and from that read to
    the decision's commit no other worker's decision reads that customer's ledger.
    Implemented by: built-in entitlement rules (designated contacts, plans, add-ons, terms, incidents).
    """


# --- Phase 2: what it is -----------------------------------------------------


@hookspec(firstresult=True)
def slabridge_classify(
    event: TicketEvent, entitlement: Entitlement, contract: Contract | None, now: datetime, state: TicketState
) -> Classification | None:
    """Decide the ticket's severity and request type (reclassifying if needed).

    :param event: the ticket event.
    :param entitlement: the entitlement verdict.
    :param contract: the customer's contract, or None.
    :param now: the instant of the decision.
    :param state: what slabridge remembers of the ticket.
    Result: firstresult, a :class:`~slabridge.verdicts.Classification`.
    Implemented by: built-in severity rules.
    """


# --- Phase 3: when it is due -------------------------------------------------


@hookspec
def slabridge_deadlines(
    event: TicketEvent,
    entitlement: Entitlement,
    classification: Classification,
    contract: Contract | None,
    now: datetime,
    state: TicketState,
    customer: Customer | None,
) -> list[Deadline] | None:
    """Compute the SLA deadlines that apply, one or more per metric: every one that applies now, on every
    decision (the phase is not asked while the ticket is not entitled or its request type has no SLA). A
    deadline of the last decision that is not given again while its clock runs is withdrawn by the engine.

    :param event: the ticket event.
    :param entitlement: the entitlement verdict.
    :param classification: the severity verdict.
    :param contract: the customer's contract, or None.
    :param now: the instant of the decision.
    :param state: what slabridge remembers of the ticket (its metric clocks).
    :param customer: the resolved customer (its region's holidays apply), or None.
    Result: collected; each plugin returns a list of
    :class:`~slabridge.verdicts.Deadline` (or None). A plain :class:`~slabridge.verdicts.Verdict` in it says
    why a metric has no deadline (a start field that cannot be read): its reasons, tags and note are kept.
    Implemented by: built-in SLA rules, one per metric.
    """


# --- Phase 4: who must act ---------------------------------------------------


@hookspec
def slabridge_escalations(
    event: TicketEvent,
    deadlines: list[Deadline],
    customer: Customer | None,
    contract: Contract | None,
    now: datetime,
    state: TicketState,
) -> list[Escalation] | None:
    """Decide warnings, breaches and the escalation steps that are due now.

    :param event: the ticket event.
    :param deadlines: every deadline computed in phase 3.
    :param customer: the resolved customer (for its TAM), or None.
    :param contract: the customer's contract, or None.
    :param now: the instant of the decision.
    :param state: what slabridge remembers of the ticket (steps already taken).
    Result: collected; lists of :class:`~slabridge.verdicts.Escalation`.
    Implemented by: built-in escalation rules.
    """


# --- Phase 5: what is written back ------------------------------------------


@hookspec(firstresult=True)
def slabridge_actions(decision: Decision) -> Decision | None:
    """Last look at a decision before its actions are queued for write-back.

    :param decision: the engine's decision with its actions and reasons.
    Result: wrapper chain. The built-in ``trylast`` implementation returns the
    decision unchanged; plugins implement it with ``hookimpl(wrapper=True)``,
    receive the inner decision from ``yield`` and return it, changed or not
    (drop actions, add a reason, veto a reply).
    Implemented by: built-in pass-through; audit, dry-run or policy plugins.
    """
