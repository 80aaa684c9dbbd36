"""The plugin manager: entry points, allow/block lists, trylast built-ins, overrides."""

from datetime import datetime, timedelta, timezone

import pytest

from slabridge import hookimpl
from slabridge.config import Settings, VendorSettings
from slabridge.engine import decide
from slabridge.models import EventKind, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.verdicts import Classification, Deadline, Entitlement, Escalation

NOW = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)
EVENT = TicketEvent(vendor="zendesk", delivery_id="d1", ticket=TicketRef(vendor="zendesk", id="1"),
                    kind=EventKind.created, priority="high", requester=Person(email="a@example.com"),
                    occurred_at=NOW)


def test_connectors_come_from_entry_points():
    plugins = Plugins(Settings())
    assert set(plugins.connectors) >= {"zendesk", "freshdesk", "jira"}
    assert {r["name"] for r in plugins.describe()} >= {"zendesk", "freshdesk", "jira", "builtin.defaults"}


def test_blocklist_and_allowlist_from_environment():
    assert "jira" not in Plugins(Settings(), environ={"SLABRIDGE_PLUGINS_BLOCK": "jira"}).connectors
    assert set(Plugins(Settings(), environ={"SLABRIDGE_PLUGINS_ALLOW": "zendesk"}).connectors) == {"zendesk"}


def test_connectors_are_enabled_per_vendor():
    plugins = Plugins(Settings(vendors={"zendesk": VendorSettings(enabled=True)}))
    assert plugins.enabled_connector("zendesk") is not None
    assert plugins.enabled_connector("jira") is None
    rows = {r["name"]: r for r in plugins.describe()}
    assert rows["zendesk"]["enabled"] and not rows["jira"]["enabled"]


def test_an_installed_plugin_overrides_builtin_rules():
    class Gold:
        @hookimpl
        def slabridge_resolve_customer(self, event, directory):
            return "Gold Corp"

        @hookimpl
        def slabridge_entitlement(self, event, customer):
            return Entitlement(entitled=True, plan="gold", tags=("gold",))

        @hookimpl
        def slabridge_classify(self, event):
            return Classification(severity="sev1", vendor_priority="urgent")

        @hookimpl
        def slabridge_deadlines(self, event, classification, now):
            return [Deadline(metric="first_response", due_at=now + timedelta(hours=1), field="first_response")]

        @hookimpl
        def slabridge_escalations(self, deadlines):
            return [Escalation(level="L2", group="200", note="escalated to L2")]

    settings = Settings(vendors={"zendesk": VendorSettings(fields={"first_response": "360001"})})
    plugins = Plugins(settings, extra=(Gold(),))
    outcome = decide(EVENT, None, plugins, None, NOW)
    kinds = [a.type for a in outcome.decision.actions]
    assert outcome.decision.actions[2].fields == {"360001": (NOW + timedelta(hours=1)).isoformat()}
    assert outcome.decision.customer == "Gold Corp"
    assert outcome.decision.severity == "sev1"
    assert kinds == ["add_tags", "set_priority", "set_fields", "assign", "internal_note"]
    assert [t.fire_at for t in outcome.timers] == [NOW + timedelta(hours=1, seconds=1)]  # just past the deadline


def test_actions_wrapper_can_veto_actions():
    class NoWrites:
        @hookimpl(wrapper=True)
        def slabridge_actions(self, decision):
            inner = yield
            return inner.replace(actions=())

    plugins = Plugins(Settings(), extra=(NoWrites(),))
    assert decide(EVENT, None, plugins, None, NOW).decision.actions == ()
    assert decide(EVENT, None, Plugins(Settings()), None, NOW).decision.actions != ()


def test_unknown_hook_in_a_plugin_is_an_error():
    class Typo:
        @hookimpl
        def slabridge_entitlment(self, event):
            return None

    with pytest.raises(Exception, match="unknown hook"):
        Plugins(Settings(), extra=(Typo(),))


def test_register_connectors_rejects_two_with_one_name():
    from slabridge_zendesk.connector import ZendeskConnector

    class Twin:
        @hookimpl
        def slabridge_register_connectors(self, register):
            register(ZendeskConnector())

    with pytest.raises(ValueError, match="two connectors are called 'zendesk'"):
        Plugins(Settings(), extra=(Twin(),))


def test_defaults_use_the_configured_unknown_customer_tag():
    plugins = Plugins(Settings(unknown_customer_tag="who_is_this"))
    outcome = decide(EVENT, None, plugins, None, NOW)
    assert outcome.decision.actions[0].tags == ("who_is_this",)


def test_an_id_only_event_inherits_the_requesters_email_from_the_tickets_last_event():
    from slabridge.engine import decide as run
    from slabridge.models import Comment, Actor

    class Recorder:
        seen = []

        @hookimpl
        def slabridge_entitlement(self, event):
            self.seen.append(event.requester.email)
            return None

    recorder = Recorder()
    plugins = Plugins(Settings(), extra=(recorder,))
    first = EVENT.model_copy(update={"requester": Person(id="42", email="a@example.com")})
    state = run(first, None, plugins, None, NOW).state
    envelope = EVENT.model_copy(update={"delivery_id": "d2", "kind": EventKind.comment, "requester": Person(id="42"),
                                        "comment": Comment(author=Actor(id="7", is_agent=True), body="hi")})
    run(envelope, state, plugins, None, NOW)
    other = envelope.model_copy(update={"delivery_id": "d3", "requester": Person(id="99")})
    run(other, state, plugins, None, NOW)
    assert recorder.seen == ["a@example.com", "a@example.com", None]  # a different requester is not guessed


def test_a_firstresult_phase_takes_the_first_answer_and_a_list_phase_every_one():
    """The written-out dispatch keeps pluggy's rules: None passes to the next implementation; the first other
    answer ends a firstresult hook; a list hook gathers every answer but None, tryfirst first."""
    calls = []

    class Silent:
        @hookimpl(tryfirst=True)
        def slabridge_entitlement(self, event):
            calls.append("silent")

        @hookimpl(tryfirst=True)
        def slabridge_deadlines(self):
            calls.append("silent deadlines")

    class Answers:
        @hookimpl
        def slabridge_entitlement(self, customer, now):
            calls.append(("answers", customer, now))
            return Entitlement(entitled=False, plan="answered")

        @hookimpl
        def slabridge_deadlines(self, now):
            return [Deadline(metric="mine", due_at=now)]

    plugins = Plugins(Settings(), extra=(Answers(), Silent()))
    verdict = plugins.entitlement(EVENT, "acme", None, NOW, None, None)
    assert verdict.plan == "answered" and calls == ["silent", ("answers", "acme", NOW)]  # the built-in never ran
    deadlines = plugins.deadlines(EVENT, Entitlement(entitled=True), Classification(), None, NOW, None, None)
    assert [d.metric for d in deadlines] == ["mine"] and calls[-1] == "silent deadlines"


def test_the_rule_phases_are_called_as_pluggy_would_call_them():
    """Plain calls in pluggy's order, optional parameters passed, wrappers left to pluggy, and the call lists
    rebuilt when a plugin comes or goes."""
    seen = []

    class Optional:
        @hookimpl(tryfirst=True)
        def slabridge_deadlines(self, event, customer=None):
            seen.append(customer)
            return [Deadline(metric="x", due_at=NOW)]

    class Wrapper:
        @hookimpl(wrapper=True)
        def slabridge_classify(self):
            verdict = yield
            return Classification(severity=f"wrapped {verdict.severity}")

    plugins = Plugins(Settings(), extra=(Optional(),))
    deadlines = plugins.deadlines(EVENT, Entitlement(entitled=True), Classification(), None, NOW, None,
                                  customer="acme")
    assert seen == ["acme"] and [d.metric for d in deadlines] == ["x"]
    assert plugins.classify(EVENT, Entitlement(entitled=True), None, NOW, None).severity == "high"
    wrapper = Wrapper()
    plugins.pm.register(wrapper)
    assert plugins.classify(EVENT, Entitlement(entitled=True), None, NOW, None).severity == "wrapped high"
    plugins.pm.unregister(wrapper)
    assert plugins.classify(EVENT, Entitlement(entitled=True), None, NOW, None).severity == "high"


def test_a_list_phase_with_a_wrapper_still_returns_one_joined_list():
    """Through pluggy (a wrapper), by position: the implementations' lists joined, None and empty ones left out."""
    class Lists:
        @hookimpl(tryfirst=True)
        def slabridge_deadlines(self):
            return [Deadline(metric="a", due_at=NOW), Deadline(metric="b", due_at=NOW)]

    class Empty:
        @hookimpl
        def slabridge_deadlines(self):
            return []

    class Wrapper:
        @hookimpl(wrapper=True)
        def slabridge_deadlines(self):
            return (yield)

    plugins = Plugins(Settings(), extra=(Lists(), Empty()), load_entry_points=False)
    arguments = (EVENT, Entitlement(entitled=True), Classification(), None, NOW, None, None)
    plain = [d.metric for d in plugins.deadlines(*arguments)]
    plugins.pm.register(Wrapper())
    assert [d.metric for d in plugins.deadlines(*arguments)] == plain == ["a", "b"]


def test_a_list_phase_answered_with_something_else_names_the_plugin_and_the_hook():
    """A plugin returning one deadline instead of a list of them gets an error that says which plugin and
    hook, and what came back; through pluggy (with a wrapper) too."""
    class Single:
        @hookimpl(tryfirst=True)
        def slabridge_deadlines(self):
            return Deadline(metric="x", due_at=NOW)

    class Wrapper:
        @hookimpl(wrapper=True)
        def slabridge_deadlines(self):
            return (yield)

    plugins = Plugins(Settings(), extra=(Single(),), load_entry_points=False)
    arguments = (EVENT, Entitlement(entitled=True), Classification(), None, NOW, None, None)
    with pytest.raises(TypeError, match=r"'s slabridge_deadlines returned a Deadline, not a list") as raised:
        plugins.deadlines(*arguments)
    assert str(raised.value).startswith(f"{__name__}.test_a_list_phase_answered_with_something_else")
    plugins.pm.register(Wrapper())
    with pytest.raises(TypeError, match=r"a plugin's slabridge_deadlines returned a Deadline, not a list"):
        plugins.deadlines(*arguments)


def test_a_phase_handing_back_the_memory_it_read_does_not_undo_an_earlier_phases_change():
    """Classification returns the whole memory it read; a key entitlement changed in the same decision kept
    classification's stale value (a second appointment was charged again on every later event)."""
    class Counting:
        @hookimpl(tryfirst=True)
        def slabridge_entitlement(self, state):
            return Entitlement(entitled=True, plan="p", memory={"paid": state.memory.get("paid", 0) + 1})

        @hookimpl(tryfirst=True)
        def slabridge_classify(self, state):
            return Classification(severity="s", memory={**state.memory, "seen": True, "gone": None})

    plugins = Plugins(Settings(), extra=(Counting(),))
    state = decide(EVENT, None, plugins, None, NOW).state
    state = state.replace(memory={**state.memory, "gone": "old"})
    for n in range(2, 4):
        state = decide(EVENT.model_copy(update={"delivery_id": f"d{n}"}), state, plugins, None, NOW).state
    assert (state.memory["paid"], state.memory["seen"], state.memory["gone"]) == (3, True, None)
