"""Replay keeps people's changes: a recorded event is merged with what slabridge applied in the
simulation, never replaced by it."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

from slabridge.config import Settings, VendorSettings
from slabridge.directory import load
from slabridge.models import Person, Organization, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)  # Tue 10:00 New York


def simulation() -> Simulation:
    directory = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0]
    return Simulation(Plugins(Settings(vendors={"jira": VendorSettings(enabled=True)}), load_entry_points=False),
                      directory)


def recorded(minutes: int, tags=(), priority="Medium", status="Open") -> TicketEvent:
    """The ticket as an export from before slabridge shows it: only what people did."""
    return TicketEvent(vendor="jira", delivery_id=f"d{minutes}", ticket=TicketRef(vendor="jira", id="POOL-9"),
                       kind="created" if minutes == 0 else "updated", subject="Totals",
                       description="Monthly totals differ.", priority=priority, status=status, tags=tuple(tags),
                       requester=Person(email="ray@tailspin.example"), organization=Organization(id="12"),
                       created_at=T0, occurred_at=T0 + timedelta(minutes=minutes))


def test_a_tag_an_agent_adds_later_is_kept_and_stops_its_clock():
    sim = simulation()
    sim.feed(recorded(0))
    assert "sla_standard" in sim.shown["jira:POOL-9"]["tags"]
    sim.feed(recorded(180, tags=["eta_given"]))
    tags = sim.shown["jira:POOL-9"]["tags"]
    assert "eta_given" in tags and "sla_standard" in tags  # people's and slabridge's tags, both
    assert sim.states["jira:POOL-9"].clocks["eta"].state == "stopped"


def test_a_tag_a_person_removes_stays_removed_and_what_nobody_touched_stays_as_slabridge_set_it():
    sim = simulation()
    sim.feed(recorded(0, tags=["vip"]))
    sim.feed(recorded(60, tags=[]))  # someone removed "vip"
    assert "vip" not in sim.shown["jira:POOL-9"]["tags"]
    sim.shown["jira:POOL-9"]["priority"] = "Highest"  # as if slabridge had raised it
    merged = sim.feed(recorded(90)).state.last_event
    assert merged.priority == "Highest"  # the export still shows Medium: nobody changed it since
    by_hand = sim.feed(recorded(120, priority="Low")).state.last_event
    assert by_hand.priority == "Low"  # a person set it: theirs wins


def test_a_replay_leaves_the_garbage_collector_as_it_found_it():
    """Replay freezes what exists when it starts (gc.freeze) and collects its youngest objects less often while it
    runs; both are undone at the end, with one job or two."""
    import gc
    import random

    from slabridge.heap import YOUNG_COLLECTION
    from slabridge.simulation import replay
    from slabridge.testing.history import PRIORITIES, generate

    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    plugins = Plugins(Settings(vendors={v: VendorSettings(enabled=True) for v in PRIORITIES}))
    events = list(enumerate(generate(200, random.Random(5)), start=1))
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    assert threshold[0] < YOUNG_COLLECTION  # the interpreter's default, 700
    for jobs in (1, 2):
        lines: list[str] = []
        during: list[int] = []
        replay(events, plugins, directory, jobs, emit=lambda line: (lines.append(line),
                                                                    during.append(gc.get_threshold()[0])))
        assert lines and gc.get_freeze_count() == before and gc.get_threshold() == threshold
        assert set(during) == {YOUNG_COLLECTION}


def test_events_handed_in_unordered_are_ordered_with_the_heap_frozen():
    """Ordering the events builds a key per event: before the freeze, those allocations could set off the
    collector's full pass over every event given (0.9 s of a 100k-event replay run after another)."""
    import gc
    import random

    from slabridge.simulation import replay
    from slabridge.testing.history import PRIORITIES, generate

    class Watched(list):
        frozen_when_read: list[int] = []

        def __iter__(self):
            self.frozen_when_read.append(gc.get_freeze_count())
            return super().__iter__()

    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    plugins = Plugins(Settings(vendors={v: VendorSettings(enabled=True) for v in PRIORITIES}))
    events = Watched(enumerate(generate(50, random.Random(5)), start=1))
    outside = gc.get_freeze_count()
    lines: list[str] = []
    replay(events, plugins, directory, 1, emit=lines.append)
    assert lines and Watched.frozen_when_read and all(n > outside for n in Watched.frozen_when_read)


def test_a_settled_process_has_collected_its_start_up_garbage_and_frozen_the_rest():
    import gc
    import weakref

    from slabridge import heap

    class Node:
        pass

    garbage, kept = Node(), Node()
    garbage.me = garbage  # a cycle nothing else refers to: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    frozen = gc.get_freeze_count()
    try:
        heap.settle()
        assert gone() is None  # collected before the freeze, not kept in it forever
        assert gc.get_freeze_count() > frozen and kept not in gc.get_objects()  # frozen: no pass walks it
    finally:
        gc.unfreeze()
