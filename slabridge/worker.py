"""The worker: decides inbox events, fires due timers, sends the outbox.

Any number of workers may run against one database; the store's claiming
keeps each ticket's events and write-backs in order. Vendor I/O happens only
here, never inside a webhook request and never inside a database transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import ValidationError

from . import engine, metrics, retention
from .directory import PlannedEvent
from .lookups import LookupNeeded, Lookups
from .models import TicketEvent, problems
from .plugins import Plugins
from .store import EventFailed, Finished, LedgerBusy, OutboxRow, Store
from .vendorapi import MAX_INLINE_WAIT, Throttle, VendorClient, VendorError, outbox_wait

log = logging.getLogger("slabridge.worker")
BATCH = 32  # events, timers or writes per transaction: one commit (a durable disk write) for all of them


class _BatchReads(threading.local):
    """What this thread's batch of decisions read once: each customer's stored planned events."""

    def __init__(self) -> None:
        self.planned: dict[str, list[PlannedEvent]] = {}


_BATCH_READS = _BatchReads()


class Worker:
    def __init__(self, store: Store, plugins: Plugins, directory: Any = None,
                 clock: Callable[[], float] = time.time,
                 http_factory: Callable[[str], httpx.Client] | None = None, lookups: Lookups | None = None,
                 prunes: bool = True):
        self.store = store
        self.plugins = plugins
        self.settings = plugins.settings
        self.directory = directory
        if directory is not None:
            directory.ledger = store.ledger_entries
            directory.stored_events = self._stored_events
        self.clock = clock
        self.http_factory = http_factory
        self.lookups = lookups or Lookups(ttl_seconds=self.settings.lookup_ttl_seconds)
        self._clients: dict[str, VendorClient | None] = {}
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_for(self.settings)
        self._next_orphan_check = 0.0
        self._next_prune = 0.0 if prunes else float("inf")  # one worker per process deletes old rows
        self._pool: ThreadPoolExecutor | None = None

    # --- one unit of work each --------------------------------------------

    def process_event(self) -> bool:
        """Decide the next inbox event; False if none was ready."""
        return self.process_events(limit=1) > 0

    def _stored_events(self, customer: str) -> list[PlannedEvent]:
        """The customer's planned events added at run time, read once per batch of decisions (every
        decision's entitlement asks; they change when an admin adds one, seen from the next batch on).

        Worker threads share the directory, which calls the last worker's method: what a batch read
        is kept per thread (a thread's batch never sees another thread's older reads)."""
        planned = _BATCH_READS.planned
        events = planned.get(customer)
        if events is None:
            events = planned[customer] = [
                PlannedEvent(kind=e["kind"], starts=e["from"], ends=e["to"], note=e["note"])
                for e in self.store.planned_events(customer)]
        return events

    def process_events(self, limit: int = BATCH) -> int:
        """Decide up to ``limit`` inbox events (one per ticket) in one transaction; return how many were
        decided or failed."""
        _BATCH_READS.planned = {}
        now = self.clock()
        when = datetime.fromtimestamp(now, timezone.utc)
        started = time.perf_counter()

        def decide(event, state):
            nonlocal started
            outcome = engine.decide(event, state, self.plugins, self.directory, when, self.lookups)
            seconds, started = time.perf_counter() - started, time.perf_counter()
            metrics.DECISIONS.labels(event.vendor).observe(seconds)
            log.info("decided %s %s for %s", event.vendor, event.kind, event.ticket.key, extra={
                "vendor": event.vendor, "delivery_id": event.delivery_id[:80], "ticket": event.ticket.key,
                "event_kind": str(event.kind), "duration_ms": round(seconds * 1000, 2)})
            return outcome

        decided, failures = self.store.process_events(decide, limit=limit, now=now, last=self._billed)
        waiting: dict[tuple[str, str, str], list[EventFailed]] = {}  # events per look-up they wait for
        for failed in failures:
            if isinstance(failed.cause, LookupNeeded):
                need = failed.cause
                waiting.setdefault((need.vendor, need.kind, need.key), []).append(failed)
                continue
            if isinstance(failed.cause, LedgerBusy):  # decided again in the next batch, no attempt counted
                log.debug("event %s waits: another worker's decision holds the incident ledger", failed.inbox_id)
                continue
            status = self.store.fail_event(failed.inbox_id, _describe(failed.cause), self.settings.max_attempts,
                                           retry_in=5.0, now=now, dead_if_repeated=True)
            if status in ("pending", "dead"):
                log.error("event %s failed (%s): %s%s", failed.inbox_id, status, failed.cause.__class__.__name__,
                          _raised_at(failed.cause))
            else:  # another worker decided it after this attempt failed: nothing to retry
                log.warning("event %s: this attempt failed (%s) but it is already %s", failed.inbox_id,
                            failed.cause.__class__.__name__, status)
        groups = list(waiting.values())
        if len(groups) > 1 and self._overlaps({group[0].cause.vendor for group in groups}):
            list(self._senders().map(self._look_up, groups))
        else:
            for group in groups:
                self._look_up(group)
        return decided + len(failures)

    def _billed(self, event: TicketEvent) -> bool:
        """Whether the event's customer has an incident ledger: the batch decides those last (see
        :meth:`Store.process_events`)."""
        return self.directory is not None and self.directory.billed_customer(
            event.vendor, event.organization.id, event.requester.email, event.organization.also) is not None

    def _look_up(self, waiting: list[EventFailed]) -> None:
        """Make the look-up the ``waiting`` events' decisions asked for (the same one: made once), outside
        any transaction; they are decided again next.

        A transient failure makes them wait (retried later, like any failed attempt); one that persists
        to an event's last attempt, or a vendor that refuses, leaves the value unknown, never a refusal.
        """
        needed = waiting[0].cause
        client = self.client_for(needed.vendor)
        try:
            self.lookups.fetch(needed, client.look_up if client else lambda kind, key: None)
            log.info("looked up %s %s %s", needed.vendor, needed.kind, needed.key)
            return
        except VendorError as exc:
            if exc.retryable and all(f.attempts + 1 < self.settings.max_attempts for f in waiting):
                for failed in waiting:
                    status = self.store.fail_event(failed.inbox_id, f"look-up of {needed.vendor} {needed.kind} "
                                                   f"{needed.key}: {exc}", self.settings.max_attempts,
                                                   retry_in=5.0, now=self.clock())
                    log.warning("event %s waits (%s): look-up of %s %s failed: %s %s", failed.inbox_id, status,
                                needed.vendor, needed.kind, exc.__class__.__name__, exc.status or "")
                return
            cause = f"{exc.__class__.__name__} {exc.status or ''}".strip()
        except Exception as exc:  # noqa: BLE001 - a broken look-up must not hold the event back forever
            cause = exc.__class__.__name__
        self.lookups.put(needed.vendor, needed.kind, needed.key, None)
        log.warning("look-up of %s %s %s failed (%s): deciding with it unknown", needed.vendor, needed.kind,
                    needed.key, cause)

    def fire_timer(self) -> bool:
        """Turn the next due timer into an inbox event for its ticket; False if none was due."""
        return self.fire_timers(limit=1) > 0

    def fire_timers(self, limit: int = BATCH) -> int:
        """Turn up to ``limit`` due timers into inbox events for their tickets; return how many."""
        return len(self.store.fire_due_timers(now=self.clock(), limit=limit))

    def send_one(self) -> bool:
        """Send the next due outbox action; False if none was due."""
        return self.send_writes(limit=1) > 0

    def send_writes(self, limit: int = BATCH) -> int:
        """Send due outbox actions of up to ``limit`` tickets, each ticket's next ones; return how many were
        tried.

        A ticket's claimed writes (its next one and the rest of that decision's) go out in order, in
        as few requests as its connector can join them; after a request that did not go through, the
        ticket's other writes are released unsent. Up to ``send_concurrency`` tickets are sent at
        once. The rows are leased for longer than the client's whole retry budget and the leases are
        renewed while the sends go on; only the lease holder finishes a row. Transient failures are
        retried for ``write_retry_hours``; a 4xx is a dead letter at once. After a transient failure
        the batch's other writes to that vendor that have not started are released unsent (its
        outage or rate limit holds them all).
        """
        rows = self.store.claim_outboxes(self.owner, lease_seconds=self.lease_seconds, now=self.clock(), limit=limit)
        if not rows:
            return 0
        by_ticket: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_ticket.setdefault(row.ticket.key, []).append(row)
        failing: set[str] = set()

        def send(writes: list[OutboxRow]) -> list[Finished]:
            vendor = writes[0].ticket.vendor
            if vendor in failing:  # its outage or rate limit holds them all
                return [Finished(r.id, "unsent") for r in writes]
            outcomes = self._send_ticket(writes)
            if any(outcome.status == "pending" for outcome in outcomes):
                failing.add(vendor)
            return outcomes
        with self._renewing(rows):
            if len(by_ticket) > 1 and self._overlaps({row.ticket.vendor for row in rows}):
                sent = list(self._senders().map(send, by_ticket.values()))
            else:
                sent = [send(writes) for writes in by_ticket.values()]
        finished = [outcome for outcomes in sent for outcome in outcomes]
        held = self.store.finish_outboxes(finished, now=self.clock(), owner=self.owner)
        for outcome, ok in zip(finished, held):
            if not ok:
                log.warning("outbox %s: lease lost to another worker; its outcome (%s) is theirs to record",
                            outcome.row_id, outcome.status)
        return len(rows)

    def _overlaps(self, vendors: set[str]) -> bool:
        """Whether to make several tickets' requests at once (writes, look-ups; up to ``send_concurrency``):
        while a vendor of the batch answers slowly. Where its answers come back within
        ``SLOW_ANSWER_SECONDS`` the requests compute more than they wait, and threads under the GIL would
        cost more than they overlap: one at a time, as before the vendor's first answer is timed."""
        if self.settings.send_concurrency == 1:
            return False
        for vendor in vendors:
            answers = getattr(self._clients.get(vendor), "answer_seconds", None)
            if answers is not None and answers >= SLOW_ANSWER_SECONDS:
                return True
        return False

    def _senders(self) -> ThreadPoolExecutor:
        """The threads that make several tickets' requests at once (``send_concurrency``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.send_concurrency, thread_name_prefix="send")
        return self._pool

    def _send_ticket(self, writes: list[OutboxRow]) -> list[Finished]:
        """One ticket's claimed writes, in order and in the requests its connector joins them into."""
        client = self.client_for(writes[0].ticket.vendor)
        if client is None:
            log.error("outbox %s on %s: dead letter (vendor not enabled)", _ids(writes), writes[0].ticket.key)
            return [Finished(r.id, "dead", f"vendor {r.ticket.vendor!r} is not enabled") for r in writes]
        try:
            requests = client.requests_for([r.action for r in writes])
        except Exception:  # noqa: BLE001 - a connector's joining bug must not hold writes: one request each
            log.exception("outbox %s: the connector could not join writes; sending one at a time", _ids(writes))
            requests = [[i] for i in range(len(writes))]
        finished: list[Finished] = []
        for n, positions in enumerate(requests):
            outcome = self._send(client, [writes[i] for i in positions])
            finished += outcome
            if outcome[0].status != "done":
                finished += [Finished(writes[i].id, "unsent") for later in requests[n + 1:] for i in later]
                break
        return finished

    def _send(self, client: VendorClient, rows: list[OutboxRow]) -> list[Finished]:
        """Send leased writes as one request; each row's outcome, to record."""
        first = rows[0]
        kinds = "+".join(row.action.type for row in rows)
        what = f"outbox {_ids(rows)} {kinds} on {first.ticket.key}"
        vendor, started = first.ticket.vendor, time.perf_counter()

        def fields(status: int | str) -> dict:
            return {"extra": {"vendor": vendor, "ticket": first.ticket.key, "action": kinds, "status": status,
                              "attempt": first.attempts, "writes": len(rows),
                              "duration_ms": round((time.perf_counter() - started) * 1000, 2)}}

        def each(status: str, error: str | None = None, retry_at: float | None = None) -> list[Finished]:
            return [Finished(row.id, status, error, retry_at) for row in rows]

        def count(outcome: str, status: int | None = None) -> None:
            for row in rows:
                metrics.WRITES.labels(vendor, row.action.type, outcome, str(status or 0)).inc()
        try:
            sent = client.deliver(first.ticket, [r.action for r in rows], [r.write_key for r in rows],
                                  maybe_sent=any(r.attempts > 1 for r in rows), changed_at=first.ticket_changed_at)
        except VendorError as exc:
            cause = _cause(exc)
            metrics.WRITE_SECONDS.labels(vendor).observe(time.perf_counter() - started)
            if exc.retryable and not self._gave_up(rows):
                count("retry", exc.status)
                delay = exc.retry_after if exc.retry_after is not None else _backoff(first.attempts)
                log.warning("%s: %s; retry in %.1fs", what, cause, delay, **fields(exc.status or 0))
                return each("pending", str(exc), retry_at=self.clock() + delay)
            count("dead", exc.status)
            log.error("%s: dead letter: %s", what, cause, **fields(exc.status or 0))
            return each("dead", str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected client failure is retried, then dead-lettered
            status = "pending" if first.attempts < self.settings.max_attempts else "dead"
            log.error("%s: unexpected %s (%s)", what, exc.__class__.__name__, status, **fields(status))
            return each(status, f"{exc.__class__.__name__}: {exc}", retry_at=self.clock() + _backoff(first.attempts))
        metrics.WRITE_SECONDS.labels(vendor).observe(time.perf_counter() - started)
        count("sent" if sent else "already")
        log.info("%s: %s", what, "sent" if sent else "already on the vendor (an earlier attempt got through)",
                 **fields("sent" if sent else "already"))
        return each("done")

    def _gave_up(self, rows: list[OutboxRow]) -> bool:
        """Transient failures are retried for a window of hours, like the vendors' own webhook retries."""
        since = min((r.failing_since for r in rows if r.failing_since is not None), default=self.clock())
        return self.clock() - since >= self.settings.write_retry_hours * 3600

    @contextlib.contextmanager
    def _renewing(self, rows: list[OutboxRow]):
        """Keep the rows' leases alive while slow sends (timeouts, in-process Retry-After waits) go on."""
        done = threading.Event()
        ids = [row.id for row in rows]

        def renew() -> None:
            while not done.wait(self.lease_seconds / 3):
                try:
                    if not self.store.renew_outboxes(ids, self.owner, self.lease_seconds, now=self.clock()):
                        return
                except Exception:  # noqa: BLE001 - a failed renewal is retried at the next beat
                    log.warning("outbox %s: lease renewal failed", ", ".join(map(str, ids)))

        beat = threading.Thread(target=renew, name=f"lease-{ids[0]}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def step(self) -> int:
        """Do every kind of work that is ready, once; return how many units were done."""
        if time.monotonic() >= self._next_orphan_check:
            self._next_orphan_check = time.monotonic() + ORPHAN_CHECK_SECONDS
            if released := self.store.release_leases(orphaned):
                log.warning("released %s write(s) leased by a worker process that is gone", released)
        if time.monotonic() >= self._next_prune:
            self.prune()
        return self.process_events() + self.fire_timers() + self.send_writes()

    def prune(self) -> None:
        """Delete finished rows past their retention, a few batches at a time (a backlog of them is worked
        off a second apart, between decisions); then again in ``PRUNE_EVERY_SECONDS``."""
        pause = PRUNE_EVERY_SECONDS
        try:
            pruned = retention.prune(self.store, self.settings, self.clock(), max_batches=PRUNE_BATCHES)
        except Exception:  # noqa: BLE001 - deleting old rows may fail (a locked database) and try again later
            log.exception("pruning finished rows failed; trying again in %s s", PRUNE_EVERY_SECONDS)
        else:
            for kind, rows in pruned.gone.items():
                if rows:
                    metrics.PRUNED.labels(kind).inc(rows)
            if any(pruned.gone.values()):
                log.info("pruned finished rows past their retention: %s", ", ".join(
                    f"{rows} {kind}" for kind, rows in pruned.gone.items() if rows))
            pause = PRUNE_EVERY_SECONDS if pruned.complete else PRUNE_BACKLOG_SECONDS
        self._next_prune = time.monotonic() + pause

    def drain(self, limit: int = 10_000) -> int:
        """Work until nothing is ready (or ``limit`` units); for tests and the demo."""
        done = 0
        while done < limit and (n := self.step()):
            done += n
        return done

    def run(self, stop: threading.Event) -> None:
        """Build the enabled vendors' clients, then loop until ``stop`` is set, sleeping
        ``worker_poll_seconds`` when idle."""
        for vendor in self.plugins.connectors:
            try:  # before the first write waits on it (an HTTP client with TLS takes a moment to build)
                self.client_for(vendor)
            except Exception:  # noqa: BLE001 - a vendor whose client cannot be built must not stop the others
                log.exception("could not build the %s client; its writes will fail until this is fixed", vendor)
                self._clients.pop(vendor, None)
        while not stop.is_set():
            try:
                idle = self.step() == 0
            except Exception:  # noqa: BLE001 - keep the worker alive; the database may be back soon
                log.exception("worker step failed")
                idle = True
            if idle:
                stop.wait(self.settings.worker_poll_seconds)

    def client_for(self, vendor: str) -> VendorClient | None:
        if vendor not in self._clients:
            connector = self.plugins.enabled_connector(vendor)
            settings = self.settings.vendor(vendor)
            if connector is None:
                self._clients[vendor] = None
            else:
                http = self.http_factory(vendor) if self.http_factory else connector.http_client(settings)
                client = connector.client(settings, http)
                client.throttle = Throttle.for_vendor(vendor, settings.requests_per_minute, settings.max_concurrency)
                client.on_rate_limited = lambda wait, v=vendor: self.store.pause_vendor(v, self.clock() + wait)
                self._clients[vendor] = client
        return self._clients[vendor]


def worker_pool(store: Store, plugins: Plugins, directory: Any, count: int) -> list[Worker]:
    """The workers of one process: each its own (thread and database connection), all sharing the
    process's look-up cache."""
    lookups = Lookups(ttl_seconds=plugins.settings.lookup_ttl_seconds)
    return [Worker(store, plugins, directory, lookups=lookups, prunes=i == 0) for i in range(count)]


def worker_threads(store: Store, plugins: Plugins, directory: Any, count: int,
                   stop: threading.Event) -> list[threading.Thread]:
    """A thread (not started) running each worker of :func:`worker_pool` until ``stop`` is set."""
    return [threading.Thread(target=worker.run, args=(stop,), name=f"worker-{i}")
            for i, worker in enumerate(worker_pool(store, plugins, directory, count))]


def _ids(rows: list[OutboxRow]) -> str:
    return ",".join(str(row.id) for row in rows)


def _describe(exc: BaseException) -> str:
    """What failed, for the dead-letter list: a validation error names fields and problems, never values."""
    if isinstance(exc, ValidationError):
        return f"ValidationError: {problems(exc)}"
    return f"{exc.__class__.__name__}: {exc}{_raised_at(exc)}"


def _raised_at(exc: BaseException) -> str:
    """Where ``exc`` was raised, for whoever fixes it: `` (at rules/sla.py:120 in deadlines)``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    path = frame.filename.replace(os.sep, "/").rsplit("/", 2)
    return f" (at {'/'.join(path[-2:])}:{frame.lineno} in {frame.name})"


HOST = socket.gethostname()[:32]
ORPHAN_CHECK_SECONDS = 5.0
SLOW_ANSWER_SECONDS = 0.005  # ten times a request's own CPU here: from this on, sends mostly wait
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCHES = 4  # of retention.BATCH rows, per step of a worker
PRUNE_BACKLOG_SECONDS = 1.0


def orphaned(owner: str) -> bool:
    """A lease holder on this host whose process has exited (a pid now reused counts as alive: it waits)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_for(settings) -> float:
    """Longer than any vendor client's whole in-process retry budget, so no lease expires mid-send."""
    budgets = [(v.max_retries + 1) * (v.timeout_seconds + MAX_INLINE_WAIT) for v in settings.vendors.values()]
    return max([60.0, *budgets]) + 30.0


def _cause(exc: VendorError) -> str:
    """Status or exception class and the vendor's own error text, bounded (vendors echo no ticket text)."""
    return f"{exc.__class__.__name__} {exc.status or ''}".strip() + f": {str(exc)[:300]}"


def _backoff(attempt: int) -> float:
    """Seconds before a write's next attempt: the outbox's tenacity policy (vendorapi.OUTBOX_BACKOFF)."""
    return outbox_wait(attempt)
