"""Business calendars: exact, DST-correct business time in microseconds. Pure; no I/O.

A calendar is defined by data (:class:`CalendarSpec`, the same YAML contract
files use) and compiled into a sorted list of open intervals in UTC epoch
seconds with a running total of open seconds. ``add`` and ``between`` are then
two binary searches, whatever the duration.

Rules:

- Business time is real elapsed time inside open intervals; the schedule is
  local wall-clock time in the calendar's IANA zone.
- A boundary that does not exist (spring-forward gap) moves forward by the
  gap (02:30 becomes 03:30); an ambiguous one (fall-back) takes its first
  occurrence. So a 22:00–06:00 shift is 7 h or 9 h long on DST nights, and a
  24x7 calendar counts elapsed time.
- A holiday closes the whole local day, 00:00–24:00, including the part of an
  overnight shift that falls on it.
- A deadline that lands exactly on closing time stays there; adding zero to a
  closed instant gives the next opening; ``between`` never goes negative.
- Naive datetimes are read as wall time in the calendar's zone.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Annotated, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86_400
INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$")
SPAN = re.compile(r"^(\w{3})\s+(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\w{3})\s+(\d{1,2}:\d{2}(?::\d{2})?)$")
MAX_YEARS_AHEAD = 50
MAX_DURATION = timedelta(days=3650)  # ten years: longer is a typo, not a support target


class CalendarError(ValueError):
    """A calendar that cannot answer (for example: never open)."""


# --- the data format -------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolidaySpec(Strict):
    """Explicit dates plus, optionally, a regional set from the ``holidays`` package."""

    dates: tuple[date, ...] = ()
    country: str | None = None
    subdivision: str | None = None
    except_names: tuple[str, ...] = Field(default=(), alias="except")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _known_region(self) -> "HolidaySpec":
        if self.country:
            import holidays

            try:
                holidays.country_holidays(self.country, years=[2026])
            except NotImplementedError:
                raise ValueError(f"the holidays package has no country {self.country!r}") from None
            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision, years=[2026])
            except Exception:  # noqa: BLE001 - the package raises several kinds for a bad subdivision
                known = ", ".join(holidays.list_supported_countries().get(self.country, [])[:12])
                raise ValueError(f"{self.country} has no subdivision {self.subdivision!r} "
                                 f"(e.g. {known}, ...)") from None
        elif self.subdivision:
            raise ValueError("subdivision given without country")
        return self


def _checked(parse):
    def check(value: str) -> str:
        parse(value)
        return value
    return AfterValidator(check)


DayKey = Annotated[str, _checked(lambda v: day_range(v))]
IntervalText = Annotated[str, _checked(lambda v: parse_interval(v))]
SpanText = Annotated[str, _checked(lambda v: parse_span(v))]


class ScheduleSpec(Strict):
    """Weekly open hours: ``weekly`` per day (or day range) and whole-week ``spans``."""

    source: str | None = Field(default=None, description="the agreement text this encodes")
    reading: str | None = Field(default=None, description="how an ambiguous term was read")
    weekly: dict[DayKey, tuple[IntervalText, ...]] = Field(default_factory=dict)
    spans: tuple[SpanText, ...] = ()


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone; ValueError (for a contract file's problem list) if not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/Denver, UTC)") from None
    return value


class CalendarSpec(ScheduleSpec):
    """A business calendar: zone, weekly hours, holidays and named windows."""

    timezone: str
    holidays: HolidaySpec = Field(default_factory=HolidaySpec)
    windows: dict[str, ScheduleSpec] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("holidays", mode="before")
    @classmethod
    def _dates_shorthand(cls, value):
        return {"dates": value} if isinstance(value, (list, tuple)) else value

    @model_validator(mode="after")
    def _has_hours(self) -> "CalendarSpec":
        if not any(self.weekly.values()) and not self.spans:
            raise ValueError("the calendar is never open: give weekly hours or spans")
        return self

    def for_region(self, country: str, subdivision: str | None = None) -> "CalendarSpec":
        """This calendar with the holidays of another region (e.g. the customer's).

        The region is not re-checked here: the customers file validates it on load.
        """
        holidays = self.holidays.model_copy(update={"country": country, "subdivision": subdivision})
        return self.model_copy(update={"holidays": holidays})


def day_range(key: str) -> list[int]:
    """Weekday numbers for ``mon``, ``mon-fri``, ``fri-mon`` (wraps), ``daily``."""
    key = key.strip().lower()
    if key == "daily":
        return list(range(7))
    first, _, last = key.partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ValueError(f"unknown day {key!r}: use mon..sun, a range like mon-fri, or daily")
    a, b = DAYS.index(first), DAYS.index(last or first)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


def _seconds(h: str, m: str, s: str | None, text: str, allow_24: bool) -> int:
    hours, minutes, secs = int(h), int(m), int(s or 0)
    if minutes > 59 or secs > 59 or hours > 24 or (hours == 24 and (minutes or secs or not allow_24)):
        raise ValueError(f"bad time in {text!r}")
    return hours * 3600 + minutes * 60 + secs


def parse_interval(text: str) -> tuple[int, int]:
    """``"07:00-18:00"`` -> (25200, 64800) seconds from local midnight.

    An end at or before the start is the next morning (an overnight shift), so
    the end may exceed 86400; ``00:00-24:00`` is a whole day.
    """
    match = INTERVAL.match(text.strip())
    if not match:
        raise ValueError(f"bad interval {text!r}: expected HH:MM-HH:MM")
    start = _seconds(*match.group(1, 2, 3), text, allow_24=False)
    end = _seconds(*match.group(4, 5, 6), text, allow_24=True)
    if end == start:
        raise ValueError(f"empty interval {text!r} (a whole day is 00:00-24:00)")
    return start, end if end > start else end + DAY_SECONDS


def parse_span(text: str) -> tuple[int, int, int, int]:
    """``"mon 08:00 - fri 16:00"`` -> (start day, start second, end day, end second)."""
    match = SPAN.match(text.strip().lower())
    if not match or match[1] not in DAYS or match[3] not in DAYS:
        raise ValueError(f"bad span {text!r}: expected like 'mon 08:00 - fri 16:00'")
    start = _clock(match[2], text, allow_24=False)
    end = _clock(match[4], text, allow_24=True)
    return DAYS.index(match[1]), start, DAYS.index(match[3]), end


def _clock(value: str, text: str, allow_24: bool) -> int:
    h, m, *s = value.split(":")
    return _seconds(h, m, s[0] if s else None, text, allow_24)


# --- compiled calendars ---------------------------------------------------


class Span:
    """One compiled stretch of a schedule: its open intervals, in order, and the open seconds before each.

    Never changed once built: a wider stretch replaces it whole, so a thread that read one sees it
    consistent while another compiles (calendars are shared by every worker thread).
    """

    __slots__ = ("starts", "ends", "cum", "cum_end", "lo", "hi", "years")

    def __init__(self, starts: list[float], ends: list[float], cum: list[float], cum_end: list[float],
                 lo: float, hi: float, years: tuple[int, int] | None):
        self.starts, self.ends = starts, ends
        self.cum = cum  # open seconds before interval i
        self.cum_end = cum_end  # open seconds up to the end of interval i
        self.lo, self.hi, self.years = lo, hi, years

    def covers(self, t: float) -> bool:
        return self.lo <= t < self.hi

    def cum_at(self, t: float) -> float:
        """Open seconds from the span's start to ``t`` (which it covers)."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.cum[i] + (min(t, self.ends[i]) - self.starts[i])


class Schedule:
    """Open intervals of one weekly schedule, compiled on demand year by year.

    ``span`` is the stretch compiled so far; it only ever widens (under a lock, by replacing it), so
    an instant a span covers stays covered and a span read once is safe to use throughout a query.
    """

    def __init__(self, spec: ScheduleSpec, zone: ZoneInfo, holidays: HolidaySpec | None = None):
        self.tz = zone
        self._weekly: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for key, intervals in spec.weekly.items():
            for day in day_range(key):
                self._weekly[day].extend(parse_interval(t) for t in intervals)
        self._spans = [parse_span(t) for t in spec.spans]
        self._holiday_spec = holidays or HolidaySpec()
        self.span = Span([], [], [], [], 0.0, 0.0, None)
        self._compiling = threading.Lock()

    # -- compilation --

    def covering(self, t: float) -> Span:
        """The compiled span, widened first if it does not cover instant ``t``."""
        span = self.span
        if span.covers(t):
            return span
        with self._compiling:
            span = self.span
            if not span.covers(t):
                year = datetime.fromtimestamp(t, timezone.utc).year
                first, last = span.years or (year, year)
                span = self.span = self._compile(min(first, year - 1), max(last, year + 1))
        return span

    def extended(self, span: Span) -> Span:
        """A span reaching further ahead than ``span`` (two more years, unless another thread did it)."""
        with self._compiling:
            current = self.span
            if current.hi > span.hi:
                return current
            first, last = current.years
            if last - first > MAX_YEARS_AHEAD * 2:
                raise CalendarError(f"no due time within {MAX_YEARS_AHEAD} years: the calendar has too little (or "
                                    "no) open time for this duration")
            current = self.span = self._compile(first, last + 2)
            return current

    def _compile(self, first: int, last: int) -> Span:
        tz = self.tz
        begin = date(first, 1, 1) - timedelta(days=7)
        stop = date(last + 1, 1, 1)
        raw: list[tuple[float, float]] = []
        day = begin
        while day < stop:
            midnight = datetime.combine(day, time(0), tzinfo=tz)
            for start, end in self._weekly[day.weekday()]:
                raw.append(((midnight + timedelta(seconds=start)).timestamp(),
                            (midnight + timedelta(seconds=end)).timestamp()))
            for start_day, start, end_day, end in self._spans:
                if day.weekday() == start_day:
                    length = (end_day - start_day) % 7 * DAY_SECONDS + end - start
                    if length <= 0:
                        length += 7 * DAY_SECONDS
                    raw.append(((midnight + timedelta(seconds=start)).timestamp(),
                                (midnight + timedelta(seconds=start + length)).timestamp()))
            day += timedelta(days=1)
        merged = _merge(raw)
        closed = [((datetime.combine(d, time(0), tzinfo=tz)).timestamp(),
                   (datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz)).timestamp())
                  for d in sorted(self._holidays(first - 1, last + 1))]
        lo = datetime.combine(date(first, 1, 1), time(0), tzinfo=tz).timestamp()
        hi = datetime.combine(stop, time(0), tzinfo=tz).timestamp()
        intervals = [(max(s, lo), min(e, hi)) for s, e in _subtract(merged, _merge(closed)) if e > lo and s < hi]
        cum, cum_end, total = [], [], 0.0
        for s, e in intervals:
            cum.append(total)
            total += e - s
            cum_end.append(total)
        return Span([s for s, _ in intervals], [e for _, e in intervals], cum, cum_end, lo, hi, (first, last))

    def _holidays(self, first: int, last: int) -> set[date]:
        spec = self._holiday_spec
        days = set(spec.dates)
        if spec.country:
            import holidays

            regional = holidays.country_holidays(spec.country, subdiv=spec.subdivision, years=range(first, last + 1))
            skip = {n.lower() for n in spec.except_names}
            days |= {d for d, name in regional.items()
                     if not any(part.strip().lower() in skip for part in name.split(";"))}
        return days

    # -- queries on epoch seconds --

    def is_open_at(self, t: float) -> bool:
        span = self.covering(t)
        i = bisect_right(span.starts, t) - 1
        return i >= 0 and t < span.ends[i]


def _merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sort and join overlapping or touching intervals."""
    out: list[list[float]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _subtract(opens: list[tuple[float, float]], closed: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``opens`` minus ``closed``; both sorted and merged."""
    out, j = [], 0
    for s, e in opens:
        while j < len(closed) and closed[j][1] <= s:
            j += 1
        k, cur = j, s
        while k < len(closed) and closed[k][0] < e:
            if closed[k][0] > cur:
                out.append((cur, closed[k][0]))
            cur = max(cur, closed[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


Pause = tuple[datetime, datetime]


class Calendar(Schedule):
    """A compiled business calendar. Build with :func:`compile_calendar` to share compilations."""

    def __init__(self, spec: CalendarSpec):
        super().__init__(spec, ZoneInfo(spec.timezone), spec.holidays)
        self.spec = spec
        self.windows = {name: Schedule(w, self.tz) for name, w in spec.windows.items()}

    # -- epoch-level core (floats in, floats out) --

    def add_epoch(self, t: float, seconds: float) -> float:
        span = self.covering(t)
        if seconds <= 0:
            return self.next_open_epoch(t)
        target = span.cum_at(t) + seconds
        while target > span.cum_end[-1]:
            span = self.extended(span)
            target = span.cum_at(t) + seconds  # the same unless another thread compiled earlier years in
        i = bisect_left(span.cum_end, target)
        return span.starts[i] + (target - span.cum[i])

    def between_epoch(self, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        span = self.span
        if not (span.lo <= a and b < span.hi):
            self.covering(a)
            span = self.covering(b)  # spans only widen: it still covers a
        return span.cum_at(b) - span.cum_at(a)

    def next_open_epoch(self, t: float) -> float:
        span = self.covering(t)
        i = bisect_right(span.starts, t) - 1
        if i >= 0 and t < span.ends[i]:
            return t
        while i + 1 >= len(span.starts):
            span = self.extended(span)
            i = bisect_right(span.starts, t) - 1
        return span.starts[i + 1]

    # -- datetime API --

    def _epoch(self, when: datetime) -> float:
        return (when if when.tzinfo else when.replace(tzinfo=self.tz)).timestamp()

    def _local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def add(self, start: datetime, duration: timedelta | float, pauses: Iterable[Pause] = ()) -> datetime:
        """The instant ``duration`` of business time after ``start``, skipping ``pauses``."""
        seconds = duration.total_seconds() if type(duration) is timedelta else float(duration)
        t = start.timestamp() if start.tzinfo else self._epoch(start)
        if pauses:
            return self._local(self._add_with_pauses(t, seconds, self._pauses(pauses)))
        span = self.span
        if seconds <= 0 or not (span.lo <= t < span.hi):
            return self._local(self.add_epoch(t, seconds))
        # The hot path of add_epoch, inlined: two bisects and a datetime.
        starts, cum = span.starts, span.cum
        i = bisect_right(starts, t) - 1
        target = seconds + (cum[i] + (min(t, span.ends[i]) - starts[i]) if i >= 0 else 0.0)
        if target > span.cum_end[-1]:
            return self._local(self.add_epoch(t, seconds))
        j = bisect_left(span.cum_end, target)
        return datetime.fromtimestamp(starts[j] + (target - cum[j]), self.tz)

    def between(self, a: datetime, b: datetime, pauses: Iterable[Pause] = ()) -> timedelta:
        """Business time from ``a`` to ``b`` (0 if ``b`` is not after ``a``), less ``pauses``."""
        ta = a.timestamp() if a.tzinfo else self._epoch(a)
        tb = b.timestamp() if b.tzinfo else self._epoch(b)
        span = self.span
        if not pauses and span.lo <= ta < tb < span.hi:
            # The hot path of between_epoch, inlined.
            starts, ends, cum = span.starts, span.ends, span.cum
            i = bisect_right(starts, ta) - 1
            j = bisect_right(starts, tb, i if i > 0 else 0) - 1
            at_a = cum[i] + (min(ta, ends[i]) - starts[i]) if i >= 0 else 0.0
            at_b = cum[j] + (min(tb, ends[j]) - starts[j]) if j >= 0 else 0.0
            return timedelta(0, at_b - at_a)
        total = self.between_epoch(ta, tb)
        if not pauses:
            return timedelta(seconds=total)
        for ps, pe in self._pauses(pauses):
            total -= self.between_epoch(max(ps, ta), min(pe, tb))
        return timedelta(seconds=total)

    def is_open(self, when: datetime) -> bool:
        return self.is_open_at(self._epoch(when))

    def next_open(self, when: datetime) -> datetime:
        """``when`` itself if open, else the next opening."""
        return self._local(self.next_open_epoch(self._epoch(when)))

    def closing_after(self, when: datetime) -> datetime:
        """The end of the open interval containing ``when``, or of the next one: "end of business day"."""
        t = self.next_open_epoch(self._epoch(when))
        span = self.covering(t)
        return self._local(span.ends[bisect_right(span.starts, t) - 1])

    def window_at(self, when: datetime) -> str | None:
        """The first named window (in declaration order) containing ``when``, or None."""
        return _window_at(self, when)

    def _pauses(self, pauses: Iterable[Pause]) -> list[tuple[float, float]]:
        spans = []
        for ps, pe in pauses:
            a, b = self._epoch(ps), self._epoch(pe)
            if b < a:
                raise ValueError(f"pause ends ({pe.isoformat()}) before it starts ({ps.isoformat()})")
            spans.append((a, b))
        return _merge(spans)

    def _add_with_pauses(self, t: float, seconds: float, pauses: list[tuple[float, float]]) -> float:
        cur, remaining = t, seconds
        for ps, pe in pauses:
            if pe <= cur:
                continue
            if remaining <= 0:
                candidate = self.next_open_epoch(cur)
                if candidate < ps:
                    return candidate
            else:
                available = self.between_epoch(cur, ps)
                if available >= remaining:
                    return self.add_epoch(cur, remaining)
                remaining -= available
            cur = max(cur, pe)
        return self.add_epoch(cur, remaining)


@lru_cache(maxsize=256)
def _compiled(spec_json: str) -> Calendar:
    return Calendar(CalendarSpec.model_validate_json(spec_json))


def compile_calendar(spec: CalendarSpec | dict) -> Calendar:
    """A compiled calendar, shared between callers with the same definition."""
    spec = spec if isinstance(spec, CalendarSpec) else CalendarSpec.model_validate(spec)
    return _compiled(spec.model_dump_json(by_alias=True))


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"30m"``, ``"1h30m"``, ``"90s"``, ``"2d"`` (24-hour days of business time) or seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        text = f"{text}s"
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"bad duration {text!r}: use e.g. 30m, 4h, 1h30m, 90s")
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {text!r} is more than {MAX_DURATION.days} days: no SLA target is that long")
    return timedelta(seconds=seconds)


@lru_cache(maxsize=4096)
def _window_at(calendar: Calendar, when: datetime) -> str | None:
    """Remembered: a target's arrival window is asked of the same cycle start on each of its ticket's decisions."""
    t = calendar._epoch(when)
    return next((name for name, window in calendar.windows.items() if window.is_open_at(t)), None)
