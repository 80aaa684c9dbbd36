"""Who is served, on which plan and coverage; who is told to go elsewhere, and why."""

from __future__ import annotations

from slabridge import hookimpl
from slabridge.models import Reason
from slabridge.verdicts import Charge, Entitlement

from . import incidents
from .matching import by_support, new_comment
from .remembered import ByIdentity


E_MAIL_CHECKS = ("administrator", "contact_email")


class EntitlementRules:
    """Built-in entitlement from the contract and the customers file (``trylast``)."""

    name = "entitlement"

    def __init__(self, settings=None):
        pass

    @hookimpl(trylast=True)
    def slabridge_resolve_customer(self, event, directory):
        if directory is None:
            return None
        organization = event.organization
        customer, _how = directory.find(event.vendor, organization.id, event.requester.email, organization.also)
        return customer

    @hookimpl(trylast=True)
    def slabridge_entitlement(self, event, customer, contract, now, state, directory=None):
        if contract is None:
            return None
        email = event.requester.email
        inputs = {"customer": customer.id, "requester": email, "plan": customer.plan}
        for check in contract.entitlement.checks:
            why = self._refusal(check, customer, contract, email, now, state, directory, event)
            if why is not None:
                return Entitlement(
                    entitled=False, customer=customer.id, tags=(contract.entitlement.not_entitled_tag,),
                    reply=check.reply or (contract.billing.exhausted_reply if check.check == "incidents_available"
                                          and contract.billing else None),
                    reasons=(Reason(rule=f"entitlement.{check.check}", text=why, clause=check.source, inputs=inputs),))
        tags, reasons, coverage = _plan_terms(customer, contract, email)
        charges, memory, unread = self._charges(event, customer, contract, state)
        note = None
        if unread:  # an agent's entry that is no length: nothing charged, and they are asked once to mend it
            field = contract.billing.appointment_field
            reasons += (Reason(rule="entitlement.appointment", clause=contract.billing.source, inputs={"field": field},
                               text=f"{field} holds no length in minutes: the appointment is not charged"),)
            note = (f"No incidents were charged for the appointment: its {field} field holds no length in minutes. "
                    "Enter the minutes as a whole number (such as 90; for a further appointment on this ticket, a "
                    "label and its minutes, such as 2:45).")
        planned = directory.planned_kinds(customer, event.created_at or event.occurred_at) if directory else ()
        if planned:
            reasons += (Reason(rule="entitlement.planned_events", inputs=inputs,
                               text=f"planned event(s) active when the ticket arrived: {', '.join(planned)}"),)
        return Entitlement(entitled=True, plan=customer.plan, coverage=coverage, customer=customer.id,
                           tags=tags, reasons=reasons, charges=charges, memory=memory,
                           planned_events=planned, note=note)

    def _refusal(self, clause, customer, contract, email, now, state, directory, event) -> str | None:
        """Why ``clause`` refuses support, or None where it holds (the text is written only for a refusal)."""
        check = clause.check
        if check == "within_term":
            return _outside_term(customer, contract, event, clause.term_day)
        if check == "good_standing":
            return None if customer.good_standing else f"customer good standing: {customer.good_standing}"
        if check in E_MAIL_CHECKS and not email:
            return None  # cannot be made: see _email_unknown
        if check == "administrator":
            return None if customer.has(email, customer.administrators) else (
                f"requester is not a licensed administrator of {customer.id}")
        if check == "contact_email":
            return None if customer.has(email, customer.contacts + customer.administrators) else (
                f"requester e-mail matches no Customer Contact of {customer.id}")
        if check == "incidents_available":
            if state.memory.get("charged"):
                return None  # this ticket's incident is already paid
            left = incident_balance(customer, contract, directory, now)
            needed = contract.billing.per_ticket
            return None if left >= needed else f"{left} prepaid incident(s) left; a ticket needs {needed}"
        raise ValueError(f"unknown entitlement check {check!r}")

    def _charges(self, event, customer, contract, state) -> tuple[tuple[Charge, ...], dict, bool]:
        """The incidents this event charges, what to remember of them, and whether the appointment field holds
        something that is no length in minutes (not charged)."""
        billing = contract.billing
        if billing is None:
            return (), {}, False
        charges, memory = [], {}
        turned_over = billing.charge_on == "first_decision" or _support_replied(event)
        if not state.memory.get("charged") and billing.per_ticket and turned_over:
            charges.append(Charge(customer=customer.id, delta=-billing.per_ticket,
                                  reason=f"ticket {event.ticket.key} turned over to the support team"))
            memory["charged"] = True
        value = event.custom_fields.get(billing.appointment_field)
        unread = False
        if value not in (None, "") and billing.appointment:
            text, minutes = str(value), incidents.appointment_minutes(value)
            booked = _appointments(state.memory, billing)
            key = _appointment_key(value, billing)
            before_text, before_cost = booked.get(key, (None, 0))
            if text == before_text:  # charged already
                return tuple(charges), memory, False
            if minutes is None:
                unread = True
            else:
                cost = incidents.appointment_cost(minutes, billing.appointment)
                ticket = event.ticket.key
                if before_text is None:
                    reason = f"appointment of {minutes} min on {ticket}: {cost} incidents"
                else:
                    back = before_cost - cost
                    reason = (f"appointment on {ticket} corrected from {before_text} to {minutes} min: {cost} "
                              f"incidents in all, " + (f"{back} given back" if back > 0 else f"{-back} more"))
                if cost != before_cost:
                    charges.append(Charge(customer=customer.id, delta=before_cost - cost, reason=reason))
                memory["appointments"] = {**booked, key: [text, cost]}
        return tuple(charges), memory, unread


def _appointments(memory, billing) -> dict[str, list]:
    """The ticket's appointments charged so far, by label (under ``charge_again``, by value): ``[value last
    charged, incidents charged for it in all]``. A state from before corrections lists the values charged."""
    if "appointments" in memory:
        return memory["appointments"]
    booked: dict[str, list] = {}
    for text in memory.get("appointments_charged", ()):
        key = _appointment_key(text, billing)
        minutes = incidents.appointment_minutes(text)
        cost = incidents.appointment_cost(minutes, billing.appointment) if minutes else 0
        booked[key] = [text, booked.get(key, ["", 0])[1] + cost]
    return booked


def _appointment_key(value, billing) -> str:
    """Which appointment a value of the field is: its label, or under ``charge_again`` the value itself."""
    return incidents.appointment_label(value) if billing.appointment_changes == "correct" else str(value)


_TERMS: ByIdentity[tuple[tuple[str, ...], tuple[Reason, ...], str | None]] = ByIdentity()


def _plan_terms(customer, contract, email) -> tuple[tuple[str, ...], tuple[Reason, ...], str | None]:
    """The tags, reasons and coverage an entitled requester's plan and add-ons give: the same on every
    decision of the customer's tickets, so worked out once per requester (the checks before it read the
    clock and the ledger, and are made each time)."""
    return _TERMS.get((id(contract), id(customer), email), (contract, customer), _work_out_terms, customer, contract,
                      email)


def _work_out_terms(customer, contract, email) -> tuple[tuple[str, ...], tuple[Reason, ...], str | None]:
    inputs = {"customer": customer.id, "requester": email, "plan": customer.plan}
    plan = contract.plans[customer.plan]
    tags = list(plan.tags)
    reasons = [Reason(rule="entitlement.checks", inputs=inputs, clause=contract.entitlement.source,
                      text=f"entitled under plan {customer.plan} of contract {contract.id}")]
    reasons += [Reason(rule=f"entitlement.{c.check}", clause=c.source, inputs=inputs, text=_email_unknown(c.check))
                for c in contract.entitlement.checks if c.check in E_MAIL_CHECKS and not email]
    designated = customer.has(email, customer.designated_users[:plan.designated_users_cap or None])
    if plan.queue_tag or plan.standard_queue_tag:
        queue = plan.queue_tag if designated else plan.standard_queue_tag
        tags += [queue] if queue else []
        reasons.append(Reason(rule="entitlement.queue", clause=plan.source, inputs=inputs,
                              text=f"{'designated user' if designated else 'not a designated user'}: {queue}"))
    coverage = contract.entitlement.default_coverage
    for name, purchase in customer.addons.items():
        addon = contract.addons[name]
        listed = customer.listed()
        covered = listed[:purchase.users] if purchase.users else listed
        if customer.has(email, covered):
            coverage = addon.coverage
            tags += [addon.tag] if addon.tag else []
            reasons.append(Reason(rule="entitlement.addon", clause=addon.source, inputs=inputs,
                                  text=f"add-on {name} covers this requester ({purchase.users} users): {coverage}"))
        else:
            reasons.append(Reason(rule="entitlement.addon", clause=addon.reading or addon.source, inputs=inputs,
                                  text=f"add-on {name} covers the first {purchase.users} listed users; "
                                       f"this requester is not among them: {coverage} only"))
    return tuple(tags), tuple(reasons), coverage


def _outside_term(customer, contract, event, term_day: str) -> str | None:
    """Why the day is outside the customer's term, or None: the term judged by a day in the contract's zone
    (see ``Check.term_day``), however late it is decided."""
    term, zone, opened = customer.term, contract.dates_zone, term_day == "opened"
    day = ((event.created_at or event.occurred_at) if opened else event.occurred_at).astimezone(zone).date()
    if term.start <= day and (term.end is None or day <= term.end):
        return None
    return (f"contract term {term.start} to {term.end or 'open-ended'}; "
            f"{'ticket opened' if opened else 'event'} on {day} ({zone.key})")


def _support_replied(event) -> bool:
    comment = new_comment(event)
    return bool(comment and comment.public and not comment.author.is_automation and by_support(comment.author, event))


def _email_unknown(check: str) -> str:
    # Never refuse on missing data: the helpdesk sent no e-mail and no look-up found one.
    return f"requester e-mail unknown (not in the webhook, not found by look-up): the {check} check cannot be " \
           f"made and does not refuse"


def incident_balance(customer, contract, directory, now) -> int:
    if customer.incidents is None or contract.billing is None:
        return 0
    entries = directory.ledger(customer.id) if directory is not None else []
    return incidents.balance_now(customer.incidents.balance, customer.incidents.year_start, contract.billing,
                                 entries, now, contract.dates_zone)
