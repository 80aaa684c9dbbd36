"""replay, report and incidents, as an admin runs them."""

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slabridge.cli import main
from slabridge.directory import load
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.config import Settings
from slabridge.store import Store
from slabridge.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS, CUSTOMERS = str(ROOT / "examples" / "contracts"), str(ROOT / "examples" / "customers.yaml")
T0 = datetime.fromisoformat("2026-03-07T10:00:00-07:00")


def event(n: int, ticket: str, at: datetime, kind="created", priority="urgent", comment=None, **kw) -> TicketEvent:
    return TicketEvent(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id=ticket),
                       kind=kind, requester=Person(email="casey@fabrikam.example"), organization=Organization(id="9100"),
                       priority=priority, subject="System down", description="The service is inoperable.",
                       created_at=T0, occurred_at=at, comment=comment, **kw)


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def test_replay_prints_one_line_per_decision_and_fires_timers_between_events(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([event(1, "1", T0).model_dump_json(),
                               event(2, "2", T0 + timedelta(hours=5), priority="low").model_dump_json()]) + "\n")
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    first = lines[0]
    assert first["customer"] == "fabrikam-health" and first["severity"] == {"designated": "P1", "decided": "P1"}
    assert first["deadlines"]["first_response"] == "2026-03-07T12:00:00-07:00"
    timers = [line for line in lines if line["delivery_id"].startswith("timer:")]
    assert any(line["escalation"] == "support_management" for line in timers)  # breach at 12:00, no webhook needed
    assert lines[-1]["ticket"] == "zendesk:2"
    assert "2 event(s) replayed, 0 bad line(s)" in result.stderr
    assert "reading" not in result.stderr and "replaying" not in result.stderr  # no bars where no terminal
    assert "fabrikam-health" in result.stderr and "first_response" in result.stderr


def test_replay_reports_bad_lines_by_number_and_goes_on(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(event(1, "1", T0).model_dump_json() + "\n{not json\n" + '{"vendor": "zendesk"}\n')
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 1
    assert f"{path}:2: not valid JSON" in result.stderr
    assert f"{path}:3: delivery_id: Field required" in result.stderr
    assert "1 event(s) replayed, 2 bad line(s)" in result.stderr


def test_a_sharded_replay_whose_temporary_folder_fails_says_so_and_prints_no_line(tmp_path, monkeypatch):
    """``--jobs`` keeps each shard's lines in a temporary file: a full or unusable temporary folder is a
    clear error (where, what to do), not a traceback, and no partial output."""
    import tempfile

    path = tmp_path / "events.jsonl"
    path.write_text("".join(event(n, str(n), T0).model_dump_json() + "\n" for n in range(1, 5)))
    not_a_folder = tmp_path / "tmp-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    result = run("replay", str(path), "--jobs", "2", "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"--jobs 2 keeps each shard's lines in a temporary folder under {not_a_folder}" in result.stderr
    assert "replay with --jobs 1" in result.stderr and result.stdout.strip() == ""


def test_replay_of_vendor_payloads(tmp_path):
    sample = json.loads((ROOT / "tests" / "samples" / "zendesk" / "ticket_comment_added.json").read_text())
    path = tmp_path / "zendesk.jsonl"
    path.write_text(json.dumps(sample) + "\n" + json.dumps({"body": sample}) + "\n")
    result = run("replay", str(path), "--vendor", "zendesk", "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["customer"] for line in lines] == ["acme-offices", "acme-offices"]
    assert lines[0]["delivery_id"] == "replay:1"


def test_replay_unknown_vendor_is_a_clear_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    result = run("replay", str(path), "--vendor", "acme", "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 2 and "no connector 'acme'" in result.output


@pytest.fixture
def recorded(tmp_path):
    """A database in which the worker decided a few tickets."""
    url = f"sqlite:///{tmp_path}/ops.db"
    store = Store(url)
    store.upgrade()
    directory, _ = load(CONTRACTS, CUSTOMERS)
    agent = Actor(email="alex@support.example", is_agent=True)
    events = [event(1, "1", T0), event(2, "2", T0),
              event(3, "1", T0 + timedelta(minutes=30), kind="comment",
                    comment=Comment(public=True, author=agent, body="On it."))]
    now = {"t": T0.timestamp()}
    worker = Worker(store, Plugins(Settings(database_url=url)), directory, clock=lambda: now["t"])
    for e in events:
        now["t"] = e.occurred_at.timestamp()
        store.enqueue(e)
        worker.drain()
    now["t"] = (T0 + timedelta(hours=3)).timestamp()
    worker.drain()  # ticket 2's first response breaches; its timer fires
    return {"SLABRIDGE_DATABASE_URL": url, "SLABRIDGE_CONTRACTS_DIR": CONTRACTS, "SLABRIDGE_CUSTOMERS_FILE": CUSTOMERS}


def test_report_json_and_csv(recorded):
    rows = json.loads(run("report", "--json", env=recorded).output)
    first_response = next(r for r in rows if r["metric"] == "first_response")
    assert first_response["customer"] == "fabrikam-health" and first_response["severity"] == "P1"
    assert first_response["met"] == 1 and first_response["breached"] == 1
    assert first_response["met_pct"] == 50.0
    csv_text = run("report", "--csv", env=recorded).output
    assert csv_text.splitlines()[0].startswith("customer,severity,metric,window,met,breached")


def test_incidents_balance_purchase_and_history(tmp_path):
    env = {"SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/i.db", "SLABRIDGE_CONTRACTS_DIR": CONTRACTS,
           "SLABRIDGE_CUSTOMERS_FILE": CUSTOMERS}
    shown = run("incidents", "northwind-clinic", "--add", "5", "--reason", "bundle of 5", "--json", env=env)
    data = json.loads(shown.output)
    assert data["balance"] == 25 and data["history"][-1]["reason"] == "bundle of 5"
    table = run("incidents", "northwind-clinic", env=env).output
    assert "25 incident(s) left" in table and "+5" in table
    unknown = run("incidents", "nobody", env=env)
    assert unknown.exit_code == 1 and "unknown customer 'nobody'" in unknown.output
    no_bundle = run("incidents", "acme-offices", env=env)
    assert no_bundle.exit_code == 1 and "has no prepaid incidents" in no_bundle.output


@pytest.mark.parametrize("add, said", [(str(10 ** 23), "is not in the range -1000000<=x<=1000000"),
                                       ("0", "0 incidents changes nothing")])
def test_a_purchase_beyond_reason_is_a_usage_error_and_records_nothing(tmp_path, add, said):
    """A number no column holds (it was an OverflowError traceback from the database) or one that changes
    nothing: exit 2 naming --add; the ledger is as it was."""
    env = {"SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/i.db", "SLABRIDGE_CONTRACTS_DIR": CONTRACTS,
           "SLABRIDGE_CUSTOMERS_FILE": CUSTOMERS}
    result = CliRunner().invoke(main, ["incidents", "northwind-clinic", "--add", add], env=env)
    assert result.exit_code == 2 and "--add" in result.output and said in result.output, result.output
    assert json.loads(run("incidents", "northwind-clinic", "--json", env=env).output)["history"] == []


def test_sharded_replay_gives_the_same_lines_and_report_as_one_process_across_a_dst_change():
    import importlib.util
    import random

    from slabridge.simulation import replay

    spec = importlib.util.spec_from_file_location("bench_replay", ROOT / "bench" / "replay.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    start = datetime.fromisoformat("2026-03-07T18:00:00+00:00")  # the events span 2026-03-08, US DST
    events = list(enumerate(bench.generate(3000, random.Random(5), start), start=1))
    assert events[0][1].occurred_at.day == 7 and events[-1][1].occurred_at.day >= 8
    directory, _ = load(CONTRACTS, CUSTOMERS)
    plugins = Plugins(Settings(vendors={v: bench.VendorSettings(enabled=True) for v in bench.PRIORITIES}))
    single, sharded = [], []
    told, told_sharded = [], []
    report = replay(events, plugins, directory, 1, emit=single.append, progress=told.append)
    sharded_report = replay(events, plugins, directory, 2, emit=sharded.append, progress=told_sharded.append)
    assert sharded == single
    assert sum(told) == sum(told_sharded) == len(events) and len(told_sharded) > 2  # progress: events decided,
    # shard by shard (more shards than jobs: a free job takes the next)
    assert sharded_report == report and sum(row["met"] + row["breached"] + row["open"] for row in report) > 100
    assert len(single) > len(events)  # timers fired between events
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)  # an unsorted export replays as it happened
    unsorted = []
    replay(shuffled, plugins, directory, 1, emit=unsorted.append)
    assert unsorted == single


def test_sharded_replay_keeps_a_billed_customers_id_only_events_with_their_ticket():
    from slabridge.simulation import replay

    directory, _ = load(CONTRACTS, CUSTOMERS)
    plugins = Plugins(Settings())
    start = datetime.fromisoformat("2026-03-10T14:00:00+00:00")

    def event(n, ticket, minutes, **fields):
        return (n, TicketEvent(vendor="freshdesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="freshdesk", id=ticket),
                               occurred_at=start + timedelta(minutes=minutes), **fields))

    billed = dict(kind=EventKind.created, requester=Person(email="pat@northwind.example"),
                  organization=Organization(id="501"), priority="2", status="open", description="Exports fail.")
    other = dict(kind=EventKind.created, requester=Person(email="morgan@contoso.example"),
                 organization=Organization(id="812"), priority="2", status="open", description="Slow.")
    id_only = dict(kind=EventKind.comment, comment=Comment(public=True, body="Any news?",
                                                           author=Actor(id="c1", is_agent=False)))
    events = [event(1, "N1", 0, **billed), event(2, "N2", 1, **billed), event(3, "C1", 2, **other),
              event(4, "C2", 3, **other), event(5, "C3", 4, **other), event(6, "N1", 30, **id_only)]
    single, sharded = [], []
    replay(events, plugins, directory, 1, emit=single.append)
    replay(events, plugins, directory, 2, emit=sharded.append)
    assert sharded == single
    assert json.loads(single[-1])["customer"] == "northwind-clinic"  # the id-only comment kept its ticket's customer


def test_sharded_replay_takes_up_no_disk_after_it_and_a_failing_shard_fails_the_replay(tmp_path, monkeypatch):
    """Shards write their lines to files of their own (merged in order): the files go when the replay
    ends, whether it succeeded or a rule raised in a shard."""
    import tempfile

    from slabridge import simulation

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory, _ = load(CONTRACTS, CUSTOMERS)
    plugins = Plugins(Settings())
    start = datetime.fromisoformat("2026-03-10T14:00:00+00:00")
    events = [(n, TicketEvent(vendor="freshdesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="freshdesk", id=f"T{n}"),
                              kind=EventKind.created, requester=Person(email="morgan@contoso.example"),
                              organization=Organization(id="812"), priority="2", status="open",
                              description="Slow.", occurred_at=start + timedelta(minutes=n)))
              for n in range(1, 41)]
    lines, single = [], []
    simulation.replay(events, plugins, directory, 1, emit=single.append)
    assert simulation.replay(events, plugins, directory, 2, emit=lines.append)
    assert lines == single and len(lines) == len(events) and list(tmp_path.iterdir()) == []

    def broken(*_args):
        raise RuntimeError("a rule raised")

    monkeypatch.setattr(simulation, "decide", broken)  # the forked shards inherit the broken engine
    with pytest.raises(RuntimeError, match="a rule raised"):
        simulation.replay(events, plugins, directory, 2, emit=lines.append)
    assert list(tmp_path.iterdir()) == []


def test_replay_shows_the_incident_ledger_balance_per_decision_and_charges_and_rollovers_in_the_summary(tmp_path):
    """A triage-desk customer opens with 25 incidents on 2026-04-01; the rollover cap of 15 applies at 2027-04-01."""
    start = datetime.fromisoformat("2027-03-30T10:00:00-04:00")
    customers = tmp_path / "customers.yaml"
    customers.write_text("customers:\n  - {id: northwind-clinic, name: Northwind, contract: triage-desk, plan: maintenance,"
                         " organizations: {freshdesk: ['501']}, term: {start: 2026-04-01},"
                         " incidents: {balance: 25, year_start: 2026-04-01}}\n")

    def northwind(n: int, at: datetime, **fields) -> str:
        return TicketEvent(vendor="freshdesk", delivery_id=f"n{n}", ticket=TicketRef(vendor="freshdesk", id=str(n)),
                           kind="created", requester=Person(email="pat@northwind.example"),
                           organization=Organization(id="501"), priority="2", subject="Printer",
                           description="The label printer prints blank pages.", created_at=at, occurred_at=at,
                           custom_fields=fields).model_dump_json()

    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([northwind(1, start), northwind(2, start + timedelta(hours=1), appointment_minutes="90"),
                               northwind(3, start + timedelta(days=3))]) + "\n")
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", str(customers))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    decided = [line for line in lines if not line["delivery_id"].startswith("timer:")]
    assert [line["incidents"]["balance"] for line in decided] == [24, 20, 14]  # -1; -1 -3 (90 min); cap 15, -1
    assert [c["delta"] for c in decided[1]["incidents"]["charges"]] == [-1, -3]
    summary = result.stderr[result.stderr.index("prepaid incidents"):]
    row = next(r.split() for r in summary.splitlines() if r.startswith("northwind-clinic"))
    assert row == ["northwind-clinic", "25", "6", "0", "1", "5", "14"]


def test_replay_refuses_another_vendors_bodies_and_canonical_events_given_as_webhooks(tmp_path):
    zendesk = json.loads((ROOT / "tests" / "samples" / "zendesk" / "ticket_comment_added.json").read_text())
    bodies = tmp_path / "zendesk.jsonl"
    bodies.write_text(json.dumps(zendesk) + "\n")
    wrong = run("replay", str(bodies), "--vendor", "freshdesk", "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert wrong.exit_code == 1 and f"{bodies}:1: this is a zendesk webhook body, not freshdesk" in wrong.stderr
    bare = run("replay", str(bodies), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert bare.exit_code == 1 and "give --vendor zendesk" in bare.stderr
    canonical = tmp_path / "events.jsonl"
    canonical.write_text(event(1, "1", T0).model_dump_json() + "\n")
    given = run("replay", str(canonical), "--vendor", "zendesk", "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert given.exit_code == 1 and "a canonical event, not a zendesk webhook body: drop --vendor" in given.stderr
    assert "0 event(s) replayed" in given.stderr


def test_replay_refuses_a_timestamp_without_an_offset(tmp_path):
    line = json.loads(event(1, "1", T0).model_dump_json())
    line["occurred_at"] = "2026-03-07T10:00:00"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(line) + "\n")
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 1 and f"{path}:1: occurred_at: Input should have timezone info" in result.stderr


def test_report_per_week_and_as_a_self_contained_html_file(recorded, tmp_path):
    weekly = run("report", "--period", "week", "--csv", env=recorded).output
    assert weekly.splitlines()[0].startswith("period,customer,severity,metric")
    assert all(line.startswith("2026-W10,") for line in weekly.splitlines()[1:] if line)
    assert run("report", "--period", "week", env=recorded).output.splitlines()[0].split()[:2] == ["period", "customer"]
    page = tmp_path / "compliance.html"
    result = run("report", "--period", "month", "--html", str(page), env=recorded)
    assert result.exit_code == 0, result.output
    html = page.read_text()
    rows = json.loads(run("report", "--period", "month", "--json", env=recorded).output)
    assert html.count('<rect class="bar') == len(rows) > 0
    assert "<style>" in html and not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from elsewhere
    assert run("report", "--period", "fortnight", env=recorded).exit_code == 2


def test_an_html_report_that_cannot_be_written_is_a_clear_error(recorded, tmp_path):
    page = tmp_path / "no-such-folder" / "compliance.html"
    result = CliRunner().invoke(main, ["report", "--html", str(page)], env=recorded)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write the HTML report to {page}: No such file or directory" in result.output


def test_a_json_error_reads_as_one_sentence(tmp_path):
    """The decoder's own message may end in "at" ("Unterminated string starting at"): the position completes
    it, once, and the webhook receiver says it the same way."""
    import json

    from slabridge.connectors import json_problem

    path = tmp_path / "events.jsonl"
    path.write_text('{"vendor": "zendesk\n')
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert f"{path}:1: not valid JSON: Invalid control character at column 20\n" in result.stderr  # the line break
    try:
        json.loads('{\n  "a": [1,')
    except json.JSONDecodeError as exc:
        assert json_problem(exc) == "Expecting value at line 2 column 11"


def test_a_file_of_the_wrong_shape_reports_its_first_bad_lines_and_counts_the_rest(tmp_path):
    from slabridge.cli.ops import BAD_LINES_SHOWN

    path = tmp_path / "events.jsonl"
    path.write_text('{"vendor": "zendesk"}\n' * (BAD_LINES_SHOWN + 30) + event(1, "1", T0).model_dump_json() + "\n")
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 1
    reported = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:") and "Field required" in line]
    assert len(reported) == BAD_LINES_SHOWN and reported[-1].startswith(f"{path}:{BAD_LINES_SHOWN}: ")
    assert f"{path}: more bad lines follow; they are counted, not shown" in result.stderr
    assert f"1 event(s) replayed, {BAD_LINES_SHOWN + 30} bad line(s)" in result.stderr
    assert len([line for line in result.stdout.splitlines() if line.startswith("{")]) >= 1  # the good line decided


def test_recheck_decides_every_running_ticket_again_under_a_revised_contract(recorded, tmp_path):
    """Interopion's 4-hour critical notification struck from the contract: after `slabridge recheck` the worker
    withdraws it from the open ticket, whose notification was already missed (it stays a breach)."""
    import re
    import time

    revised = tmp_path / "contracts"
    revised.mkdir()
    for source in Path(CONTRACTS).glob("*.yaml"):
        text = source.read_text()
        if source.name == "interopion.yaml":
            text = re.sub(r"^  critical_notification:\n(    .*\n)+", "", text, flags=re.M)
            text = re.sub(r"^  - \{metric: critical_notification[^}]*\}\n", "", text, flags=re.M)
        (revised / source.name).write_text(text)
    directory, problems = load(str(revised), CUSTOMERS)
    assert not problems and "critical_notification" not in directory.contracts["interopion"].metrics
    store = Store(recorded["SLABRIDGE_DATABASE_URL"])
    running = [s.ticket.id for s in store.ticket_clocks(running=True)]
    assert running == ["2"]  # ticket 1 was answered: its clocks stopped
    assert "critical_notification" in store.ticket_state(TicketRef(vendor="zendesk", id="2")).deadlines
    answer = run("recheck", env={**recorded, "SLABRIDGE_CONTRACTS_DIR": str(revised)})
    assert answer.exit_code == 0 and answer.output.startswith("1 ticket(s) with running deadlines")
    assert [r["ticket_id"] for r in store.rows("timers", status="pending", kind="recheck")] == ["2"]
    Worker(store, Plugins(Settings(database_url=recorded["SLABRIDGE_DATABASE_URL"])), directory,
           clock=time.time).drain()
    state = store.ticket_state(TicketRef(vendor="zendesk", id="2"))
    assert "critical_notification" not in state.deadlines and "first_response" in state.deadlines
    assert state.clocks["critical_notification"].state == "stopped"  # already missed: it stays a breach
    assert store.rows("timers", status="pending", kind="recheck") == []


@pytest.mark.parametrize("field, value", [("occurred_at", "9999-12-31T23:00:00Z"),
                                          ("created_at", "0001-01-01T00:00:00Z")])
def test_replay_refuses_an_instant_it_cannot_compute_with_naming_the_line_and_field(tmp_path, field, value):
    """It failed the decision with ``year 10001 is out of range`` from inside the calendar."""
    line = json.loads(event(1, "1", T0).model_dump_json())
    line[field] = value
    path = tmp_path / "events.jsonl"
    path.write_text(event(2, "2", T0).model_dump_json() + "\n" + json.dumps(line) + "\n")
    result = run("replay", str(path), "--contracts", CONTRACTS, "--customers", CUSTOMERS)
    assert result.exit_code == 1
    refused = f"{path}:2: {field}: Value error, outside the instants slabridge computes with (1970 to 2199)"
    assert refused in result.stderr
    assert "1 event(s) replayed, 1 bad line(s)" in result.stderr
