"""``slabridge events``: customers' planned events (new servers, hardware, upgrades) set at run time."""

from __future__ import annotations

import json

import click
from pydantic import ValidationError

from ..directory import PlannedEvent
from ..tables import render_table
from . import ROW_ID


def validated(customer: str, kind: str, starts: str, ends: str, note: str | None, directory) -> PlannedEvent:
    """A planned event for a known customer, or ValueError saying what is wrong (CLI and admin API)."""
    if customer not in directory.customers:
        raise ValueError(f"unknown customer {customer!r} (known: {', '.join(sorted(directory.customers)) or 'none'})")
    try:
        return PlannedEvent.model_validate({"kind": kind, "from": starts, "to": ends, "note": note})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


@click.group()
def events() -> None:
    """Customers' planned events: while one is under way, contract rules can tell (``planned_events``)."""


@events.command("add")
@click.argument("customer")
@click.option("--from", "starts", required=True, help="Start, ISO 8601 with offset (2026-03-10T22:00-05:00).")
@click.option("--to", "ends", required=True, help="End, ISO 8601 with offset.")
@click.option("--kind", required=True, help="e.g. new_server, hardware_replacement, software_upgrade, os_upgrade.")
@click.option("--note", default=None)
@click.pass_obj
def add(obj, customer: str, starts: str, ends: str, kind: str, note: str | None) -> None:
    """Record a planned event of CUSTOMER."""
    settings = obj.settings()
    try:
        planned = validated(customer, kind, starts, ends, note, obj.directory(settings))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    event_id = obj.store(settings).add_planned_event(customer, planned.kind, planned.starts, planned.ends, note)
    click.echo(f"planned event {event_id}: {customer} {planned.kind} from {planned.starts.isoformat()} "
               f"to {planned.ends.isoformat()}")


@events.command("list")
@click.argument("customer", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_events(obj, customer: str | None, as_json: bool) -> None:
    """Planned events added at run time (all customers, or CUSTOMER's)."""
    rows = obj.store(obj.settings(), existing=True).planned_events(customer)
    if as_json:
        click.echo(json.dumps([{**r, "from": r["from"].isoformat(), "to": r["to"].isoformat()} for r in rows],
                              indent=2))
        return
    click.echo(render_table(["id", "customer", "kind", "from", "to", "note"],
                            [[r["id"], r["customer"], r["kind"], r["from"].isoformat(), r["to"].isoformat(),
                              r["note"] or ""] for r in rows]) if rows else "no planned events")


@events.command("remove")
@click.argument("event_id", type=ROW_ID)
@click.pass_obj
def remove(obj, event_id: int) -> None:
    """Remove planned event EVENT_ID."""
    if not obj.store(obj.settings(), existing=True).remove_planned_event(event_id):
        raise click.ClickException(f"no planned event {event_id}")
    click.echo(f"planned event {event_id} removed")
