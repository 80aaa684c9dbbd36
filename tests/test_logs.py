"""JSON log lines: one object a line, with references and outcomes, never ticket text."""

import io
import json
import logging
from pathlib import Path

import pytest

from slabridge import logs
from slabridge.directory import load
from slabridge.plugins import Plugins
from slabridge.worker import Worker
from slabridge_webhooks import create_app

ROOT = Path(__file__).resolve().parents[1]
PHI = ("SSN 078-05-1120", "MRN 4417720", "DOB 1961-04-03")


@pytest.fixture
def json_lines():
    """Every slabridge log record at DEBUG, formatted as the JSON lines ``log_format = "json"`` writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("slabridge")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_every_line_is_json_with_its_references_and_no_ticket_text(json_lines, make_settings, db_url, store, sign,
                                                                   signed, vendor):
    with Plugins().connectors[vendor].fake_api() as fake:
        settings = make_settings(db_url, {vendor: fake.url}, contracts_dir=str(ROOT / "examples" / "contracts"),
                                 customers_file=str(ROOT / "examples" / "customers.yaml"))
        client = create_app(settings, Plugins(settings), store).test_client()
        ticket = "SUP-7" if vendor == "jira" else "7"
        _, body = signed(vendor, ticket)
        document = json.loads(body)
        target = document["issue"]["fields"] if vendor == "jira" else document["ticket"]
        target["description"] = f"Patient {' '.join(PHI)} cannot log on."
        body = json.dumps(document).encode()
        assert client.post(f"/webhooks/{vendor}", data=body, headers=sign(vendor, body)).status_code == 202
        assert client.post(f"/webhooks/{vendor}", data=body, headers=sign(vendor, body)).status_code in (200, 202)
        bad = json.dumps({**document, "ticket": {**target, "created_at": PHI[0]}} if vendor != "jira" else
                         {**document, "timestamp": PHI[0]}).encode()
        assert client.post(f"/webhooks/{vendor}", data=bad, headers=sign(vendor, bad)).status_code in (400, 401, 422)
        worker = Worker(store, Plugins(settings), load(settings.contracts_dir, settings.customers_file)[0])
        assert worker.drain() > 0
    lines = json_lines()
    assert lines and all({"at", "level", "logger", "message"} <= set(line) for line in lines)
    text = json.dumps(lines)
    assert not [p for p in PHI if p in text]
    accepted = next(line for line in lines if line["message"].startswith("accepted"))
    assert accepted["vendor"] == vendor and accepted["status"] == 202 and accepted["ticket"] == f"{vendor}:{ticket}"
    assert accepted["event_kind"] and accepted["delivery_id"]
    decided = next(line for line in lines if line["message"].startswith("decided"))
    assert decided["duration_ms"] >= 0 and decided["ticket"] == accepted["ticket"]
    sent = [line for line in lines if line.get("action")]
    assert sent and all(line["vendor"] == vendor and "duration_ms" in line and "status" in line for line in sent)
    assert any(line["message"].startswith("rejected") and line["status"] >= 400 for line in lines)
