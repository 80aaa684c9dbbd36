"""``slabridge calendar``: when would this be due? how much business time is this?"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click
from pydantic import ValidationError

from .. import yamlfile
from ..calendar import Calendar, CalendarError, CalendarSpec, compile_calendar, parse_duration
from ..timeparse import EARLIEST, LATEST, OUT_OF_RANGE

def load_calendar(path: str, name: str | None) -> Calendar:
    """A calendar from a YAML file: the file itself, or one entry of its ``calendars:`` map."""
    try:
        data, lines = yamlfile.load(path)
    except yamlfile.FileProblem as exc:
        raise click.ClickException(str(exc)) from None
    prefix: tuple = ()
    if isinstance(data, dict) and "calendars" in data:
        names = list(data["calendars"] or {})
        if name is None and len(names) == 1:
            name = names[0]
        if name not in names:
            raise click.ClickException(f"{path}: choose a calendar with --name: {', '.join(names) or 'none defined'}")
        data, prefix = data["calendars"][name], ("calendars", name)
    try:
        return compile_calendar(CalendarSpec.model_validate(data))
    except ValidationError as exc:
        raise click.ClickException("\n".join(yamlfile.problems(path, exc, lines, prefix))) from None


def _instant(value: str, option: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO-8601 (e.g. 2026-03-06T16:00-07:00)", param_hint=option) from None
    if not EARLIEST.year <= instant.year < LATEST.year:  # by its year: without an offset it is the calendar's time
        raise click.BadParameter(f"{value!r} is {OUT_OF_RANGE}", param_hint=option)
    return instant


def _pauses(values: tuple[str, ...]) -> list[tuple[datetime, datetime]]:
    out = []
    for value in values:
        start, sep, end = value.partition("/")
        if not sep:
            raise click.BadParameter(f"{value!r}: expected START/END", param_hint="--pause")
        began, ended = _instant(start, "--pause"), _instant(end, "--pause")
        if ended < began:
            raise click.BadParameter(f"{value!r}: the pause ends before it starts", param_hint="--pause")
        out.append((began, ended))
    return out


def human(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return " ".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


calendar_file = click.option("--calendar", "path", required=True, type=click.Path(dir_okay=False),
                             help="YAML calendar, or a contract file with a calendars: map.")
calendar_name = click.option("--name", default=None, help="Which entry of a calendars: map.")
pause_option = click.option("--pause", "pauses", multiple=True, metavar="START/END",
                            help="A span when the clock was paused (repeatable).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("calendar")
def calendar_group() -> None:
    """Ask a business calendar: due times and business durations."""


@calendar_group.command("add")
@calendar_file
@calendar_name
@click.option("--start", required=True, help="ISO-8601 instant; without an offset, the calendar's local time.")
@click.option("--duration", required=True, help="Business time: 30m, 4h, 1h30m, 90s.")
@pause_option
@json_option
def add_command(path, name, start, duration, pauses, as_json) -> None:
    """Print when DURATION of business time after START is due."""
    calendar = load_calendar(path, name)
    try:
        length = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    began = _instant(start, "--start")
    try:
        due = calendar.add(began, length, pauses=_pauses(pauses))
    except (CalendarError, OverflowError, ValueError) as exc:
        raise click.ClickException(f"cannot add {duration} to {start}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"start": began.isoformat(), "duration_seconds": length.total_seconds(),
                               "due": due.isoformat(), "timezone": calendar.spec.timezone}))
    else:
        click.echo(due.isoformat())


@calendar_group.command("between")
@calendar_file
@calendar_name
@click.option("--start", required=True)
@click.option("--end", required=True)
@pause_option
@json_option
def between_command(path, name, start, end, pauses, as_json) -> None:
    """Print the business time from START to END (0 if END is not after START)."""
    calendar = load_calendar(path, name)
    a, b = _instant(start, "--start"), _instant(end, "--end")
    try:
        duration = calendar.between(a, b, pauses=_pauses(pauses))
    except (CalendarError, OverflowError, ValueError) as exc:
        raise click.ClickException(f"cannot measure {start} to {end}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"start": a.isoformat(), "end": b.isoformat(),
                               "business_seconds": duration.total_seconds(), "human": human(duration)}))
    else:
        click.echo(f"{human(duration)} ({int(duration.total_seconds())} s)")
