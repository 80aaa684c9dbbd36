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


def test_a_line_is_written_whatever_its_values_hold():
    """The fast encoder refuses a lone surrogate (a file name read with ``surrogateescape``) and objects it
    does not know; such a line is still one JSON object, written by the standard library."""
    formatter = logs.JsonFormatter()
    record = logging.getLogger("slabridge.directory").makeRecord(
        "slabridge.directory", logging.WARNING, __file__, 1, "cannot read %s", ("contracts/caf\udce9.yaml",), None,
        extra={"status": object(), "vendor": "zendesk", "unlisted": "never written"})
    line = json.loads(formatter.format(record))
    assert line["message"] == "cannot read contracts/caf\udce9.yaml" and line["vendor"] == "zendesk"
    assert line["status"].startswith("<object") and "unlisted" not in line and line["level"] == "WARNING"
    plain = json.loads(formatter.format(logging.getLogger("slabridge").makeRecord(
        "slabridge", logging.INFO, __file__, 1, "decided %s", ("zendesk:7",), None, extra={"duration_ms": 1.5})))
    assert plain["message"] == "decided zendesk:7" and plain["duration_ms"] == 1.5
    assert plain["at"].endswith("+00:00") and len(plain["at"]) == len("2026-12-05T01:35:21.438+00:00")


def test_configuring_logging_stops_gathering_what_no_line_writes():
    """Where slabridge configures logging itself, records skip the caller's frame walk and the thread and
    process names (neither format writes them); a host's own configuration keeps them."""
    root = logging.getLogger()
    switches = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    saved, handlers, level = {n: getattr(logging, n) for n in switches}, root.handlers[:], root.level
    ours = logging.getLogger("slabridge").level
    try:
        root.handlers = [logging.NullHandler()]  # a host's configuration
        logs.configure("INFO", "json")
        assert {n: getattr(logging, n) for n in switches} == saved
        root.handlers = []
        logs.configure("INFO", "json")
        record = logging.getLogger("slabridge.worker").makeRecord("slabridge.worker", logging.INFO, "", 0, "x", (),
                                                                  None)
        assert logging._srcfile is None and record.threadName is None and record.processName is None
        assert record.process is None and isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers, root.level = handlers, level
        logging.getLogger("slabridge").setLevel(ours)
        for name, value in saved.items():
            setattr(logging, name, value)
