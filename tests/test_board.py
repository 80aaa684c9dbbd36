"""The SLA board's pure parts: what is open, how it is ranked, and the incremental state cache."""

from datetime import timedelta

import sqlalchemy as sa

from slabridge.board import StateCache, clock_state, humanize
from slabridge.store import tickets


def state(ticket: str, updated: str = "x") -> dict:
    return {"ticket": {"vendor": "zendesk", "id": ticket}, "customer": "acme", "memory": {"note": updated},
            "clocks": {}, "deadlines": {}}


def test_a_clocks_state_is_read_from_its_stored_cycles():
    assert clock_state({"cycles": []}) == "idle"
    assert clock_state({"cycles": [{"started_at": "t", "stopped_at": None, "pauses": []}]}) == "running"
    assert clock_state({"cycles": [{"started_at": "t", "stopped_at": None, "pauses": [["a", None]]}]}) == "paused"
    assert clock_state({"cycles": [{"started_at": "t", "stopped_at": None, "pauses": [["a", "b"]]}]}) == "running"
    assert clock_state({"cycles": [{"started_at": "t", "stopped_at": "u", "pauses": []}]}) == "stopped"


def test_time_left_reads_as_people_say_it():
    assert humanize(None) == "—"
    assert humanize(timedelta(minutes=35)) == "35m left"
    assert humanize(timedelta(hours=2, minutes=5)) == "2h 05m left"
    assert humanize(-timedelta(days=1, hours=4)) == "1d 4h overdue"


def test_the_state_cache_reads_what_changed_and_everything_now_and_then(store):
    def put(ticket: str, at: float, note: str) -> None:
        with store.engine.begin() as conn:
            conn.execute(tickets.delete().where(tickets.c.ticket_id == ticket))
            conn.execute(tickets.insert().values(vendor="zendesk", ticket_id=ticket, state=state(ticket, note),
                                                 version=1, updated_at=at))

    put("1", 1000.0, "first")
    cache = StateCache(store, skew=60.0, full_every=3600.0)
    assert [s["memory"]["note"] for s in cache.states()] == ["first"]
    put("2", 2000.0, "new ticket")
    put("1", 1950.0, "changed by a worker whose clock is 50 s behind")  # within the skew: still seen
    seen = {s["ticket"]["id"]: s["memory"]["note"] for s in cache.states()}
    assert seen == {"1": "changed by a worker whose clock is 50 s behind", "2": "new ticket"}
    put("1", 100.0, "far behind")  # beyond the skew: seen at the next full read
    assert {s["memory"]["note"] for s in cache.states()} == {"changed by a worker whose clock is 50 s behind",
                                                              "new ticket"}
    cache._next_full = 0.0
    assert {s["memory"]["note"] for s in cache.states()} == {"far behind", "new ticket"}
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar() == 2


def test_a_state_edited_out_of_shape_is_left_off_the_board_with_a_warning_and_the_rest_shown(caplog):
    from datetime import datetime, timezone
    from pathlib import Path

    from slabridge.board import board
    from slabridge.directory import load

    root = Path(__file__).resolve().parents[1]
    directory, _ = load(root / "examples" / "contracts", root / "examples" / "customers.yaml")
    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    running = {"cycles": [{"started_at": "2026-03-02T09:00:00+00:00", "stopped_at": None, "pauses": []}]}
    due = {"due_at": "2026-03-02T15:00:00+00:00", "calendar": "business", "breached": False, "warn_at": None}
    good = {**state("1"), "clocks": {"first_response": running}, "deadlines": {"first_response": due}}
    spoilt = [{**good, "ticket": {"vendor": "zendesk", "id": "2"}, "clocks": {"first_response": 5}},
              {**good, "ticket": {"vendor": "zendesk", "id": "3"}, "deadlines": {"first_response": {
                  **due, "due_at": "PHI: MRN 12345"}}},
              {**good, "ticket": "PHI: MRN 12345"}, "PHI: MRN 12345"]
    assert [row.ticket_id for row in board([*spoilt, good], directory, now)] == ["1"]
    assert "left off the board" in caplog.text and "at zendesk:2)" in caplog.text and "at zendesk:3)" in caplog.text
    assert "MRN" not in caplog.text
