"""A slow, obviously-correct reference for business calendars (for tests and benchmarks).

It shares no compilation code with :mod:`slabridge.calendar`: it asks, one
minute at a time, whether the local schedule says "open" under the documented
rules (wall-clock boundaries resolved with fold=0, holidays close the local
day) and counts. Use it only with schedules, instants and durations on whole
minutes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..calendar import CalendarSpec, day_range, parse_interval, parse_span

MINUTE = timedelta(minutes=1)


class Oracle:
    def __init__(self, spec: CalendarSpec | dict, max_days: int = 400):
        spec = spec if isinstance(spec, CalendarSpec) else CalendarSpec.model_validate(spec)
        self.tz = ZoneInfo(spec.timezone)
        self.max_minutes = max_days * 1440
        self.by_day: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
        for key, intervals in spec.weekly.items():
            for day in day_range(key):
                self.by_day[day].extend(parse_interval(t) for t in intervals)
        for start_day, start, end_day, end in (parse_span(s) for s in spec.spans):
            length = ((end_day - start_day) % 7) * 86400 + end - start
            self.by_day[start_day].append((start, start + (length if length > 0 else length + 7 * 86400)))
        self.holidays = set(spec.holidays.dates)
        self.country = spec.holidays
        self._years: set[int] = set()

    def _holiday(self, day: date) -> bool:
        if self.country.country and day.year not in self._years:
            import holidays

            skip = {n.lower() for n in self.country.except_names}
            found = holidays.country_holidays(self.country.country, subdiv=self.country.subdivision, years=day.year)
            self.holidays |= {d for d, n in found.items() if not any(p.strip().lower() in skip for p in n.split(";"))}
            self._years.add(day.year)
        return day in self.holidays

    def open(self, t: datetime) -> bool:
        local_day = t.astimezone(self.tz).date()
        if self._holiday(local_day):
            return False
        stamp = t.timestamp()
        for back in range(8):
            day = local_day - timedelta(days=back)
            midnight = datetime.combine(day, time(0), tzinfo=self.tz)
            for start, end in self.by_day[day.weekday()]:
                if (midnight + timedelta(seconds=start)).timestamp() <= stamp < (
                        midnight + timedelta(seconds=end)).timestamp():
                    return True
        return False

    def add(self, start: datetime, minutes: int, paused=()) -> datetime:
        # Step in UTC: adding minutes to a zone-aware datetime is wall-clock
        # arithmetic in Python and would count the hour a spring-forward skips.
        t = start.astimezone(timezone.utc)
        for _ in range(self.max_minutes):
            running = self.open(t) and not any(a <= t < b for a, b in paused)
            if minutes == 0 and running:
                return t
            if running:
                minutes -= 1
            t += MINUTE
            if minutes == 0 and running:  # the last minute was just counted
                return t
        raise AssertionError("the oracle found no answer within its horizon")

    def between(self, a: datetime, b: datetime, paused=()) -> int:
        count, t = 0, a.astimezone(timezone.utc)
        while t < b:
            if self.open(t) and not any(p <= t < q for p, q in paused):
                count += 1
            t += MINUTE
        return count
