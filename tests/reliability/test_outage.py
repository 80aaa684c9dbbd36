"""A vendor outage: 503s, then 429 with Retry-After, then recovery. The backlog drains, nothing is sent
before Retry-After, nothing is dead-lettered (no 4xx said so), nothing is posted twice."""

import time

import httpx

from .conftest import TICKETS


def test_a_vendor_outage_is_ridden_out_and_retry_after_respected(make_rig, tmp_path):
    rig = make_rig(f"sqlite:///{tmp_path}/outage.db", receivers=1, workers=1, worker_threads=1)
    fake = rig.fakes["zendesk"]

    def answered(status: int) -> bool:
        """Wait until the vendor has answered ``status`` at least once (phases follow the worker, not a clock)."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(r.status == status for r in fake.requests):
                return True
            time.sleep(0.1)
        return False

    fake.outage(503, seconds=600)
    history = [item for item in rig.history(tickets=TICKETS // 3, events_per_ticket=2) if item[0] == "zendesk"]
    with httpx.Client(timeout=10) as http:
        sent = [rig.send(*item, http=http) for item in history]
    assert answered(503)
    time.sleep(1)
    fake.outage(429, seconds=600, headers={"Retry-After": "3"})
    assert answered(429)
    fake.outage(200, seconds=0)  # recovered
    assert rig.wait_drained(timeout=180), rig.store.counts()
    report = rig.report(sent)
    assert report.problems() == [], report
    statuses = [r.status for r in fake.requests]
    assert 503 in statuses and 429 in statuses and statuses[-1] < 300
    for i, answered in enumerate(fake.requests):  # one worker thread: nothing is sent inside a Retry-After
        if answered.status == 429:
            later = [r for r in fake.requests[i + 1:] if r.at > answered.at]
            assert not later or later[0].at >= answered.at + 3 - 0.05, "sent before Retry-After"
    paused = rig.store.rows("vendor_pauses")
    assert paused and paused[0]["vendor"] == "zendesk"
