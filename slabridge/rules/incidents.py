"""Prepaid incidents: what an appointment costs, and a customer's balance with yearly rollover."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

from slabridge.contract import AppointmentCharge, Billing


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
            now: datetime) -> tuple[int, list[dict]]:
    """The balance now and its history: each ledger movement, and each yearly rollover cap applied."""
    history, current, years = [], opening, 1
    boundary = _anniversary(year_start, 1)

    def roll_until(day: date) -> None:
        nonlocal current, years, boundary
        while day >= boundary:
            kept = min(current, billing.rollover_cap) if billing.rollover_cap is not None else current
            if kept != current:
                history.append({"at": boundary.isoformat(), "delta": kept - current,
                                "reason": f"contract year rollover: at most {billing.rollover_cap} unused incidents "
                                          f"carry over", "balance": kept})
            current, years = kept, years + 1
            boundary = _anniversary(year_start, years)

    for at, delta, reason in entries:
        when = datetime.fromtimestamp(at, timezone.utc)
        roll_until(when.date())
        current += delta
        history.append({"at": when.isoformat(), "delta": delta, "reason": reason, "balance": current})
    roll_until(now.date())
    return current, history
