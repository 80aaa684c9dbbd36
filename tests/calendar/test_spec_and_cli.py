"""Calendar definitions: validation messages, holidays, windows, spans, and the CLI."""

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from slabridge.calendar import CalendarSpec, compile_calendar, parse_duration
from slabridge.cli import main


def errors(spec) -> list[str]:
    with pytest.raises(ValidationError) as info:
        CalendarSpec.model_validate(spec)
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]


def test_validation_names_the_key_and_the_reason():
    found = errors({"timezone": "Nowhere/City", "weekly": {"mun": ["09:00-17:00"], "tue": ["9-5"]}})
    assert any(e.startswith("timezone:") and "unknown IANA time zone 'Nowhere/City'" in e for e in found)
    assert any(e.startswith("weekly.mun.[key]:") and "unknown day 'mun'" in e for e in found)
    assert any(e.startswith("weekly.tue.0:") and "expected HH:MM-HH:MM" in e for e in found)


def test_never_open_calendar_is_refused():
    assert any("never open" in e for e in errors({"timezone": "UTC", "weekly": {}}))


def test_empty_interval_and_bad_minutes():
    assert any("a whole day is 00:00-24:00" in e for e in errors({"timezone": "UTC", "weekly": {"mon": ["09:00-09:00"]}}))
    assert any("bad time" in e for e in errors({"timezone": "UTC", "weekly": {"mon": ["09:61-10:00"]}}))


def test_regional_holidays_and_named_exceptions():
    spec = {"timezone": "America/Denver", "weekly": {"mon-fri": ["07:00-18:00"]},
            "holidays": {"country": "US", "subdivision": "CO", "except": ["Cesar Chavez Day"]}}
    cal = compile_calendar(spec)
    assert not cal.is_open(datetime(2026, 7, 3, 10))  # Independence Day (observed)
    assert cal.is_open(datetime(2026, 3, 31, 10))  # Cesar Chavez Day (Colorado) was excepted
    plain = compile_calendar({**spec, "holidays": {"country": "US", "subdivision": "CO"}})
    assert not plain.is_open(datetime(2026, 3, 31, 10))


def test_region_of_the_customer_replaces_the_calendars():
    base = CalendarSpec.model_validate({"timezone": "America/New_York", "weekly": {"mon-fri": ["09:00-17:00"]},
                                        "holidays": {"country": "US"}})
    quebec = compile_calendar(base.for_region("CA", "QC"))
    assert not quebec.is_open(datetime(2026, 6, 24, 10))  # Fête nationale du Québec
    assert compile_calendar(base).is_open(datetime(2026, 6, 24, 10))


def test_bad_region_is_refused():
    assert any("no country 'XX'" in e for e in errors({"timezone": "UTC", "weekly": {"mon": ["09:00-17:00"]},
                                                       "holidays": {"country": "XX"}}))


def test_continuous_span_across_days():
    cal = compile_calendar({"timezone": "UTC", "spans": ["mon 08:00 - fri 16:00"]})
    monday = datetime(2026, 3, 2, 8)
    assert cal.between(monday, monday + timedelta(days=7)) == timedelta(hours=4 * 24 + 8)
    assert cal.is_open(datetime(2026, 3, 4, 3)) and not cal.is_open(datetime(2026, 3, 7, 3))


def test_named_windows():
    cal = compile_calendar({"timezone": "America/Denver", "weekly": {"mon-fri": ["07:00-18:00"]},
                            "windows": {"maintenance": {"weekly": {"daily": ["19:00-04:00"]}},
                                        "weekend": {"weekly": {"sat-sun": ["00:00-24:00"]}}}})
    assert cal.window_at(datetime(2026, 3, 4, 2)) == "maintenance"
    assert cal.window_at(datetime(2026, 3, 4, 12)) is None
    assert cal.window_at(datetime(2026, 3, 7, 12)) == "weekend"
    assert cal.window_at(datetime(2026, 3, 7, 20)) == "maintenance"  # first declared wins


def test_holiday_closes_the_part_of_an_overnight_shift_on_that_day():
    cal = compile_calendar({"timezone": "UTC", "weekly": {"daily": ["22:00-06:00"]}, "holidays": ["2026-03-03"]})
    assert cal.between(datetime(2026, 3, 2, 12), datetime(2026, 3, 3, 12)) == timedelta(hours=2)


def test_far_future_and_past_instants_compile_on_demand():
    cal = compile_calendar({"timezone": "UTC", "weekly": {"mon-fri": ["09:00-17:00"]}})
    assert cal.add(datetime(2031, 1, 6, 9), timedelta(hours=8)) == datetime.fromisoformat("2031-01-06T17:00+00:00")
    year = cal.add(datetime(2019, 1, 7, 9), timedelta(hours=8 * 5 * 52))  # 52 full weeks
    assert year == datetime.fromisoformat("2020-01-03T17:00+00:00")


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("4h", 14400), ("1h30m", 5400), ("90s", 90), ("120", 120)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_parse_duration_refuses_nonsense():
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("4 hours")


@pytest.fixture
def calendar_file(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text("timezone: America/Denver\nweekly:\n  mon-fri: ['07:00-18:00']\nholidays: {country: US}\n")
    return str(path)


def cli(*args):
    return CliRunner().invoke(main, ["calendar", *args])


def test_cli_add(calendar_file):
    result = cli("add", "--calendar", calendar_file, "--start", "2026-03-06T16:00-07:00", "--duration", "4h")
    assert result.output.strip() == "2026-03-09T09:00:00-06:00"


def test_cli_add_json_with_pause(calendar_file):
    result = cli("add", "--calendar", calendar_file, "--start", "2026-03-06T16:00-07:00", "--duration", "4h",
                 "--pause", "2026-03-09T07:00-06:00/2026-03-09T08:00-06:00", "--json")
    assert json.loads(result.output)["due"] == "2026-03-09T10:00:00-06:00"


def test_cli_between(calendar_file):
    result = cli("between", "--calendar", calendar_file, "--start", "2026-03-06T16:00-07:00",
                 "--end", "2026-03-09T09:00-06:00", "--json")
    assert json.loads(result.output)["business_seconds"] == 4 * 3600


def test_cli_reads_a_named_calendar_from_a_contract_file(tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text("calendars:\n  business: {timezone: UTC, weekly: {mon-fri: ['09:00-17:00']}}\n"
                    "  always: {timezone: UTC, weekly: {daily: ['00:00-24:00']}}\n")
    result = cli("add", "--calendar", str(path), "--name", "always", "--start", "2026-03-07T10:00Z", "--duration", "2h")
    assert result.output.strip() == "2026-03-07T12:00:00+00:00"
    missing = cli("add", "--calendar", str(path), "--start", "2026-03-07T10:00Z", "--duration", "2h")
    assert missing.exit_code == 1 and "choose a calendar with --name: business, always" in missing.output


def test_cli_errors_say_file_line_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("timezone: UTC\nweekly:\n  mon: ['09:00-17:00']\n  tue: ['9 to 5']\n")
    result = cli("add", "--calendar", str(path), "--start", "2026-03-02T10:00Z", "--duration", "1h")
    assert result.exit_code == 1
    assert f"{path}:4: weekly.tue.0: bad interval '9 to 5': expected HH:MM-HH:MM" in result.output
    assert "Traceback" not in result.output


def test_cli_bad_start_and_missing_file(calendar_file, tmp_path):
    bad = cli("add", "--calendar", calendar_file, "--start", "tomorrow", "--duration", "1h")
    assert bad.exit_code == 2 and "not ISO-8601" in bad.output
    gone = cli("add", "--calendar", str(tmp_path / "none.yaml"), "--start", "2026-03-02T10:00Z", "--duration", "1h")
    assert gone.exit_code == 1 and "file not found" in gone.output


@pytest.mark.parametrize("args, message", [
    (["--start", "9999-12-31T16:00", "--duration", "4h"], "outside the instants slabridge computes with"),
    (["--start", "0001-01-01T16:00", "--duration", "4h"], "outside the instants slabridge computes with (1970"),
    (["--start", "1969-12-31T16:00", "--duration", "4h"], "outside the instants slabridge computes with (1970"),
    (["--start", "2026-03-02T10:00", "--duration", "1000000h"], "more than 3650 days"),
    (["--start", "2026-03-02T10:00", "--duration", "99999999999999999999h"], "more than 3650 days"),
    (["--start", "2026-03-02T10:00", "--duration", "99999999999999999999"], "more than 3650 days"),
])
def test_cli_bad_inputs_are_usage_errors_never_tracebacks(calendar_file, args, message):
    result = cli("add", "--calendar", calendar_file, *args)
    assert result.exit_code == 2 and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_between_the_whole_supported_range_answers(calendar_file):
    result = cli("between", "--calendar", calendar_file, "--start", "1970-01-01T00:00", "--end", "2199-12-31T23:00")
    assert result.exit_code == 0 and " s)" in result.output
