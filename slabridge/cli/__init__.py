"""The ``slabridge`` command line."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import click

from .. import config as config_module, heap, logs
from ..config import ConfigError, Settings
from ..startup import shown_url
from ..tables import render_table


ROW_ID = click.IntRange(1, 2 ** 63 - 1)  # an id a row can have (64-bit): a larger one is a usage error, not an overflow


class Context:
    def __init__(self, config_path: str | None):
        self.config_path = config_path

    def settings(self) -> Settings:
        try:
            return config_module.load(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            sys.exit(1)

    def plugins(self, settings: Settings):
        from ..plugins import Plugins

        return Plugins(settings)

    def directory(self, settings: Settings):
        """Contracts and customers from the configuration; exit 1 listing every problem."""
        from ..directory import Directory, load

        if not settings.contracts_dir and not settings.customers_file:
            return Directory.empty()
        directory, problems = load(settings.contracts_dir, settings.customers_file)
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        if problems:
            sys.exit(1)
        return directory

    def store(self, settings: Settings, upgrade: bool = True, existing: bool = False):
        """The database, migrated; exit 1 saying which database and why if it cannot be used.

        With ``existing`` (commands that only read what slabridge recorded), a missing SQLite file is an
        error, never silently created.
        """
        import sqlalchemy as sa

        from ..startup import CannotStart, open_store

        if existing and settings.database_url.startswith("sqlite:///"):
            file = sa.engine.make_url(settings.database_url).database
            if file and file != ":memory:" and not Path(file).exists():
                raise click.ClickException(f"no database at {file}: nothing has been recorded here yet (run "
                                           "`slabridge serve`, or set database_url / SLABRIDGE_DATABASE_URL)")
        try:
            return open_store(settings.database_url, upgrade)
        except CannotStart as exc:
            raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML configuration file (default: $SLABRIDGE_CONFIG or ./slabridge.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.version_option(package_name="slabridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """slabridge: support contracts enforced on your helpdesk."""
    if verbose:
        logs.configure("INFO")
    ctx.obj = Context(config_path)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="In-process worker threads.")
@click.pass_obj
def serve(obj: Context, host: str, port: int, workers: int) -> None:
    """Run the webhook receiver (waitress) with in-process workers: the embedded default.

    Stops on SIGTERM or Ctrl-C after the requests and units of work in hand.
    """
    from slabridge_webhooks import create_app

    from ..serving import CannotListen, serve_app
    from ..worker import worker_threads

    settings = obj.settings()
    plugins, store, directory = obj.plugins(settings), obj.store(settings), obj.directory(settings)
    _warn(config_module.problems(settings, plugins.connectors))
    app = create_app(settings, plugins, store)
    stop = threading.Event()
    threads = worker_threads(store, plugins, directory, workers, stop)
    heap.settle()  # what is built by now lives until exit: no collector pass need walk it
    enabled = [v for v in plugins.connectors if settings.vendor(v).enabled]

    def announce(url: str) -> None:
        click.echo(f"slabridge listening on {url}  database={shown_url(settings.database_url)}"
                   f"  vendors enabled: {', '.join(enabled) or 'none (see README: Configuration)'}")
        if settings.console:
            on = bool(os.environ.get(settings.admin_token_env))
            click.echo(f"operator console: {url}/console/" + ("" if on else
                       f" (off until {settings.admin_token_env} holds a token: see README, Operator console)"))

    try:
        serve_app(app, host, port, settings, threads, stop, announce)
    except CannotListen as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("slabridge stopped")


def _warn(problems: list[str]) -> None:
    """What ``slabridge check`` would report of the configuration, said at start (a missing secret, an option
    of the wrong type): the process runs, and the first webhooks show why they fail."""
    for problem in problems:
        click.echo(f"warning: {problem} (slabridge check lists every problem)", err=True)


@main.command()
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_obj
def worker(obj: Context, threads: int) -> None:
    """Run standalone workers (scale-out: run as many as you like against PostgreSQL)."""
    from ..stopsignals import RECEIVED as STOP_SIGNALS, on_stop_signals, stopped
    from ..worker import worker_threads

    settings = obj.settings()
    logs.configure(settings.log_level, settings.log_format)
    plugins, store, directory = obj.plugins(settings), obj.store(settings), obj.directory(settings)
    _warn(config_module.problems(settings, plugins.connectors))
    stop = threading.Event()
    pool = worker_threads(store, plugins, directory, threads, stop)
    heap.settle()  # what is built by now lives until exit: no collector pass need walk it
    previous = on_stop_signals()  # SIGTERM or Ctrl-C: finish the unit of work in hand, then exit
    for thread in pool:
        thread.start()
    click.echo(f"slabridge worker: {threads} thread(s) on {shown_url(settings.database_url)}")
    for thread in pool:
        while thread.is_alive():
            if STOP_SIGNALS:
                stop.set()
            thread.join(0.1)
    stopped(previous)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def plugins(obj: Context, as_json: bool) -> None:
    """List loaded plugins, their hooks, versions and enabled state."""
    rows = obj.plugins(obj.settings()).describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render_table(["plugin", "version", "enabled", "connectors", "hooks"],
                            [[r["name"], r["version"], "yes" if r["enabled"] else "no", ", ".join(r["connectors"]),
                              ", ".join(h.removeprefix("slabridge_") for h in r["hooks"])] for r in rows]))


@main.command()
@click.option("--contracts", "contracts_dir", type=click.Path(), default=None,
              help="Contracts folder (default: contracts_dir from the configuration).")
@click.option("--customers", "customers_file", type=click.Path(), default=None,
              help="Customers file (default: customers_file from the configuration).")
@click.option("--explain", "explain_text", default=None, metavar="TEXT",
              help="Show which classification rules of each contract match TEXT, and why.")
@click.option("--contract", "contract_id", default=None, help="With --explain: only this contract.")
@click.pass_obj
def check(obj: Context, contracts_dir: str | None, customers_file: str | None, explain_text: str | None,
          contract_id: str | None) -> None:
    """Validate configuration, contracts and customers; print every problem; exit 1 if any."""
    from ..directory import load as load_directory, route_group_problems

    try:
        settings = config_module.load(obj.config_path)
    except ConfigError as exc:
        problems, settings = exc.problems, None
    else:
        problems = config_module.problems(settings, obj.plugins(settings).connectors)
    contracts_dir = contracts_dir or (settings.contracts_dir if settings else None)
    customers_file = customers_file or (settings.customers_file if settings else None)
    installed = obj.plugins(settings).connectors if settings else None
    directory, found = load_directory(contracts_dir, customers_file, vendors=installed)
    problems += found
    if settings is not None and settings.source == "(defaults)" and not (contracts_dir or customers_file):
        problems.append("nothing was checked: no slabridge.toml here (or --config / $SLABRIDGE_CONFIG) and no "
                        "--contracts / --customers; `slabridge init DIR` writes a starter configuration")
    elif contracts_dir and Path(contracts_dir).is_dir() and not directory.contracts and not found:
        problems.append(f"{contracts_dir}: no contract files (*.yaml, *.yml) in the contracts folder")
    if settings is not None:
        problems += route_group_problems(contracts_dir, customers_file,
                                         _group_resolver(settings, obj.plugins(settings).connectors))
    for problem in problems:
        click.echo(f"error: {problem}")
    if problems:
        click.echo(f"{len(problems)} problem(s)")
        sys.exit(1)
    click.echo(f"OK: configuration, {len(directory.contracts)} contract(s), {len(directory.customers)} customer(s)")
    if explain_text is not None:
        from ..rules.matching import explain

        contracts = [c for c in directory.contracts.values() if contract_id in (None, c.id)]
        if not contracts:
            raise click.UsageError(f"--contract {contract_id!r}: no such contract (loaded: "
                                   f"{', '.join(sorted(directory.contracts)) or 'none'})")
        for contract in contracts:
            for line in explain(contract, explain_text):
                click.echo(f"{contract.id}: {line}")


def _group_resolver(settings, connectors):
    """``resolve(name, vendor)``: why an enabled vendor cannot route to contract group ``name``, or None."""
    enabled = {v: s for v, s in settings.vendors.items() if s.enabled and v in connectors}

    def resolve(name: str, vendor: str | None) -> str | None:
        for v, vendor_settings in enabled.items():
            problem = connectors[v].group_problem(vendor_settings, name) if vendor in (None, v) else None
            if problem:
                return f"{problem} ({settings.source})"
        return None

    return resolve


@main.command()
@click.argument("what", type=click.Choice(["event", "action", "config", "contract", "customers", "calendar"]))
def schema(what: str) -> None:
    """Print the JSON Schema of an event, an action, the configuration, a contract, customers or a calendar."""
    from ..schemas import json_schema

    click.echo(json.dumps(json_schema(what), indent=2))


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: Context) -> None:
    """Apply pending schema migrations."""
    from ..store import SchemaUnknown

    settings = obj.settings()
    store = obj.store(settings, upgrade=False)
    try:
        applied = store.upgrade()
    except SchemaUnknown as exc:
        raise click.ClickException(f"cannot upgrade the database {shown_url(settings.database_url)}: {exc}") from None
    for migration in applied:
        click.echo(f"applied {migration.version}: {migration.description}")
    click.echo(f"schema at version {store.version()}")


@db.command("dead")
@click.option("--retry", "retry", type=click.Choice(["event", "write"]), default=None,
              help="Queue dead letters of this kind again (after fixing the cause).")
@click.option("--drop", "drop", type=click.Choice(["event", "write"]), default=None,
              help="Give up on dead letters of this kind for good (a dropped write releases its ticket).")
@click.option("--id", "ids", type=ROW_ID, multiple=True, help="Only these ids (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def db_dead(obj: Context, retry: str | None, drop: str | None, ids: tuple[int, ...], as_json: bool) -> None:
    """List events and write-backs that gave up, with the vendor's error; or --retry / --drop them.

    A dead event is skipped: its ticket's later events are decided without it. A dead write holds
    back its ticket's later writes (they are never applied out of order) until it is retried or dropped.
    """
    if retry and drop:
        raise click.UsageError("give --retry or --drop, not both")
    store = obj.store(obj.settings(), existing=True)
    if retry:
        click.echo(f"{store.retry_dead(retry, list(ids))} {retry}(s) queued again")
        return
    if drop:
        click.echo(f"{store.drop_dead(drop, list(ids))} {drop}(s) dropped")
        return
    rows = store.dead_letters()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("no dead letters")
    else:
        click.echo(render_table(["kind", "id", "vendor", "ticket", "action", "attempts", "error"],
                                [[r["kind"], r["id"], r["vendor"], r["ticket_id"], r.get("action", ""), r["attempts"],
                                  (r["error"] or "")[:100]] for r in rows]))
        for r in rows:
            if r["blocks"]:
                click.echo(f"write {r['id']} holds back {r['blocks']} later write(s) of {r['vendor']}:{r['ticket_id']}"
                           " until it is retried (--retry write) or dropped (--drop write)")


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.pass_obj
def db_prune(obj: Context, dry_run: bool) -> None:
    """Delete finished rows past their retention (the worker does this every 10 minutes).

    Decided webhooks, sent write-backs and fired timers go `retention_days` after they finished,
    decisions' audit rows `audit_retention_days` after they were made; pending and dead rows stay.
    """
    from .. import retention

    settings = obj.settings()
    store = obj.store(settings, existing=True)
    pruned = retention.prune(store, settings, time.time(), dry_run=dry_run)
    kept = {kind.name: getattr(settings, kind.setting) for kind in retention.KINDS}
    rows = [[name, pruned.gone.get(name, 0),
             "forever" if days == "forever" else f"{days:g} days"] for name, days in kept.items()]
    click.echo(render_table(["kind", "would go" if dry_run else "deleted", "kept for"], rows))


@db.command("status")
@click.pass_obj
def db_status(obj: Context) -> None:
    """Show the schema version and queue counts."""
    from ..store import LATEST

    store = obj.store(obj.settings(), upgrade=False, existing=True)
    version = store.version()
    click.echo(f"schema version {version} (latest {LATEST})")
    if version:
        click.echo(json.dumps(store.counts(), indent=2))


@main.command()
@click.option("--keep", is_flag=True, help="Keep the demo's database and print its path.")
@click.option("--contracts", "contracts_dir", default=None, help="Contracts folder (default: ./examples/contracts).")
@click.option("--customers", "customers_file", default=None, help="Customers file (default: ./examples/customers.yaml).")
def demo(keep: bool, contracts_dir: str | None, customers_file: str | None) -> None:
    """Run every connector end to end against fake vendor APIs on loopback."""
    from .demo import run_demo

    sys.exit(run_demo(echo=click.echo, keep=keep, contracts_dir=contracts_dir, customers_file=customers_file))


from .calendar import calendar_group  # noqa: E402 - registered after main exists

main.add_command(calendar_group)

from .events import events  # noqa: E402
from .init import init  # noqa: E402
from .ops import incidents, recheck, replay, report  # noqa: E402

main.add_command(replay)
main.add_command(report)
main.add_command(incidents)
main.add_command(recheck)
main.add_command(events)
main.add_command(init)


@main.group()
def webhooks() -> None:
    """Set up the helpdesk side."""


@webhooks.command("template")
@click.argument("vendor")
@click.option("--url", "receiver_url", default="https://slabridge.example.com",
              help="Public base URL of your slabridge receiver.")
@click.pass_obj
def webhooks_template(obj: Context, vendor: str, receiver_url: str) -> None:
    """Print the webhook / trigger / automation settings to create in VENDOR."""
    from urllib.parse import urlsplit

    try:
        url = urlsplit(receiver_url)
        _ = url.port  # raises ValueError for a port that is not a number or beyond 65535
        usable = url.scheme in ("http", "https") and url.hostname and not (
            url.query or url.fragment or any(c.isspace() for c in receiver_url))
    except ValueError:  # that, or a bracket left open
        usable = False
    if not usable:
        raise click.BadParameter(f"{receiver_url!r} is not a base URL the helpdesk can call: give "
                                 "https://HOST[:PORT][/PATH], without a query or spaces", param_hint="--url")
    settings = obj.settings()
    connector = obj.plugins(settings).connectors.get(vendor)
    if connector is None:
        raise click.BadParameter(f"no connector {vendor!r}", param_hint="VENDOR")
    try:
        template = connector.webhook_template(settings.vendor(vendor), receiver_url.rstrip("/"))
    except NotImplementedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(template, indent=2))
