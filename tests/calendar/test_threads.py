"""A compiled calendar is shared by every worker thread of a process and compiled lazily, year by year.

A worker restarted under load decides its first batch on several threads at once, each widening the
same cold calendar. Half-replaced interval lists made one thread's due time wrong or raise IndexError
(seen as a failed decision, then retried).
"""

from datetime import datetime, timedelta, timezone

from slabridge.calendar import Calendar, CalendarSpec
from slabridge.testing.threads import at_once

SPEC = CalendarSpec.model_validate({"timezone": "America/Denver", "weekly": {"mon-fri": ["08:00-17:00"]},
                                    "holidays": {"country": "US", "subdivision": "CO"}})
# Instants years apart and long durations: nearly every query makes some thread compile a wider span.
QUERIES = [(datetime(year, month, 3, 15, tzinfo=timezone.utc), timedelta(hours=hours))
           for year in range(2018, 2040, 3) for month in (1, 7) for hours in (5, 2_500, 9_000)]


def ask(calendar: Calendar, queries) -> list:
    return [(calendar.add(start, duration), calendar.between(start, start + duration * 3),
             calendar.is_open(start), calendar.closing_after(start)) for start, duration in queries]


def test_threads_widening_one_cold_calendar_all_get_the_answers_one_thread_gets(frequent_switches):
    expected = ask(Calendar(SPEC), QUERIES)
    for round_ in range(3):
        calendar = Calendar(SPEC)
        # each thread starts its widening somewhere else
        answers = at_once(6, lambda index: ask(calendar, QUERIES[index:] + QUERIES[:index]))
        for index, got in enumerate(answers):
            assert got == expected[index:] + expected[:index], f"round {round_}, thread {index}"
