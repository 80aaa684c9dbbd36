"""Fallback rules that apply when no contract covers a ticket.

The requester is served, unverified, on the default plan: the ticket is
tagged with the configured ``unknown_customer_tag`` and the priority the
customer chose stands. Contract rules, registered after these, take over
wherever a contract applies.
"""

from __future__ import annotations

from slabridge import hookimpl
from slabridge.config import Settings
from slabridge.models import Reason
from slabridge.verdicts import Classification, Entitlement


class DefaultRules:
    """Built-in fallbacks; every hook is ``trylast``."""

    name = "defaults"

    def __init__(self, settings: Settings):
        self.unknown_customer_tag = settings.unknown_customer_tag

    @hookimpl(trylast=True)
    def slabridge_entitlement(self, event, customer):
        return Entitlement(
            entitled=True,
            plan="default",
            tags=(self.unknown_customer_tag,),
            reasons=(Reason(rule="defaults.entitlement",
                            text="no customer record matches this requester; served on the default plan",
                            clause="config: unknown_customer_tag",
                            inputs={"organization": event.organization.id, "requester": event.requester.id}),),
        )

    @hookimpl(trylast=True)
    def slabridge_classify(self, event):
        return Classification(
            severity=event.priority,
            reasons=(Reason(rule="defaults.classify", text="no contract: the priority chosen by the customer stands",
                            inputs={"priority": event.priority}),),
        )

    @hookimpl(trylast=True)
    def slabridge_actions(self, decision):
        return decision
