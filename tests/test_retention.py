"""Retention: finished rows go once past their window, oldest first, in batches; pending and dead rows stay."""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from slabridge import retention
from slabridge.config import ConfigError, Settings, load
from slabridge.plugins import Plugins
from slabridge.store import Store, audit, inbox, outbox, timers
from slabridge.worker import Worker

from .test_cli import run
from .test_store_scaling import steps

DAY = 86_400.0
NOW = 1_800_000_000.0  # 2027-01-15
OLD, RECENT = NOW - 31 * DAY, NOW - 29 * DAY  # either side of the default 30 days


def add(store: Store, table: sa.Table, rows: list[dict]) -> None:
    defaults = {
        inbox: dict(vendor="zendesk", ticket_id="1", event={}, received_at=NOW - 90 * DAY, attempts=1,
                    not_before=0.0, processed_at=None),
        outbox: dict(vendor="zendesk", ticket_id="1", action={"type": "add_tags", "tags": ["x"]}, attempts=1,
                     not_before=0.0, created_at=NOW - 90 * DAY, done_at=None, lease_until=None, delivery_id=None),
        timers: dict(vendor="zendesk", ticket_id="1", kind="check"),
        audit: dict(vendor="zendesk", ticket_id="1", kind="decision", body={}, delivery_id=None),
    }[table]
    with store.engine.begin() as conn:
        conn.execute(table.insert(), [{**defaults, **row} for row in rows])


def left(store: Store, table: sa.Table, column: str) -> list:
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(table.c[column])).scalars())


def fill(store: Store) -> None:
    """Of every kind, finished rows either side of the window, and rows that are not finished."""
    add(store, inbox, [
        dict(delivery_id="done-old", status="done", processed_at=OLD),
        dict(delivery_id="done-recent", status="done", processed_at=RECENT),
        dict(delivery_id="dropped-old", status="dropped", processed_at=None),  # dropped dead letter: by arrival
        dict(delivery_id="pending-old", status="pending"),
        dict(delivery_id="dead-old", status="dead", processed_at=OLD),
    ])
    add(store, outbox, [
        dict(delivery_id="done-old", status="done", done_at=OLD),
        dict(delivery_id="done-recent", status="done", done_at=RECENT),
        dict(delivery_id="dropped-old", status="dropped"),
        dict(delivery_id="pending-old", status="pending"),
        dict(delivery_id="sending-old", status="sending", lease_until=NOW + 60),
        dict(delivery_id="dead-old", status="dead", done_at=None),
    ])
    add(store, timers, [dict(kind="fired-old", status="fired", fire_at=OLD),
                        dict(kind="fired-recent", status="fired", fire_at=RECENT),
                        dict(kind="pending-old", status="pending", fire_at=OLD)])
    add(store, audit, [dict(delivery_id="old", at=NOW - 401 * DAY), dict(delivery_id="recent", at=OLD)])


def test_finished_rows_past_retention_go_and_everything_else_stays(store):
    fill(store)
    pruned = retention.prune(store, Settings(), NOW)
    assert pruned.complete
    assert pruned.gone == {"events": 2, "writes": 2, "timers": 1, "decisions": 1}
    assert left(store, inbox, "delivery_id") == ["dead-old", "done-recent", "pending-old"]
    assert left(store, outbox, "delivery_id") == ["dead-old", "done-recent", "pending-old", "sending-old"]
    assert left(store, timers, "kind") == ["fired-recent", "pending-old"]
    assert left(store, audit, "delivery_id") == ["recent"]
    assert retention.prune(store, Settings(), NOW).gone == {"events": 0, "writes": 0, "timers": 0, "decisions": 0}


def test_each_window_is_its_own_setting_and_forever_keeps(store):
    fill(store)
    settings = Settings(retention_days="forever", audit_retention_days=7)
    assert retention.prune(store, settings, NOW).gone == {"decisions": 2}
    assert len(left(store, inbox, "id")) == 5 and len(left(store, timers, "id")) == 3
    assert left(store, audit, "id") == []
    assert retention.prune(store, Settings(retention_days=60), NOW).gone == {
        "events": 1, "writes": 1, "timers": 0, "decisions": 0}  # 60 days: only the dropped ones, 90 days old


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(store):
    fill(store)
    before = {t.name: left(store, t, "id") for t in (inbox, outbox, timers, audit)}
    counted = retention.prune(store, Settings(), NOW, dry_run=True)
    assert {t.name: left(store, t, "id") for t in (inbox, outbox, timers, audit)} == before
    assert counted == retention.prune(store, Settings(), NOW)


def test_a_bounded_call_deletes_a_batch_at_a_time_and_says_more_remains(store):
    add(store, inbox, [dict(delivery_id=f"e{i}", status="done", processed_at=OLD) for i in range(7)])
    add(store, timers, [dict(status="fired", fire_at=OLD - i) for i in range(4)])
    first = retention.prune(store, Settings(), NOW, max_batches=2, batch=3)
    assert first == retention.Pruned({"events": 6, "writes": 0, "timers": 0, "decisions": 0}, complete=False)
    assert left(store, inbox, "delivery_id") == ["e6"]
    second = retention.prune(store, Settings(), NOW, max_batches=2, batch=3)
    assert second.gone["events"] == 1 and second.gone["timers"] == 3 and not second.complete
    assert retention.prune(store, Settings(), NOW, max_batches=2, batch=3).gone["timers"] == 1


def test_a_row_finished_late_is_passed_over_not_a_wall(store):
    """An old event retried and decided yesterday stays; the older-finished rows after it still go."""
    add(store, inbox, [dict(delivery_id="retried", status="done", processed_at=NOW - DAY)]
        + [dict(delivery_id=f"e{i}", status="done", processed_at=OLD) for i in range(5)])
    assert retention.prune(store, Settings(), NOW, batch=2).gone["events"] == 5
    assert left(store, inbox, "delivery_id") == ["retried"]


def test_a_prune_reads_a_batch_past_the_window_however_long_the_window_is(tmp_path):
    """The walk ends at the first batch with nothing old enough: 1,000 or 20,000 rows kept cost the same."""
    counts = []
    for kept in (1_000, 20_000):
        store = Store(f"sqlite:///{tmp_path}/kept-{kept}.db")
        store.upgrade()
        add(store, inbox, [dict(delivery_id=f"e{i}", status="done", processed_at=RECENT) for i in range(kept)])
        add(store, outbox, [dict(delivery_id=f"w{i}", status="done", done_at=RECENT) for i in range(kept)])
        add(store, timers, [dict(status="fired", fire_at=RECENT) for _ in range(kept)])
        add(store, audit, [dict(delivery_id=f"d{i}", at=RECENT) for i in range(kept)])
        with steps(store) as count:
            assert sum(retention.prune(store, Settings(), NOW).gone.values()) == 0
        counts.append(count[0])
        store.close()
    assert counts[1] <= counts[0] * 1.1, counts


@pytest.mark.parametrize("value", ["0", "-3", "never", "36501"])
def test_a_bad_retention_says_what_is_allowed(value):
    with pytest.raises(ConfigError) as raised:
        load(None, {"SLABRIDGE_RETENTION_DAYS": value})
    assert str(raised.value) == (f"environment variable SLABRIDGE_RETENTION_DAYS: retention_days: must be a number "
                                 f"of days (more than 0, at most 36500) or \"forever\", not '{value}'")


def pruned_total(kind: str) -> float:
    return REGISTRY.get_sample_value("slabridge_pruned_rows_total", {"kind": kind}) or 0.0


def test_the_worker_prunes_on_its_schedule_and_counts_it(store, make_settings, db_url, caplog, monkeypatch):
    add(store, inbox, [dict(delivery_id=f"e{i}", status="done", processed_at=OLD) for i in range(3)])
    plugins = Plugins(make_settings(db_url))
    before = pruned_total("events")
    idle = Worker(store, plugins, clock=lambda: NOW, prunes=False)
    idle.step()
    assert len(left(store, inbox, "id")) == 3, "a worker told not to prune deleted rows"
    worker = Worker(store, plugins, clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="slabridge.worker"):
        worker.step()
    assert left(store, inbox, "id") == []
    assert pruned_total("events") - before == 3
    assert "pruned finished rows past their retention: 3 events" in caplog.text
    assert worker._next_prune > time.monotonic() + 500, "a complete prune waits its 10 minutes"

    monkeypatch.setattr("slabridge.worker.PRUNE_BATCHES", 1)
    monkeypatch.setattr("slabridge.retention.BATCH", 2)
    add(store, inbox, [dict(delivery_id=f"f{i}", status="done", processed_at=OLD) for i in range(3)])
    worker._next_prune = 0.0
    worker.step()
    assert len(left(store, inbox, "id")) == 1
    assert worker._next_prune < time.monotonic() + 2, "a backlog is worked off a second apart"


def test_db_prune_command(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    monkeypatch.setenv("SLABRIDGE_DATABASE_URL", f"sqlite:///{db}")
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    now = time.time()
    add(store, inbox, [dict(delivery_id="a", status="done", processed_at=now - 31 * DAY),
                       dict(delivery_id="b", status="done", processed_at=now - DAY)])
    dry = run("db", "prune", "--dry-run")
    assert dry.exit_code == 0
    assert dry.output.split("\n")[0].split() == ["kind", "would", "go", "kept", "for"]
    assert ["events", "1", "30", "days"] in [line.split() for line in dry.output.splitlines()]
    assert len(left(store, inbox, "id")) == 2
    monkeypatch.setenv("SLABRIDGE_AUDIT_RETENTION_DAYS", "forever")
    done = run("db", "prune")
    assert ["events", "1", "30", "days"] in [line.split() for line in done.output.splitlines()]
    assert ["decisions", "0", "forever"] in [line.split() for line in done.output.splitlines()]
    assert left(store, inbox, "delivery_id") == ["b"]
    store.close()


def test_a_webhook_redelivered_after_its_row_is_gone_writes_nothing_again(store, make_settings, db_url, signed):
    from .test_worker import Clock, enqueue_sample

    with Plugins().connectors["zendesk"].fake_api() as fake:
        clock = Clock(time.time())
        worker = Worker(store, Plugins(make_settings(db_url, {fake.name: fake.url})), clock=clock, prunes=False)
        enqueue_sample(store, signed, worker.settings, "zendesk", "7")
        worker.drain()
        sent = len(fake.writes())
        assert sent and fake.tickets["7"]["tags"] == ["sla_unknown_customer"]
        assert retention.prune(store, worker.settings, clock.now + 31 * DAY).gone["events"] == 1
        enqueue_sample(store, signed, worker.settings, "zendesk", "7")  # the vendor sends it again: accepted anew
        worker.drain()
        assert len(fake.writes()) == sent
        assert [row["status"] for row in store.rows("inbox")] == ["done"]


def test_rows_another_worker_deleted_meanwhile_are_not_counted_twice(store, monkeypatch):
    add(store, inbox, [dict(delivery_id=f"e{i}", status="done", processed_at=OLD) for i in range(4)])
    walk = retention._by_arrival

    def raced(store_, kind, status, cutoff, batch):
        for ids in walk(store_, kind, status, cutoff, batch):
            with store_.engine.begin() as conn:  # the other process got there first, for half of them
                conn.execute(kind.table.delete().where(kind.table.c.id.in_(ids[:2])))
            yield ids
    monkeypatch.setattr(retention, "_by_arrival", raced)
    assert retention.prune(store, Settings(), NOW).gone["events"] == 2
    assert left(store, inbox, "id") == []
