"""A compiled calendar is shared by every worker thread of a process and compiled lazily, year by year.

A worker restarted under load decides its first batch on several threads at once, each widening the
same cold calendar. Half-replaced interval lists made one thread's due time wrong or raise IndexError
(seen as a failed decision, then retried).
"""

import threading
from datetime import datetime, timedelta, timezone

from slabridge.calendar import Calendar, CalendarSpec

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
        calendar, answers, errors = Calendar(SPEC), {}, []
        start = threading.Barrier(6)

        def run(index: int) -> None:
            order = QUERIES[index:] + QUERIES[:index]  # each thread starts its widening somewhere else
            start.wait()
            try:
                answers[index] = ask(calendar, order)
            except Exception as exc:  # noqa: BLE001 - reported below, with the thread that raised it
                errors.append(f"thread {index}: {exc!r}")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"round {round_}"
        for index, got in answers.items():
            assert got == expected[index:] + expected[:index], f"round {round_}, thread {index}"
