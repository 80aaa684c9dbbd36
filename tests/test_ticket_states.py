"""A replay keeps the states of tickets it has not touched lately packed; they come back unchanged."""

import random
from pathlib import Path

import msgspec
import pytest

from slabridge import simulation
from slabridge.config import Settings, VendorSettings
from slabridge.directory import load
from slabridge.engine import TicketClocks, TicketState
from slabridge.models import TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import TicketStates, replay
from slabridge.testing.history import PRIORITIES, generate

ROOT = Path(__file__).resolve().parents[1]


def state(ticket: str, note: str) -> TicketState:
    return TicketState(ticket=TicketRef(vendor="jira", id=ticket), customer="acme", memory={"note": note})


def test_only_the_most_recently_used_stay_values_and_a_packed_one_comes_back_equal():
    states = TicketStates(hot=2)
    for ticket in ("A", "B", "C"):
        states[ticket] = state(ticket, f"about {ticket}")
    assert list(states.hot) == ["B", "C"] and set(states.packed) == {"A"}
    assert states["A"] == state("A", "about A")  # unpacked, and now the most recent
    assert list(states.hot) == ["C", "A"] and set(states.packed) == {"B"}
    assert states.get("nobody") is None
    with pytest.raises(KeyError):
        states["nobody"]
    assert [s.ticket.id for s in states.values()] == ["A", "B", "C"] and len(states) == 3  # first seen first
    assert list(states.hot) == ["C", "A"]  # reading them all promotes none



def test_what_reports_read_of_a_state_is_its_fields_of_the_same_names_packed_or_not():
    """``TicketClocks`` is a part of ``TicketState``, field for field; ``clocks()`` reads every state in the
    order ``values()`` does, a packed one without its last event, and promotes none."""
    whole = {f.name: f.type for f in msgspec.structs.fields(TicketState)}
    part = {f.name: f.type for f in msgspec.structs.fields(TicketClocks)}
    assert part.items() <= whole.items() and {"clocks", "deadlines", "customer", "memory"} <= part.keys()
    states = TicketStates(hot=1)
    for ticket in ("A", "B"):
        states[ticket] = state(ticket, f"about {ticket}")
    read = list(states.clocks())
    assert [type(s) for s in read] == [TicketClocks, TicketState] and list(states.hot) == ["B"]
    for clocks, full in zip(read, states.values()):
        assert all(getattr(clocks, name) == getattr(full, name) for name in part)
        assert clocks.running() == full.running()

def test_a_replay_that_packs_every_state_decides_exactly_as_one_that_packs_none(monkeypatch):
    """Every state through JSON and back between any two of its decisions: the same lines, the same report."""
    events = list(enumerate(generate(1500, random.Random(5)), start=1))
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    plugins = Plugins(Settings(vendors={v: VendorSettings(enabled=True) for v in PRIORITIES}))

    def run(hot: int) -> tuple[list[str], list]:
        monkeypatch.setattr(simulation.TicketStates.__init__, "__defaults__", (hot,))
        lines: list[str] = []
        return lines, replay(events, plugins, directory, 1, emit=lines.append)

    packed_lines, packed_rows = run(1)
    lines, rows = run(10**9)
    assert len(lines) > len(events)  # timers fired too
    assert packed_lines == lines and packed_rows == rows
