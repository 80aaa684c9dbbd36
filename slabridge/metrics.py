"""Prometheus metrics: what the receiver and the workers did, and how deep the queues are.

Counters and histograms are kept by the process that does the work (the
receiver counts webhooks, a worker counts decisions and write-backs). Under
gunicorn or beside ``slabridge worker`` processes on one host, set
``PROMETHEUS_MULTIPROC_DIR`` to a shared empty folder and every process's
figures are summed at ``GET /metrics``. Queue depths and deadlines are read
from the database at scrape time, so they are right whichever process answers.
Labels carry vendors, outcomes, statuses, customers and severities — never
ticket text.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

WEBHOOKS = Counter("slabridge_webhooks", "Webhooks received, by vendor and outcome (accepted, duplicate, "
                   "rejected) and HTTP status", ["vendor", "outcome", "status"])
DECISIONS = Histogram("slabridge_decision_seconds", "Time to decide one inbox event and store the outcome",
                      ["vendor"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))
WRITES = Counter("slabridge_writebacks", "Write-backs attempted, by vendor, action and outcome (sent, already, "
                 "retry, dead) and HTTP status (0: none)", ["vendor", "action", "outcome", "status"])
PRUNED = Counter("slabridge_pruned_rows", "Finished rows deleted past their retention, by kind (events, writes, "
                 "timers, decisions)", ["kind"])
WRITE_SECONDS = Histogram("slabridge_writeback_seconds", "Time of one write-back to the vendor, retries included",
                          ["vendor"], buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0))


class StoreCollector:
    """Queue depths and deadlines, read from the database at each scrape."""

    def __init__(self, store):
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = GaugeMetricFamily("slabridge_queue_rows", "Rows per queue and status (dead = dead letters)",
                                   labels=["queue", "status"])
        for queue, statuses in self.store.counts().items():
            for status, rows in statuses.items():
                depths.add_metric([queue, status], rows)
        yield depths
        deadlines = GaugeMetricFamily("slabridge_deadlines", "Running deadlines of open tickets: at risk (past "
                                      "the warning) or breached, by customer, severity and metric",
                                      labels=["customer", "severity", "metric", "state"])
        for key, count in sorted(deadline_states(self.store, datetime.now(timezone.utc)).items()):
            deadlines.add_metric(list(key), count)
        yield deadlines


def deadline_states(store, now: datetime) -> Tally:
    """(customer, severity, metric, 'at_risk' | 'breached') -> how many tickets."""
    found: Tally = Tally()
    for state in store.ticket_clocks(running=True):
        severity = str(state.memory.get("level") or "unknown")
        for metric, deadline in state.deadlines.items():
            clock = state.clocks.get(metric)
            if clock is not None and clock.state == "stopped":
                continue
            if deadline.get("breached"):
                found[(state.customer or "unknown", severity, metric, "breached")] += 1
            elif deadline.get("warn_at") and datetime.fromisoformat(deadline["warn_at"]) <= now:
                found[(state.customer or "unknown", severity, metric, "at_risk")] += 1
    return found


def exposition(store) -> bytes:
    """The text format of every metric: this process's (or all processes') plus the store's."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (WEBHOOKS, DECISIONS, WRITES, WRITE_SECONDS):
            registry.register(collector)
    registry.register(StoreCollector(store))
    return generate_latest(registry)
