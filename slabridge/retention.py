"""Retention: finished work is deleted once it is old enough, so the store stays the size of its window.

Decided webhooks (their stored events hold ticket text), sent or dropped write-backs and fired
timers go ``retention_days`` after they finished; the audit rows of decisions (rule, clause,
inputs, actions: what the console's ticket timeline shows) ``audit_retention_days`` after they
were made. Pending, sending and dead rows are never deleted: they are work still to do or an
operator's to see. Ticket states, the incident ledger and planned events are kept: reports,
balances and the next decision read them.

Rows go oldest first (by id, which follows arrival), a batch per transaction, so a receiver
waiting for SQLite's single writer never waits behind a long delete. A walk stops at the first
batch with nothing old enough in it: the work is the rows deleted, not the rows kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from .store import Store, audit, inbox, outbox, timers

DAY = 86_400.0
BATCH = 500


@dataclass(frozen=True)
class Prunable:
    """One kind of finished row: its table, the statuses that mean finished, and when it finished."""

    name: str
    table: sa.Table
    statuses: tuple[str | None, ...]  # None: every row (the audit has no status)
    finished_at: Any  # column expression
    setting: str  # the Settings field giving its retention in days
    by_finish: bool = False  # an index orders the finished rows by ``finished_at`` (else walked by id)


KINDS = (
    Prunable("events", inbox, ("done", "dropped"),
             sa.func.coalesce(inbox.c.processed_at, inbox.c.received_at), "retention_days"),
    Prunable("writes", outbox, ("done", "dropped"),
             sa.func.coalesce(outbox.c.done_at, outbox.c.created_at), "retention_days"),
    Prunable("timers", timers, ("fired",), timers.c.fire_at, "retention_days", by_finish=True),
    Prunable("decisions", audit, (None,), audit.c.at, "audit_retention_days"),
)


def cutoffs(settings: Any, now: float) -> dict[str, float]:
    """Per kind, the instant (epoch seconds) before which a finished row goes; kinds kept forever are absent."""
    found = {}
    for kind in KINDS:
        days = getattr(settings, kind.setting)
        if days != "forever":
            found[kind.name] = now - float(days) * DAY
    return found


class Pruned(NamedTuple):
    gone: dict[str, int]  # rows deleted (or, in a dry run, that would be) per kind
    complete: bool  # False where ``max_batches`` stopped the walk: more may be old enough


def prune(store: Store, settings: Any, now: float, max_batches: int | None = None, batch: int | None = None,
          dry_run: bool = False) -> Pruned:
    """Delete finished rows past their retention, ``batch`` rows per transaction.

    ``max_batches`` bounds the work of one call (the worker's), which then reports itself incomplete.
    """
    limits, batch = cutoffs(settings, now), batch or BATCH
    gone = {kind.name: 0 for kind in KINDS if kind.name in limits}
    spent = 0
    for kind in KINDS:
        if kind.name not in limits:
            continue
        for status in kind.statuses:
            if dry_run and kind.by_finish:
                gone[kind.name] += _count(store, kind, status, limits[kind.name])
                continue
            walk = _by_finish if kind.by_finish else _by_arrival
            for ids in walk(store, kind, status, limits[kind.name], batch):
                if dry_run:
                    gone[kind.name] += len(ids)
                else:  # another worker process may have deleted some of them meanwhile
                    with store.engine.begin() as conn:
                        gone[kind.name] += conn.execute(kind.table.delete().where(kind.table.c.id.in_(ids))).rowcount
                spent += 1
                if max_batches is not None and spent >= max_batches:
                    return Pruned(gone, complete=False)
    return Pruned(gone, complete=True)


def _of(kind: Prunable, status: str | None, query: sa.Select) -> sa.Select:
    return query if status is None else query.where(kind.table.c.status == status)


def _by_arrival(store: Store, kind: Prunable, status: str | None, cutoff: float,
                batch: int) -> Iterator[list[int]]:
    """Ids of finished rows older than ``cutoff``, a batch at a time, oldest first by id (the (status, id)
    index); ends at the first batch holding none (a row finished late, such as a dead letter retried, is
    passed over until it is old too)."""
    table = kind.table
    query = _of(kind, status, sa.select(table.c.id, kind.finished_at).order_by(table.c.id).limit(batch))
    last = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(query.where(table.c.id > last)).all()
        expired = [row_id for row_id, finished in rows if finished < cutoff]
        if not expired:
            return
        yield expired
        if len(rows) < batch:
            return
        last = rows[-1][0]


def _by_finish(store: Store, kind: Prunable, status: str | None, cutoff: float,
               batch: int) -> Iterator[list[int]]:
    """Ids of rows finished before ``cutoff``, read from an index in that order; each batch is deleted
    before the next is read."""
    table = kind.table
    query = _of(kind, status, sa.select(table.c.id).where(kind.finished_at < cutoff)
                .order_by(kind.finished_at).limit(batch))
    while True:
        with store.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        if not ids:
            return
        yield ids
        if len(ids) < batch:
            return


def _count(store: Store, kind: Prunable, status: str | None, cutoff: float) -> int:
    with store.engine.connect() as conn:
        return conn.execute(_of(kind, status, sa.select(sa.func.count()).select_from(kind.table)
                                .where(kind.finished_at < cutoff))).scalar_one()
