"""Scenario files: what a support lead expects slabridge to do, written as tickets and steps.

```yaml
contract: interopion                  # a contract id in the contracts folder
vendor: zendesk                       # the helpdesk the events come from
fields: {first_response: "360001"}    # optional vendor field mapping
scenarios:
  - name: A P3 that says "inoperable" is reclassified to P1
    clause: Characterization of Request Priority
    ticket: {id: "7", requester: casey@fabrikam.example, organization: "9100", priority: normal,
             subject: Reports inoperable, description: ..., created: 2026-03-04T09:00-07:00}
    steps:
      - event: created                # created | updated | comment | status | priority | timer
        at: 2026-03-04T09:00-07:00
        expect:
          severity: P1
          actions: [{type: set_priority, priority: urgent}, {type: public_reply, contains: "P3 to P1"}]
          deadlines: {first_response: 2026-03-04T11:00:00-07:00}
```

A step may change the ticket (``priority``, ``status``, ``tags``, ``fields``) or carry a
``comment: {by: agent | customer | automation, public: true, body: ...}``. Expectations:
``entitled``, ``plan``, ``severity``, ``designated``, ``request_type``,
``actions`` (each must appear; ``contains`` tests a reply or note),
``no_actions`` (types that must not appear), ``deadlines``, ``tags`` (present on the
ticket afterwards), ``escalation``, ``balance`` (the customer's incidents).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import yamlfile
from .config import Settings, VendorSettings
from .directory import load as load_directory
from .models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from .plugins import Plugins
from .rules.entitlement import incident_balance
from .simulation import Simulation


@dataclass
class StepResult:
    scenario: str
    step: int
    failures: list[str] = field(default_factory=list)


def run_file(path: str | Path, contracts_dir: str | Path, customers_file: str | Path) -> list[StepResult]:
    spec, _ = yamlfile.load(path)
    directory, problems = load_directory(contracts_dir, customers_file)
    if problems:
        raise ValueError("; ".join(problems))
    vendor = spec.get("vendor", "zendesk")
    settings = Settings(vendors={vendor: VendorSettings(enabled=True, fields=spec.get("fields", {}))})
    results = []
    for scenario in spec["scenarios"]:
        simulation = Simulation(Plugins(settings, load_entry_points=False), directory)
        results += _run_scenario(simulation, scenario, spec.get("vendor", vendor), directory)
    return results


def _run_scenario(simulation: Simulation, scenario: dict, vendor: str, directory) -> list[StepResult]:
    ticket = dict(scenario["ticket"])
    results = []
    for index, step in enumerate(scenario["steps"], start=1):
        at = _instant(step["at"])
        key = f"{vendor}:{ticket['id']}"
        if step.get("event", "created") == "timer":
            outcome = simulation.timer(key, at)
        else:
            # What people change (priority, status, tags, fields) is in the event, as in a recorded history;
            # the simulation merges it with what slabridge applied, exactly as `slabridge replay` does.
            ticket.update({k: step[k] for k in ("priority", "status", "tags", "fields") if k in step})
            outcome = simulation.feed(_event(vendor, ticket, step, at, index), at)
        result = StepResult(scenario["name"], index)
        _compare(step.get("expect", {}), outcome, simulation, key, directory, at, result)
        results.append(result)
    return results


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _event(vendor: str, ticket: dict, step: dict, at: datetime, index: int) -> TicketEvent:
    comment = None
    if "comment" in step:
        c = step["comment"]
        by = c.get("by", "customer")
        author = Actor(email=ticket["requester"] if by == "customer" else f"{by}@support.example",
                       is_agent=by in ("agent", "automation"), is_automation=by == "automation")
        comment = Comment(public=c.get("public", True), author=author, body=c.get("body", ""))
    actor = comment.author if comment else Actor(email=step.get("actor", ticket["requester"]))
    return TicketEvent(
        vendor=vendor, delivery_id=f"scenario-{ticket['id']}-{index}", ticket=TicketRef(vendor=vendor, id=str(ticket["id"])),
        kind=EventKind(step.get("event", "created")), actor=actor,
        requester=Person(email=ticket["requester"]), organization=Organization(id=ticket.get("organization")),
        subject=ticket.get("subject", ""), description=ticket.get("description", ""),
        priority=ticket.get("priority"), status=ticket.get("status", "new"), tags=tuple(ticket.get("tags", ())),
        custom_fields=dict(ticket.get("fields", {})), comment=comment,
        created_at=_instant(ticket["created"]), updated_at=at, occurred_at=at)


def _compare(expect: dict, outcome, simulation, key, directory, at, result: StepResult) -> None:
    decision, state = outcome.decision, outcome.state
    fail = result.failures.append
    checks = {"entitled": decision.entitlement != "not entitled", "plan": decision.entitlement,
              "severity": decision.severity, "designated": state.memory.get("designated"),
              "request_type": state.memory.get("request_type"),
              "escalation": (state.memory.get("escalated") or [None])[-1]}
    for name, actual in checks.items():
        if name in expect and expect[name] != actual:
            fail(f"{name}: expected {expect[name]!r}, got {actual!r}")
    actions = [a.model_dump(mode="json") for a in decision.actions]
    for wanted in expect.get("actions", []):
        if not any(_action_matches(wanted, a) for a in actions):
            fail(f"action {wanted} not found in {[_short(a) for a in actions]}")
    for kind in expect.get("no_actions", []):
        if any(a["type"] == kind for a in actions):
            fail(f"unexpected {kind} action")
    for metric, due in expect.get("deadlines", {}).items():
        actual = state.deadlines.get(metric, {}).get("due_at")
        wanted = None if due is None else _instant(due)
        if (actual and datetime.fromisoformat(actual)) != wanted:
            fail(f"deadline {metric}: expected {due}, got {actual}")
    shown = simulation.shown.get(key, {}).get("tags", ())
    for tag in expect.get("tags", []):
        if tag not in shown:
            fail(f"tag {tag} missing on the ticket (has {list(shown)})")
    for tag in expect.get("no_tags", []):
        if tag in shown:
            fail(f"tag {tag} should not be on the ticket")
    if "balance" in expect:
        customer = directory.customers[decision.customer]
        actual = incident_balance(customer, directory.contract_for(customer), directory, at)
        if actual != expect["balance"]:
            fail(f"balance: expected {expect['balance']}, got {actual}")


def _action_matches(wanted: dict, action: dict) -> bool:
    for key, value in wanted.items():
        if key == "contains":
            if value.lower() not in str(action.get("body", "")).lower():
                return False
        elif key == "tags":
            if not set(value) <= set(action.get("tags", ())):
                return False
        elif action.get(key) != value:
            return False
    return True


def _short(action: dict) -> str:
    detail = {k: v for k, v in action.items() if k != "type" and k != "body"}
    return f"{action['type']}{detail if detail else ''}"
