"""Prepaid incidents: what an appointment costs, and a customer's balance with yearly rollover."""

from __future__ import annotations

import math
from datetime import date, datetime, time, tzinfo
from typing import Any

from slabridge.contract import AppointmentCharge, Billing


def appointment_minutes(value: Any) -> int | None:
    """An appointment's length from the field agents set: whole minutes (``91``), a number field's value (91.5 is
    92), or a label and the minutes (``2:45``) for a ticket's further appointments; None if it holds no length
    above zero (``1h30``, ``ninety``, ``0``, a list)."""
    if isinstance(value, str):
        try:
            value = float(value.rpartition(":")[2])
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return None
    return math.ceil(value)


def appointment_label(value: Any) -> str:
    """Which of a ticket's appointments a value of the field is about: the label before the minutes (``2`` of
    ``2:45``), or ``""`` for plain minutes (the ticket's first appointment)."""
    return value.rpartition(":")[0].strip() if isinstance(value, str) else ""


def appointment_cost(minutes: int, charge: AppointmentCharge) -> int:
    """2 for the first hour, then 1 per further 30 minutes or part: 60 -> 2, 61 -> 3, 90 -> 3, 91 -> 4."""
    extra = max(0, minutes - charge.first_minutes)
    return charge.first_incidents + math.ceil(extra / charge.then_minutes) * charge.then_incidents


def _anniversary(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def balance(opening: int, year_start: date, billing: Billing, entries: list[tuple[float, int, str]],
            now: datetime, zone: tzinfo) -> tuple[int, list[dict]]:
    """The balance now and its history: each ledger movement, and each yearly rollover cap applied. The contract
    year begins at midnight in ``zone`` (the contract's :attr:`~slabridge.contract.Contract.dates_zone`)."""
    history: list[dict] = []
    return _fold(opening, year_start, billing, entries, now, zone, history), history


def balance_now(opening: int, year_start: date, billing: Billing, entries: list[tuple[float, int, str]],
                now: datetime, zone: tzinfo) -> int:
    """The balance now alone, as :func:`balance` counts it, without writing out a line per movement (~1.7 µs
    each): what the entitlement check of a ticket not yet charged asks, and every replayed decision of a
    billed customer, over the customer's whole ledger."""
    return _fold(opening, year_start, billing, entries, now, zone, None)


def _fold(opening: int, year_start: date, billing: Billing, entries: list[tuple[float, int, str]],
          now: datetime, zone: tzinfo, history: list[dict] | None) -> int:
    """Add up ``entries`` (oldest first), capping the balance at each contract anniversary passed; each
    movement and cap is appended to ``history`` where one is given."""
    current, years = opening, 1
    boundary = _anniversary(year_start, 1)
    edge = _midnight(boundary, zone)  # the anniversary as an instant: entries before it need no date worked out

    def roll_until(day: date) -> None:
        nonlocal current, years, boundary, edge
        while day >= boundary:
            kept = min(current, billing.rollover_cap) if billing.rollover_cap is not None else current
            if kept != current and history is not None:
                history.append({"at": boundary.isoformat(), "delta": kept - current,
                                "reason": f"contract year rollover: at most {billing.rollover_cap} unused incidents "
                                          f"carry over", "balance": kept})
            current, years = kept, years + 1
            boundary = _anniversary(year_start, years)
            edge = _midnight(boundary, zone)

    for at, delta, reason in entries:
        if at >= edge or history is not None:
            when = datetime.fromtimestamp(at, zone)
            roll_until(when.date())
        current += delta
        if history is not None:
            history.append({"at": when.isoformat(), "delta": delta, "reason": reason, "balance": current})
    roll_until(now.astimezone(zone).date())
    return current


def _midnight(day: date, zone: tzinfo) -> float:
    """The instant ``day`` begins in ``zone``, in seconds since the epoch."""
    return datetime.combine(day, time(), tzinfo=zone).timestamp()
