"""Compliance: met and breached per customer x severity x metric, and averages where promised."""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from datetime import datetime, timedelta
from collections.abc import Iterable
from typing import Any

from .clocks import Terms
from .engine import TicketClocks
from .rules.matching import calendars_for

log = logging.getLogger(__name__)

COLUMNS = ["customer", "severity", "metric", "window", "met", "breached", "open", "met_pct", "average", "commitment",
           "kind"]


PERIODS = ("week", "month")


def compliance(states: list[TicketClocks], directory, now: datetime, period: str | None = None) -> list[dict[str, Any]]:
    """One row per customer x severity x metric (x ``period``: week or month the cycle started in, in the
    contract's time zone), from each ticket's recorded clocks."""
    return rows(tally(states, directory, now, period))


def period_of(when: datetime, period: str) -> str:
    """'2026-W10' (ISO week) or '2026-03'."""
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{when.year}-{when.month:02d}"


def tally(states: Iterable[TicketClocks], directory, now: datetime,
          period: str | None = None) -> dict[tuple, dict[str, Any]]:
    """Counts and elapsed times per (customer, severity, metric, period or None, (commitment, arrival window)
    of an average target or None); tallies of disjoint tickets merge, in any order, to the same tally.

    An average is kept per commitment and window: a contract may promise ~2 h on average for daytime arrivals
    and ~8 h for nights and weekends, and one average over both, held against either, would be wrong; each row
    names its window. A per-ticket row shows its tickets' target (and window) where they share one, and none
    where it varies (an end-of-business-day target differs from cycle to cycle)."""
    groups: dict[tuple, dict[str, Any]] = {}
    uncounted: Counter[tuple[str, str]] = Counter()  # (contract, calendar it no longer has) -> cycles
    for state in states:
        customer = directory.customers.get(state.customer) if state.customer else None
        contract = directory.contract_for(customer)
        if contract is None:
            continue
        calendar_for = calendars_for(contract, customer)
        for metric, clock in state.clocks.items():
            summary = state.deadlines.get(metric) or {}  # none once withdrawn: its cycles keep their terms
            latest = None if summary.get("target_seconds") is None else Terms(
                target_seconds=summary["target_seconds"], calendar=summary["calendar"],
                average=bool(summary.get("average")), level=state.memory.get("level"), window=summary.get("window"))
            if latest is not None and not period:
                _row(groups, state.customer, metric, None, latest)  # a row even before a cycle ends
            for index, cycle in enumerate(clock.cycles):
                terms = clock.terms_of(index) or latest  # cycles recorded before terms were kept: the latest
                if terms is None:
                    continue
                if terms.calendar not in contract.calendars:  # renamed or removed since: it cannot be judged
                    uncounted[(contract.id, terms.calendar)] += 1
                    continue
                target = timedelta(seconds=terms.target_seconds)
                outcome = clock.outcome(cycle, calendar_for(terms.calendar), target, now)
                started = outcome.started_at.astimezone(contract.dates_zone)  # the contract's days, not UTC's
                row = _row(groups, state.customer, metric, period_of(started, period) if period else None, terms)
                if outcome.breached:
                    row["breached"] += 1
                elif outcome.stopped_at is None:
                    row["open"] += 1
                else:
                    row["met"] += 1
                if outcome.stopped_at is not None:
                    row["elapsed"].append(outcome.elapsed)
    for (contract_id, calendar), cycles in sorted(uncounted.items()):
        log.warning("%s cycle(s) ran under calendar %r, which contract %s no longer has: left out of the report "
                    "(give the calendar that name again to count them)", cycles, calendar, contract_id)
    return groups


def merge(tallies: list[dict[tuple, dict[str, Any]]]) -> dict[tuple, dict[str, Any]]:
    """One tally from several (e.g. replay shards)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for groups in tallies:
        for key, row in groups.items():
            into = merged.setdefault(key, _empty_row())
            for count in ("met", "breached", "open"):
                into[count] += row[count]
            into["elapsed"] += row["elapsed"]
            into["commitments"] |= row["commitments"]
            into["windows"] |= row["windows"]
    return merged


def rows(groups: dict[tuple, dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's rows from a tally, sorted by customer, severity, metric."""
    out = []
    for key, row in sorted(groups.items(), key=_order):
        customer, severity, metric, period, average_of = key
        closed = row["met"] + row["breached"]
        average = sum(row["elapsed"], timedelta()) / len(row["elapsed"]) if row["elapsed"] else None
        commitment = next(iter(row["commitments"])) if len(row["commitments"]) == 1 else None
        window = next(iter(row["windows"])) if len(row["windows"]) == 1 else None
        out.append({
            **({"period": period} if period is not None else {}),
            "customer": customer, "severity": severity, "metric": metric, "window": window, "met": row["met"],
            "breached": row["breached"], "open": row["open"],
            "met_pct": round(100 * row["met"] / closed, 1) if closed else None,
            "average": _minutes(average), "commitment": _minutes(commitment),
            "kind": "average" if average_of is not None else "per ticket",
            "average_met": (average <= commitment) if average is not None and average_of is not None else None,
        })
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV, with a ``period`` column first when they have one."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=(["period"] if rows and "period" in rows[0] else []) + COLUMNS
                            + ["average_met"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _row(groups: dict[tuple, dict[str, Any]], customer: str | None, metric: str, period: str | None,
         terms: Terms) -> dict[str, Any]:
    """The row of a cycle held to ``terms``: by customer, severity, metric, period, and commitment and window if an
    average."""
    target = timedelta(seconds=terms.target_seconds)
    row = groups.setdefault((customer, terms.level, metric, period, (target, terms.window) if terms.average else None),
                            _empty_row())
    row["commitments"].add(target)
    row["windows"].add(terms.window)
    return row


def _order(item: tuple[tuple, dict[str, Any]]) -> tuple:
    """Rows by customer, severity, metric and period, then commitment and window."""
    key = item[0]
    commitment, window = key[4] or (timedelta(0), None)
    return (*(str(k) for k in key[:4]), commitment, window or "")


def _empty_row() -> dict[str, Any]:
    return {"met": 0, "breached": 0, "open": 0, "elapsed": [], "commitments": set(), "windows": set()}


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)
