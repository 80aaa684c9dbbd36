"""``slabridge demo``: every installed connector, end to end, on loopback.

For each connector that ships a fake API: start it, send a signed sample
webhook through the real receiver (and the same delivery again, to show
de-duplication), let a worker decide and write back, then print what the fake
vendor received. Exit status 0 only if every step happened for every vendor.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
import json
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path

import httpx
from werkzeug.serving import make_server

from ..config import Settings, VendorSettings
from ..directory import load as load_directory
from ..plugins import Plugins
from ..store import Store
from ..tables import render_table
from ..worker import Worker

SAMPLE_TICKETS = {"jira": "SUP-303"}


EXAMPLES = Path(str(files("slabridge.examples")))  # shipped in the package: the demo runs anywhere
FIELDS = {"zendesk": {"first_response": "360001"}, "freshdesk": {"first_response": "cf_first_response"},
          "jira": {"first_response": "customfield_10102"}}
OPTIONS = {"jira": {"organization_field": "customfield_10002"}}


def run_demo(echo: Callable[[str], None] = print, keep: bool = False, contracts_dir: str | None = None,
             customers_file: str | None = None) -> int:
    workdir = tempfile.mkdtemp(prefix="slabridge-demo-")
    if contracts_dir is None and (EXAMPLES / "contracts").is_dir():
        contracts_dir, customers_file = str(EXAMPLES / "contracts"), str(EXAMPLES / "customers.yaml")
    fakes, server = {}, None
    try:
        discovered = Plugins(Settings()).connectors
        vendors = {}
        for name, connector in sorted(discovered.items()):
            try:
                fakes[name] = connector.fake_api().start()
            except NotImplementedError:
                echo(f"(skipping {name}: it ships no fake API)")
                continue
            env = f"DEMO_{name.upper()}_WEBHOOK_SECRET"
            os.environ[env] = secrets.token_hex(16)
            vendors[name] = VendorSettings(enabled=True, base_url=fakes[name].url, webhook_secrets_env=[env],
                                           self_user="slabridge-bot", max_retries=1, fields=FIELDS.get(name, {}),
                                           options=OPTIONS.get(name, {}))
        settings = Settings(database_url=f"sqlite:///{workdir}/demo.db", vendors=vendors, source="(demo)",
                            contracts_dir=contracts_dir, customers_file=customers_file)
        plugins = Plugins(settings)
        directory, problems = load_directory(contracts_dir, customers_file)
        for problem in problems:
            echo(f"contract problem: {problem}")
        echo(f"contracts: {', '.join(sorted(directory.contracts)) or 'none'}")
        if not directory.contracts:
            echo(f"demo FAILED: no contract loaded from {contracts_dir}: nothing would be decided by a contract")
            return 1
        store = Store(settings.database_url)
        store.upgrade()
        from slabridge_webhooks import create_app

        server = make_server("127.0.0.1", 0, create_app(settings, plugins, store), threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        receiver = f"http://127.0.0.1:{server.server_port}"
        echo(f"receiver on {receiver}; fake vendor APIs: "
             + ", ".join(f"{n} {f.url}" for n, f in fakes.items()))

        answers = {}
        with httpx.Client(timeout=10) as http:
            for index, name in enumerate(vendors, start=1):
                ticket = SAMPLE_TICKETS.get(name, str(100 * index + index))
                headers, body = discovered[name].sample_webhook(os.environ[vendors[name].webhook_secrets_env[0]],
                                                                ticket, datetime.now(timezone.utc))
                first = http.post(f"{receiver}/webhooks/{name}", headers=headers, content=body)
                again = http.post(f"{receiver}/webhooks/{name}", headers=headers, content=body)
                answers[name] = (ticket, first, again)
        Worker(store, plugins, directory).drain()
        return _report(echo, store, fakes, answers)
    finally:
        if server:
            server.shutdown()
        for fake in fakes.values():
            fake.stop()
        if keep:
            echo(f"demo database kept in {workdir}/demo.db")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _report(echo, store: Store, fakes, answers) -> int:
    rows, failures = [], []
    for name, (ticket, first, again) in answers.items():
        decisions = [a["body"] for a in store.rows("audit", vendor=name, ticket_id=ticket)]
        writes = [w for w in fakes[name].writes()]
        decision = decisions[-1] if decisions else {}
        rows.append([
            name, ticket, f"{first.status_code} {first.json().get('status')}",
            f"{again.status_code} {again.json().get('status')}",
            _summary(decision),
            "\n".join(f"{w.method} {w.path} -> {w.status}  {_gist(w.body)}" for w in writes) or "-",
        ])
        if first.status_code != 202:
            failures.append(f"{name}: webhook answered {first.status_code}: {first.text}")
        if again.status_code != 200 or again.json().get("status") != "duplicate":
            failures.append(f"{name}: the repeated delivery was not recognised as a duplicate")
        if len(decisions) != 1:
            failures.append(f"{name}: expected 1 decision, found {len(decisions)}")
        elif not decision.get("customer"):
            failures.append(f"{name}: the decision found no customer: the example contracts did not apply")
        if not writes or any(not 200 <= w.status < 300 for w in writes):
            failures.append(f"{name}: write-back missing or failed")
    echo(render_table(["vendor", "ticket", "webhook", "repeat", "decision", "write-back received by the vendor"],
                          rows))
    for failure in failures:
        echo(f"FAILED {failure}")
    echo("demo OK: every vendor went from signed webhook to write-back" if not failures else
         f"demo FAILED: {len(failures)} step(s) did not happen")
    return 0 if not failures and answers else 1


def _summary(decision: dict) -> str:
    if not decision:
        return "-"
    return f"{decision.get('customer') or 'unknown customer'}: plan {decision.get('entitlement')}, " \
           f"severity {decision.get('severity')}"


def _gist(body) -> str:
    """A short view of what was written (no ticket text; replies and notes are contract text)."""
    if not isinstance(body, dict):
        return ""
    text = json.dumps(body, separators=(",", ":"))
    return text if len(text) <= 70 else text[:67] + "..."
