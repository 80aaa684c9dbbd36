"""``slabridge replay``, ``report`` and ``incidents``: what an admin runs to try and audit contracts."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TextIO

import click
from pydantic import ValidationError

from ..connectors import json_problem
from ..models import TicketEvent
from ..report import COLUMNS, PERIODS, compliance, to_csv
from ..simulation import replay as run_replay
from ..tables import progress, render_table
from ..timeparse import utc


def _table(rows: list[dict]) -> str:
    headers = (["period"] if rows and "period" in rows[0] else []) + COLUMNS
    return render_table([h.replace("_", " ") for h in headers],
                        [["-" if r.get(h) is None else r.get(h) for h in headers] for r in rows])


def _emit(rows: list[dict], as_json: bool, as_csv: bool, out=None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(rows, indent=2) + "\n")
    elif as_csv:
        out.write(to_csv(rows))
    else:
        out.write((_table(rows) if rows else "no clocks recorded") + "\n")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--vendor", default=None, help="Lines are this vendor's webhook bodies, not canonical events.")
@click.option("--contracts", "contracts_dir", default=None, help="Contracts folder (default: configuration).")
@click.option("--customers", "customers_file", default=None, help="Customers file (default: configuration).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes; customers are sharded over them (same output, faster on several cores).")
@click.pass_obj
def replay(obj, file: str, vendor: str | None, contracts_dir: str | None, customers_file: str | None,
           jobs: int) -> None:
    """Run the full rules on FILE (JSON lines) without writing back: one JSON line per decision.

    Timers fire between events as the worker would fire them. A compliance table
    follows on standard error. Bad lines are reported with their line number and
    skipped; the exit status is then 1.
    """
    from ..directory import load
    from ..plugins import Plugins

    settings = obj.settings()
    directory, problems = load(contracts_dir or settings.contracts_dir, customers_file or settings.customers_file)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(1)
    plugins = Plugins(settings)
    connector = None
    if vendor:
        connector = plugins.connectors.get(vendor)
        if connector is None:
            raise click.BadParameter(f"no connector {vendor!r} (installed: {', '.join(plugins.connectors)})",
                                     param_hint="--vendor")
    read = partial(_event, connector=connector, vendor_settings=settings.vendor(vendor) if vendor else None,
                   connectors=plugins.connectors, received_at=datetime.now(timezone.utc))
    with progress("reading", total=Path(file).stat().st_size) as bar:
        order, errors = _time_order(file, read, bar.advance)
    with open(file, "rb") as source, progress("replaying", total=len(order)) as bar:
        movements: dict[str, list[tuple[float, int, str]]] = {}
        until = read(_line_at(source, order[-1][2]), order[-1][1]).occurred_at if order else None
        events = ((number, read(_line_at(source, offset), number)) for _, number, offset in order)
        try:
            rows = run_replay(events if jobs == 1 else list(events), plugins, directory, jobs,
                              emit=lambda line: _echo_line(line, movements, sys.stdout), progress=bar.advance,
                              until=until)
        except OSError as exc:
            if jobs == 1:
                raise
            raise click.ClickException(
                f"--jobs {jobs} keeps each shard's lines in a temporary folder under {tempfile.gettempdir()}, and "
                f"that failed ({exc.strerror or exc.__class__.__name__}); nothing was printed. Free space there, "
                "point TMPDIR at another folder, or replay with --jobs 1") from None
    sys.stdout.flush()  # every line out before the summary on standard error
    now = until or datetime.now(timezone.utc)
    click.echo(f"\n{len(order)} event(s) replayed, {errors} bad line(s); compliance as of {now.isoformat()}:", err=True)
    _emit(rows, False, False, out=sys.stderr)
    if movements:
        click.echo(f"\nprepaid incidents as of {now.isoformat()}:", err=True)
        click.echo(_incident_table(movements, directory, now), err=True)
    sys.exit(1 if errors else 0)


def _echo_line(line: str, movements: dict[str, list[tuple[float, int, str]]], out: TextIO) -> None:
    """Print a replay line (buffered: ``click.echo`` flushes every line, a system call each); keep the
    incident charges it carries for the summary."""
    out.write(line)
    out.write("\n")
    if '"incidents":' in line:
        incidents = json.loads(line)["incidents"]
        movements.setdefault(incidents["customer"], []).extend(
            (datetime.fromisoformat(c["at"]).timestamp(), c["delta"], c["reason"]) for c in incidents["charges"])


def _incident_table(movements: dict[str, list[tuple[float, int, str]]], directory, now: datetime) -> str:
    """Per billed customer: opening balance, incidents charged, forfeited at rollovers, balance now."""
    from ..rules import incidents as ledger

    rows = []
    for customer_id, entries in sorted(movements.items()):
        customer = directory.customers[customer_id]
        contract = directory.contract_for(customer)
        left, history = ledger.balance(customer.incidents.balance, customer.incidents.year_start, contract.billing,
                                       entries, now, contract.dates_zone)
        rollovers = [h for h in history if h["reason"].startswith("contract year rollover")]
        rows.append([customer_id, customer.incidents.balance, -sum(d for _, d, _ in entries if d < 0),
                     sum(d for _, d, _ in entries if d > 0), len(rollovers), -sum(h["delta"] for h in rollovers),
                     left])
    return render_table(["customer", "opening", "charged", "added", "rollovers", "forfeited", "balance"], rows)


CANONICAL = {"vendor", "delivery_id", "ticket", "kind", "occurred_at"}
BAD_LINES_SHOWN = 50  # a file of the wrong shape (--vendor missing or wrong) is one mistake, not 100,000 lines


def _time_order(file: str, read: Callable[[str, int], TicketEvent],
                advance: Callable[[int], None]) -> tuple[list[tuple[datetime, int, int]], int]:
    """(instant in UTC, line number, byte offset) of every good line of ``file``, in time order (input order
    among equals), and how many bad lines were reported: replay then reads one event at a time, so a year of
    history never sits in memory."""
    order, errors, offset = [], 0, 0
    with open(file, "rb") as source:
        for number, raw in enumerate(source, start=1):
            advance(len(raw))
            line = raw.decode("utf-8", "replace")
            if line.strip():
                try:
                    order.append((utc(read(line, number).occurred_at), number, offset))
                except ValueError as exc:
                    errors += 1
                    if errors <= BAD_LINES_SHOWN:
                        click.echo(f"{file}:{number}: {exc}", err=True)
                    elif errors == BAD_LINES_SHOWN + 1:
                        click.echo(f"{file}: more bad lines follow; they are counted, not shown", err=True)
            offset += len(raw)
    order.sort()
    return order, errors


def _line_at(source, offset: int) -> str:
    source.seek(offset)
    return source.readline().decode("utf-8", "replace")


def _event(line: str, number: int, connector, vendor_settings, connectors: dict | None = None,
           received_at: datetime | None = None) -> TicketEvent:
    """One input line as a TicketEvent; ValueError saying what is wrong (never the line's text)."""
    if connector is None:
        try:
            return TicketEvent.model_validate_json(line)  # a good canonical line: one parse, in pydantic
        except ValidationError:
            pass  # read again below, to say what is wrong
    try:
        data = json.loads(line)
        if connector is None:
            if isinstance(data, dict) and not CANONICAL <= set(data):
                shape = next((n for n, c in (connectors or {}).items() if c.recognizes(data)), None)
                if shape:
                    raise ValueError(f"this is a {shape} webhook body, not a canonical event: give --vendor {shape}")
            return TicketEvent.model_validate(data)
        body = data.get("body", data) if isinstance(data, dict) else data
        if not isinstance(body, dict):
            raise ValueError("a webhook body must be a JSON object")
        if CANONICAL <= set(body):
            raise ValueError(f"this is a canonical event, not a {connector.name} webhook body: drop --vendor")
        if connector.recognizes(body) is False:
            other = next((n for n, c in (connectors or {}).items() if c is not connector and c.recognizes(body)), None)
            if other:
                raise ValueError(f"this is a {other} webhook body, not {connector.name}: give --vendor {other}")
        return connector.event_from(body, f"replay:{number}", received_at or datetime.now(timezone.utc),
                                    vendor_settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc'])) or 'event'}: {first['msg']}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {json_problem(exc, line=False)}") from None
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - a connector's WebhookRejected and the like
        raise ValueError(getattr(exc, "message", None) or str(exc)) from None


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@click.option("--period", type=click.Choice(PERIODS), default=None, help="One row per week or month as well.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a self-contained HTML report (tables and charts, nothing loaded from elsewhere).")
@click.pass_obj
def report(obj, as_json: bool, as_csv: bool, period: str | None, html_file: str | None) -> None:
    """Compliance per customer x severity x metric, from the tickets slabridge has recorded."""
    settings = obj.settings()
    directory, store = obj.directory(settings), obj.store(settings, existing=True)
    states, now = store.ticket_clocks(), datetime.now(timezone.utc)
    rows = compliance(states, directory, now, period)
    if html_file:
        try:
            Path(html_file).write_text(html_report(rows, period, len(states), now))
        except OSError as exc:  # its folder missing, no permission, a full disk
            raise click.ClickException(f"cannot write the HTML report to {html_file}: {exc.strerror or exc}") from None
        click.echo(f"wrote {html_file}", err=True)
    _emit(rows, as_json, as_csv)


def html_report(rows: list[dict], period: str | None, tickets: int, now: datetime) -> str:
    """The compliance report as one HTML file to mail: the console's table and charts, its CSS inline."""
    from importlib.resources import files

    from jinja2 import Environment, PackageLoader, select_autoescape

    from ..charts import compliance_charts

    env = Environment(loader=PackageLoader("slabridge_webhooks", "templates"), autoescape=select_autoescape())
    css = files("slabridge_webhooks").joinpath("static/console.css").read_text()
    return env.get_template("console/report.html").render(
        rows=rows, period=period, tickets=tickets, css=css, charts=compliance_charts(rows, period),
        generated=now.strftime("%Y-%m-%d %H:%M UTC"))


@click.command()
@click.pass_obj
def recheck(obj) -> None:
    """Decide every ticket whose deadlines still run again, under the contracts and customers as they are now.

    Run it after revising a contract or the customers file: the worker fires a timer for each such ticket as
    soon as it can, and each decision applies the revised terms (a deadline that no longer applies is
    withdrawn, a new one set, the helpdesk updated)."""
    store = obj.store(obj.settings(), existing=True)
    click.echo(f"{store.recheck()} ticket(s) with running deadlines will be decided again by the worker")


MOST_INCIDENTS = 1_000_000  # one purchase or correction; bundles are sold by the 5, 10 or 25


@click.command()
@click.argument("customer")
@click.option("--add", "add", type=click.IntRange(-MOST_INCIDENTS, MOST_INCIDENTS), default=None,
              help="Record a purchase (or, negative, a correction).")
@click.option("--reason", default="purchase of a Service & Support Incidents bundle")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def incidents(obj, customer: str, add: int | None, reason: str, as_json: bool) -> None:
    """Show a customer's prepaid incident balance and its history (or --add a purchase)."""
    from ..rules import incidents as ledger

    settings = obj.settings()
    directory, store = obj.directory(settings), obj.store(settings)
    record = directory.customers.get(customer)
    if record is None:
        raise click.ClickException(f"unknown customer {customer!r} (known: {', '.join(directory.customers) or 'none'})")
    contract = directory.contract_for(record)
    if record.incidents is None or contract is None or contract.billing is None:
        raise click.ClickException(f"customer {customer} has no prepaid incidents under contract {record.contract}")
    if add == 0:
        raise click.BadParameter("0 incidents changes nothing", param_hint="--add")
    if add is not None:
        store.add_ledger_entry(customer, add, reason)
    balance, history = ledger.balance(record.incidents.balance, record.incidents.year_start, contract.billing,
                                      store.ledger_entries(customer), datetime.now(timezone.utc), contract.dates_zone)
    if as_json:
        click.echo(json.dumps({"customer": customer, "opening": record.incidents.balance,
                               "year_start": record.incidents.year_start.isoformat(), "balance": balance,
                               "history": history}, indent=2))
        return
    click.echo(f"{record.name}: {balance} incident(s) left (opening balance {record.incidents.balance} on "
               f"{record.incidents.year_start}, rollover cap {contract.billing.rollover_cap})")
    if history:
        click.echo(render_table(["at", "change", "balance", "reason"],
                                [[h["at"], f"{h['delta']:+d}", h["balance"], h["reason"]] for h in history]))
