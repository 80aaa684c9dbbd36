"""The test rig's own judgement of "drained", on which the crash and outage tests' verdicts rest, and the
ports it hands its servers."""

import socket
from pathlib import Path

from slabridge.testing.rig import Rig, _ephemeral_low, free_port

CLEAN, BUSY = False, True  # whether work is left


class ScriptedCounts:
    """The store's answers to "work left?", one look after another (the rig reads nothing else to decide)."""

    def __init__(self, *looks):
        self.looks = list(looks)
        self.seen = 0

    def work_left(self):
        self.seen += 1
        return self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]


def rig_reading(store, tmp_path: Path) -> Rig:
    rig = Rig(tmp_path, "sqlite://", tmp_path, tmp_path / "customers.yaml")
    rig.store = store
    return rig


def test_drained_only_after_two_clean_looks_in_a_row(tmp_path):
    """A timer's event is stamped when its transaction starts: one stamped before a clean look may commit just
    after it, pending, and must not be reported as an accepted event left undecided."""
    store = ScriptedCounts(CLEAN, BUSY, CLEAN, CLEAN)
    rig = rig_reading(store, tmp_path)
    assert rig.wait_drained(timeout=10, poll=0.001)
    assert store.seen == 4  # the first clean look was not enough; the pending row reset the count


def test_not_drained_while_work_is_pending(tmp_path):
    rig = rig_reading(ScriptedCounts(BUSY), tmp_path)
    assert not rig.wait_drained(timeout=0.05, poll=0.001)


def test_the_drained_moment_is_the_first_of_the_two_looks(tmp_path):
    import time

    before = time.time()
    rig = rig_reading(ScriptedCounts(CLEAN), tmp_path)
    assert rig.wait_drained(timeout=10, poll=0.05)
    assert before <= rig.drained_at <= time.time() - 0.05  # a poll before the second look returned


def test_a_servers_port_cannot_be_taken_by_anyone_binding_port_zero():
    """A fake vendor API started between picking the receiver's port and gunicorn's bind took that port once
    (gunicorn: "Address already in use"): the port must lie outside what ``bind(0)`` hands out."""
    low = _ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert all(port < low for port in ports)
    with socket.socket() as taken:  # and it is free: a server can bind it
        taken.bind(("127.0.0.1", ports.pop()))


def test_ephemeral_range_read_from_the_kernel_or_the_iana_default(tmp_path):
    (tmp_path / "range").write_text("40000\t60999\n")
    assert _ephemeral_low(str(tmp_path / "range")) == 40000
    assert _ephemeral_low(str(tmp_path / "absent")) == 49152
    (tmp_path / "garbled").write_text("")
    assert _ephemeral_low(str(tmp_path / "garbled")) == 49152
