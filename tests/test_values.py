"""The values built per decision (slabridge/values.py): states stored before they were msgspec Structs read
as they were, and texts that may hold PHI stay out of their repr."""

import json
from pathlib import Path

from slabridge.clocks import MetricClock
from slabridge.engine import TicketState
from slabridge.models import TicketEvent

# Written by slabridge 5b263f7 (pydantic models) with model_dump(mode="json"): a clock with a closed pause,
# a next-response clock reset and paused, what slabridge applied, memory and a deadline summary.
STORED = Path(__file__).parent / "stored" / "ticket_state_before_values.json"


def test_a_state_stored_by_the_pydantic_models_loads_and_stores_back_the_same():
    raw = json.loads(STORED.read_text())
    state = TicketState.load(raw)
    assert isinstance(state.last_event, TicketEvent) and state.last_event.comment is not None
    first = state.clocks["first_response"]
    assert isinstance(first, MetricClock) and first.state == "stopped"
    assert first.cycles[0].pauses[0][1] is not None and first.cycles[0].pauses[0][1].tzinfo is not None
    assert state.clocks["next_response"].state == "paused" and len(state.clocks["next_response"].cycles) == 2
    assert state.applied.tags == ("sla_sev1", "sla_reclassified") and state.applied.fields["360002"] is None
    assert json.dumps(state.dump()) == json.dumps(raw)  # stored again: the same JSON text as before


def test_a_verdicts_note_and_reply_stay_out_of_its_repr():
    """They may quote the ticket (PHI); a verdict in a log line or a traceback shows the rest."""
    from slabridge.models import Reason
    from slabridge.verdicts import Classification

    verdict = Classification(severity="sev1", note="patient Jane Roe, MRN 123", reply="Dear Jane Roe",
                             reasons=(Reason(rule="classify.x", text="matched"),))
    shown = repr(verdict)
    assert "Jane Roe" not in shown and "MRN" not in shown
    assert "severity='sev1'" in shown and "classify.x" in shown
    assert verdict.replace(note=None).note is None and verdict.note is not None  # frozen: replace() copies


def test_json_columns_keep_what_was_stored_through_the_database_codec(store):
    """The store's JSON columns go through msgspec: text in any script, nesting, numbers and nulls read back
    as written, on SQLite and PostgreSQL (the standard library's json reads the same text)."""
    from slabridge.store import audit
    from slabridge.values import from_json_text, json_text

    body = {"text": "Größe — 東京 \u2028 \"quoted\" \\ tab\t", "n": [1, 2.5, -3e-7, 10**15], "none": None,
            "nested": {"deep": [{"x": True}, []]}, "empty": {}}
    assert json.loads(json_text(body)) == body == from_json_text(json_text(body))
    with store.engine.begin() as conn:
        conn.execute(audit.insert().values(at=1.0, vendor="zendesk", ticket_id="1", kind="note", body=body))
    assert store.rows("audit")[0]["body"] == body


def test_evolve_is_model_copy_with_an_update():
    """The engine copies events with ``evolve``: the same model, fields and set-field bookkeeping as pydantic's
    ``model_copy(update=...)``, the original untouched."""
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket={"vendor": "zendesk", "id": "7"}, kind="created",
                        tags=("a",), occurred_at="2026-03-02T09:00:00Z")
    update = {"tags": ("a", "b"), "priority": "high"}
    copied = event.evolve(update)
    assert copied == event.model_copy(update=update) and type(copied) is TicketEvent
    assert copied.model_fields_set == event.model_copy(update=update).model_fields_set
    assert copied.model_dump_json() == event.model_copy(update=update).model_dump_json()
    assert event.tags == ("a",) and event.priority is None and "priority" not in event.model_fields_set
    assert copied.__pydantic_extra__ is None and copied.__pydantic_private__ is None
