"""The compliance report: an average is held against its own commitment, and tallies merge in any order."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

from slabridge import report
from slabridge.clocks import Terms
from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]
DAY = datetime.fromisoformat("2026-03-10T10:00:00-04:00")  # a Tuesday, 10:00 in New York: daytime arrival
NIGHT = datetime.fromisoformat("2026-03-10T23:30:00-04:00")  # 23:30: a night-and-weekend arrival


def answered(ticket: str, at: datetime, after: timedelta) -> list[TicketEvent]:
    """A contoso-billing ticket (InfraWare: ~2 h average by day, ~8 h by night) and support's reply."""
    common = dict(vendor="freshdesk", ticket=TicketRef(vendor="freshdesk", id=ticket),
                  requester=Person(email="morgan@contoso.example"), organization=Organization(id="812"),
                  priority="2", status="open", description="Invoices do not export.", created_at=at)
    reply = Comment(public=True, body="We are on it.", author=Actor(id="agent-7", is_agent=True))
    return [TicketEvent(delivery_id=f"{ticket}-1", kind=EventKind.created, occurred_at=at, **common),
            TicketEvent(delivery_id=f"{ticket}-2", kind=EventKind.comment, occurred_at=at + after, comment=reply,
                        **common)]


def tally_of(*tickets: list[TicketEvent]) -> tuple[dict, object]:
    directory = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0]
    simulation = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    for event in sorted((e for t in tickets for e in t), key=lambda e: e.occurred_at):
        simulation.feed(event)
    return report.tally(simulation.states.values(), directory, DAY + timedelta(days=3)), directory


def response_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["customer"] == "contoso-billing" and r["metric"] == "response"]


def test_each_average_commitment_has_its_own_row_and_average():
    tally, _ = tally_of(answered("D1", DAY, timedelta(hours=1)), answered("N1", NIGHT, timedelta(hours=9)))
    rows = response_rows(report.rows(tally))
    assert [(r["commitment"], r["window"], r["kind"], r["met"] + r["breached"]) for r in rows] == [
        (120.0, "eastern.daytime", "average", 1), (480.0, "eastern.nights_weekends", "average", 1)]
    by_day, by_night = rows
    assert by_day["average"] == 60.0 and by_day["average_met"] is True  # 1 h against ~2 h, not against ~8 h
    assert by_night["average"] != by_day["average"] and by_night["average_met"] is not None


def test_two_windows_promising_the_same_average_keep_a_row_each():
    """Each row names the arrival window its average is for ("compliance is reported as the average per
    window"): two windows with one commitment are two rows, and per-ticket rows name no window unless theirs
    share one."""
    groups: dict = {}
    for window in ("office.daytime", "office.nights", "office.daytime"):
        report._row(groups, "c", "response", None,
                    Terms(target_seconds=7200, calendar="office", average=True, level="std", window=window))
    report._row(groups, "c", "visit", None, Terms(target_seconds=900, calendar="office", average=False, level="std"))
    assert [(r["metric"], r["window"], r["commitment"]) for r in report.rows(groups)] == [
        ("response", "office.daytime", 120.0), ("response", "office.nights", 120.0), ("visit", None, 15.0)]


def test_tallies_of_disjoint_tickets_merge_to_the_same_rows_in_any_order():
    """Replay shards merge their tallies in whatever order they finish."""
    day, _ = tally_of(answered("D1", DAY, timedelta(hours=1)))
    night, _ = tally_of(answered("N1", NIGHT, timedelta(hours=9)))
    more, _ = tally_of(answered("D2", DAY + timedelta(hours=1), timedelta(hours=3)))
    merged = report.rows(report.merge([day, night, more]))
    assert merged == report.rows(report.merge([more, night, day])) == report.rows(report.merge([night, more, day]))
    assert [r["commitment"] for r in response_rows(merged)] == [120.0, 480.0]
    assert response_rows(merged)[0]["met"] + response_rows(merged)[0]["breached"] == 2


def test_a_per_ticket_row_whose_tickets_have_different_targets_shows_no_single_commitment():
    """An end-of-business-day target differs from cycle to cycle: no one number is the row's commitment."""
    groups: dict = {}
    for severity, hours in (("P1", 10), ("P1", 6), ("P2", 4), ("P2", 4)):
        report._row(groups, "pools", "progress", None,
                    Terms(target_seconds=hours * 3600, calendar="pools", average=False, level=severity))
    assert [(r["severity"], r["commitment"], r["kind"]) for r in report.rows(groups)] == [
        ("P1", None, "per ticket"), ("P2", 240.0, "per ticket")]


def test_each_cycle_of_a_ticket_is_held_against_the_commitment_it_ran_under():
    """A next-response clock runs a cycle per exchange, each under the commitment of its own arrival: a
    daytime exchange (~2 h) then a night one (~8 h) on one ticket are one cycle in each row, not both
    held against the last one's."""
    day = answered("T1", DAY, timedelta(hours=1))
    again = day[0].model_copy(update={
        "delivery_id": "T1-3", "kind": EventKind.comment, "occurred_at": NIGHT,
        "comment": Comment(public=True, body="Still broken.", author=Actor(email="morgan@contoso.example"))})
    answer = day[1].model_copy(update={"delivery_id": "T1-4", "occurred_at": NIGHT + timedelta(hours=9)})
    tally, _ = tally_of([*day, again, answer])
    rows = response_rows(report.rows(tally))
    assert [(r["commitment"], r["met"] + r["breached"]) for r in rows] == [(120.0, 1), (480.0, 1)]
    assert rows[0]["average"] == 60.0 and rows[0]["average_met"] is True


def test_a_cycle_counts_in_the_month_and_week_it_started_in_the_contracts_zone():
    """A ticket opened at 21:00 New York time on 31 March (already 1 April in UTC, as helpdesks send it) belongs
    to March's row, and one opened at 21:00 on Sunday 8 March to the week of 2 March (InfraWare: New York)."""
    march = datetime.fromisoformat("2026-03-31T21:00:00-04:00").astimezone(timezone.utc)
    sunday = datetime.fromisoformat("2026-03-08T21:00:00-04:00").astimezone(timezone.utc)
    directory = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0]
    simulation = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    for event in answered("M1", march, timedelta(hours=1)) + answered("S1", sunday, timedelta(hours=1)):
        simulation.feed(event)
    now = march + timedelta(days=3)
    months = {r["period"] for r in report.compliance(list(simulation.states.values()), directory, now, "month")
              if r["customer"] == "contoso-billing"}
    weeks = {r["period"] for r in report.compliance(list(simulation.states.values()), directory, now, "week")
             if r["customer"] == "contoso-billing"}
    assert months == {"2026-03"}
    assert weeks == {"2026-W10", "2026-W14"}


def test_cycles_under_a_calendar_the_contract_no_longer_has_are_left_out_with_a_warning_not_a_crash(caplog):
    """An admin renames a calendar: the cycles recorded under the old name cannot be judged on it."""
    directory = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0]
    simulation = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    for event in answered("D1", DAY, timedelta(hours=1)):
        simulation.feed(event)
    customer = directory.customers["contoso-billing"]
    contract = directory.contract_for(customer)
    names = {t.calendar for c in simulation.states.values() for c in c.clocks.values() for t in c.terms or ()}
    assert names and names <= contract.calendars.keys()
    renamed = {f"{name}-renamed" if name in names else name: spec for name, spec in contract.calendars.items()}
    directory.contracts[customer.contract] = contract.model_copy(update={"calendars": renamed})
    rows = report.rows(report.tally(simulation.states.values(), directory, DAY + timedelta(days=3)))
    assert rows and all(r["met"] + r["breached"] + r["open"] == 0 for r in response_rows(rows))
    assert f"which contract {contract.id} no longer has: left out of the report" in caplog.text
