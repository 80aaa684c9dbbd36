"""The product as real processes, for crash, storm and soak tests.

A :class:`Rig` runs fake vendor APIs in this process (they record every request
and survive the crashes), the receiver under gunicorn and ``slabridge worker``
processes against one database, each with its log in the rig's folder. It sends
signed webhooks the way vendors do (retrying until acknowledged), kills
processes with SIGKILL at any moment, restarts them, and reports what was
accepted, decided and written — and what was written twice.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from ..directory import route_group_problems
from .fakeapi import FakeAPI
from ..plugins import Plugins
from ..startup import shown_url
from ..store import Store

VENDORS = ("zendesk", "freshdesk", "jira")
MARKER = re.compile(r"\[ref sb-([0-9a-f]{16})\]")
# Strings shaped like PHI, put in every ticket: no process may ever log them.
PHI = ("SSN 078-05-1120", "MRN 4417720", "DOB 1961-04-03")
TEXTS = ("The reporting module is inoperable for every user.", "Invoices show data corruption since the update.",
         "How do I export last month's report?", "Since 6am no user is able to log on.",
         "Feature request: please add dark mode.")


def database_argument(value: str, sqlite: bool = True) -> str:
    """A benchmark's ``--database`` (an argparse ``type``): ``sqlite`` (where ``sqlite`` is allowed) or a
    PostgreSQL URL; anything else is refused, named without its password."""
    import argparse

    if (sqlite and value == "sqlite") or value.startswith("postgresql://"):
        return value
    wanted = "'sqlite' or a PostgreSQL URL" if sqlite else "a PostgreSQL URL"
    raise argparse.ArgumentTypeError(f"{shown_url(value)[:200]!r} is not {wanted} (postgresql://user@host:5432/database)")


def postgres_argument(value: str) -> str:
    """A ``--database`` that must be PostgreSQL (see :func:`database_argument`)."""
    return database_argument(value, sqlite=False)


def postgres_engine(url: str, **options: object):
    """An SQLAlchemy engine, through psycopg, on a PostgreSQL URL as people write it (``postgresql://``)."""
    import sqlalchemy as sa

    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), **options)


class DatabaseUnreachable(Exception):
    """A benchmark's or test's database cannot be reached: the URL (without its password) and the server's
    own first line, for a one-line error instead of a traceback."""

    def __init__(self, url: str, cause: BaseException):
        said = (str(getattr(cause, "orig", None) or cause).splitlines() or [""])[0]
        super().__init__(f"cannot use the database {shown_url(url)}: {said}")


def empty_database(url: str) -> None:
    """Drop every table of a PostgreSQL database (Alembic's too); an SQLite URL is left alone.
    DatabaseUnreachable where the server cannot be reached or has no such database."""
    if not url.startswith("postgresql"):
        return
    import sqlalchemy as sa

    engine = postgres_engine(url)
    try:
        with engine.begin() as conn:
            for table in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    except sa.exc.OperationalError as exc:
        raise DatabaseUnreachable(url, exc) from None
    finally:
        engine.dispose()


def wait_ready(url: str, failure: str, seconds: float = 60) -> None:
    """Wait until ``url/readyz`` answers 200; RuntimeError(``failure``) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # not listening yet, or not ready (503): look again shortly
    raise RuntimeError(failure)


def free_port() -> int:
    """A loopback port free now, for a server started later in another process.

    Chosen below the kernel's ephemeral range: a port from ``bind(0)`` would be free for anyone's next
    ``bind(0)`` (a fake vendor API, a client's connection) until the server takes it."""
    low = _ephemeral_low()
    candidates = random.sample(range(max(1024, low - 10_000), low), 200) if low > 2048 else []
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # no range below the ephemeral one: the kernel's pick
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """Lowest port the kernel hands out for ``bind(0)`` (Linux); 49152, the IANA start, elsewhere."""
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


@dataclass
class Sent:
    vendor: str
    ticket: str
    delivery: str
    status: int  # 202 accepted, 200 duplicate


@dataclass
class Report:
    accepted: int
    duplicates_answered: int
    decided: int
    decided_twice: int
    undecided: int
    writes_pending: int
    writes_dead: int
    comments_posted: int
    comments_posted_twice: int
    order_violations: int
    timers_pending: int
    log_lines: int
    phi_in_logs: list[str] = field(default_factory=list)
    decided_twice_ids: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    failed_events: list[str] = field(default_factory=list)  # a decision that raised: a bug, even if retried

    def problems(self) -> list[str]:
        found = []
        for name in ("decided_twice", "undecided", "writes_pending", "writes_dead", "comments_posted_twice",
                     "order_violations"):
            if getattr(self, name):
                found.append(f"{name}: {getattr(self, name)}")
        found += [f"decided twice: {delivery}" for delivery in self.decided_twice_ids[:3]]
        found += [f"PHI in a log: {line[:160]}" for line in self.phi_in_logs[:3]]
        found += [f"traceback in a log: {line[:160]}" for line in self.tracebacks[:3]]
        found += [f"a decision failed: {line[:200]}" for line in self.failed_events[:3]]
        return found


class Rig:
    def __init__(self, folder: Path, database_url: str, contracts_dir: Path, customers_file: Path,
                 receivers: int = 2, workers: int = 1, worker_threads: int = 2, vendor_settings: str = "",
                 jira_tolerance_seconds: int = 3600, vendor_latency: float = 0.0):
        self.folder = Path(folder)
        self.database_url = database_url
        self.contracts_dir, self.customers_file = contracts_dir, customers_file
        self.receivers, self.worker_count, self.worker_threads = receivers, workers, worker_threads
        self.vendor_settings = vendor_settings  # TOML lines added to every vendor's section
        self.jira_tolerance_seconds = jira_tolerance_seconds  # raise it to send a history dated in the past
        self.vendor_latency = vendor_latency  # seconds each fake vendor takes to answer
        self.secret = uuid.uuid4().hex
        self.port = free_port()
        self.fakes: dict[str, FakeAPI] = {}
        self.receiver: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.connectors = Plugins().connectors
        self.store = Store(database_url)
        self._logs = 0
        self.drained_at = float("inf")  # set by wait_drained

    # --- processes --------------------------------------------------------

    def start(self) -> "Rig":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fakes = {v: self.connectors[v].fake_api() for v in VENDORS}
        for fake in self.fakes.values():
            if self.vendor_latency:
                fake.latency, fake.threads = self.vendor_latency, 64
            fake.start()
        (self.folder / "slabridge.toml").write_text(self._config())
        self.store.upgrade()
        self.start_receiver()
        for i in range(self.worker_count):
            self.start_worker(i)
        return self

    def stop(self) -> None:
        for process in [self.receiver, *self.workers]:
            _kill(process, signal.SIGTERM)
        for fake in self.fakes.values():
            fake.stop()
        self.store.close()

    def start_receiver(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(self.receivers),
                   "--threads", "4", "--timeout", "30", "--graceful-timeout", "5", "--bind", f"127.0.0.1:{self.port}",
                   "slabridge_webhooks:create_app()"]
        self.receiver = self._spawn("receiver", command)
        wait_ready(self.url, f"the receiver did not start; see {self.folder}")

    def start_worker(self, index: int) -> None:
        self.workers[index] = self._spawn(f"worker-{index}", [sys.executable, "-m", "slabridge", "worker",
                                                              "--threads", str(self.worker_threads)])

    def kill_receiver(self) -> None:
        _kill(self.receiver, signal.SIGKILL)

    def kill_worker(self, index: int) -> None:
        _kill(self.workers[index], signal.SIGKILL)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        self._logs += 1
        log = open(self.folder / f"{name}.{self._logs}.log", "w")  # noqa: SIM115 - owned by the process
        env = {**os.environ, "SLABRIDGE_CONFIG": str(self.folder / "slabridge.toml"),
               **{f"RIG_{v.upper()}_SECRET": self.secret for v in VENDORS}}
        return subprocess.Popen(command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _config(self) -> str:
        groups: set[str] = set()
        route_group_problems(self.contracts_dir, self.customers_file, lambda name, vendor: groups.add(name))
        mapped = "".join(f'"{g}" = "{3000 + i}"\n' for i, g in enumerate(sorted(groups)))
        lines = [f'database_url = "{self.database_url}"', f'contracts_dir = "{self.contracts_dir}"',
                 f'customers_file = "{self.customers_file}"', "worker_poll_seconds = 0.05", 'log_level = "DEBUG"']
        for vendor, fake in self.fakes.items():
            lines += [f"[vendors.{vendor}]", "enabled = true", f'base_url = "{fake.url}"',
                      f'webhook_secrets_env = ["RIG_{vendor.upper()}_SECRET"]', 'self_user = "slabridge-bot"',
                      "max_retries = 1", "timeout_seconds = 5", self.vendor_settings]
            if vendor == "jira":
                lines += ['options = { organization_field = "customfield_10002", group_field = "customfield_10050", '
                          f"timestamp_tolerance_seconds = {self.jira_tolerance_seconds} }}"]
            else:
                lines += [f"[vendors.{vendor}.groups]", mapped]
        return "\n".join(lines) + "\n"

    # --- load -------------------------------------------------------------

    def history(self, tickets: int, events_per_ticket: int, seed: int = 7,
                start: datetime | None = None) -> list[tuple[str, str, bytes]]:
        """(vendor, ticket, body) for ``tickets`` tickets over every vendor, each created then updated,
        from ``start`` (default: 20 minutes ago) on."""
        rng = random.Random(seed)
        start = start or datetime.now(timezone.utc) - timedelta(minutes=20)
        out = []
        for n in range(tickets):
            vendor = VENDORS[n % len(VENDORS)]
            ticket = f"RIG-{n + 1}" if vendor == "jira" else str(50_000 + n)
            text = f"{rng.choice(TEXTS)} {' '.join(PHI)}"
            for step in range(events_per_ticket):
                when = start + timedelta(seconds=n % 600, milliseconds=step * 10)
                out.append((vendor, ticket, self._body(vendor, ticket, text, step, when)))
        return out

    def _body(self, vendor: str, ticket: str, text: str, step: int, when: datetime) -> bytes:
        _headers, raw = self.connectors[vendor].sample_webhook(self.secret, ticket, when)
        body = json.loads(raw)
        if vendor == "jira":
            fields = body["issue"]["fields"]
            fields.update(description=text, updated=when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000")
            body["timestamp"] = int(when.timestamp() * 1000)
            if step:
                body["webhookEvent"] = "jira:issue_updated"
        else:
            body["ticket"].update(description=text, updated_at=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            if step:
                body["event"] = "updated" if vendor == "zendesk" else "Ticket is updated"
                body["ticket"]["status"] = "open" if vendor == "zendesk" else "Open"
        return json.dumps(body).encode()

    def send(self, vendor: str, ticket: str, body: bytes, http: httpx.Client, deadline: float = 120.0) -> Sent:
        """POST as a vendor does: the same delivery again until it is acknowledged (2xx)."""
        headers = self.connectors[vendor].signed_headers(self.secret, body, datetime.now(timezone.utc))
        delivery = next((v for k, v in headers.items() if k.lower() in (
            "x-zendesk-webhook-invocation-id", "x-atlassian-webhook-identifier")), "")
        give_up = time.monotonic() + deadline
        while True:
            try:
                if vendor == "zendesk":  # a retry is signed again with a fresh timestamp, same invocation id
                    headers = {**self.connectors[vendor].signed_headers(self.secret, body, datetime.now(timezone.utc)),
                               "X-Zendesk-Webhook-Invocation-Id": delivery}
                answer = http.post(f"{self.url}/webhooks/{vendor}", content=body, headers=headers)
                if answer.status_code in (200, 202):
                    return Sent(vendor, ticket, answer.json().get("delivery_id", delivery), answer.status_code)
                if answer.status_code < 500:
                    raise RuntimeError(f"{vendor} webhook refused: {answer.status_code} {answer.text[:200]}")
            except httpx.TransportError:
                pass
            if time.monotonic() > give_up:
                raise RuntimeError(f"{vendor} webhook for {ticket} never acknowledged")
            time.sleep(0.2)

    # --- outcome ----------------------------------------------------------

    def wait_drained(self, timeout: float, poll: float = 0.5) -> bool:
        """True once no event and no write is left to do (timers may wait: they are in the future), looking
        every ``poll`` seconds.

        The moment is kept: a timer that falls due afterwards makes new work, which :meth:`report` does not
        count as left undone. It must hold at two looks in a row: a row is stamped when its transaction
        starts (a fired timer's event with the firing time), so one stamped before the first look may
        commit just after it."""
        deadline, clean_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            seen_at = time.time()
            if not self.store.work_left():
                if clean_since is not None:
                    self.drained_at = clean_since
                    return True
                clean_since = seen_at
            else:
                clean_since = None
            time.sleep(poll)
        return False

    def report(self, sent: list[Sent]) -> Report:
        drained = self.drained_at
        inbox = self.store.rows("inbox")
        decided = Counter((r["vendor"], r["delivery_id"]) for r in self.store.rows("audit", kind="decision"))
        accepted = {(s.vendor, s.delivery) for s in sent if s.status == 202}
        stored = {(r["vendor"], r["delivery_id"]) for r in inbox}
        outbox = Counter(r["status"] for r in self.store.rows("outbox") if r["created_at"] <= drained)
        comments = Counter()
        for fake in self.fakes.values():
            for request in fake.writes():
                if 200 <= request.status < 300:
                    comments.update(MARKER.findall(json.dumps(request.body)))
        lines = [line for path in sorted(self.folder.glob("*.log")) for line in path.read_text(errors="replace")
                 .splitlines()]
        return Report(
            accepted=sum(1 for s in sent if s.status == 202),
            duplicates_answered=sum(1 for s in sent if s.status == 200),
            decided=sum(1 for r in inbox if r["status"] == "done" and not r["delivery_id"].startswith("timer:")),
            decided_twice=sum(1 for d, n in decided.items() if n > 1),
            decided_twice_ids=[f"{v}:{d}" for (v, d), n in decided.items() if n > 1],
            undecided=len(accepted - stored) + sum(1 for r in inbox if r["status"] != "done"
                                                   and r["received_at"] <= drained),
            writes_pending=outbox["pending"] + outbox["sending"],
            writes_dead=outbox["dead"],
            comments_posted=sum(comments.values()),
            comments_posted_twice=sum(1 for n in comments.values() if n > 1),
            order_violations=self._order_violations(inbox),
            timers_pending=self.store.counts()["timers"].get("pending", 0),
            log_lines=len(lines),
            phi_in_logs=[line for line in lines if any(p in line for p in PHI)],
            tracebacks=[line for line in lines if line.startswith("Traceback")],
            failed_events=[line for line in lines if "slabridge.worker: event " in line and " failed (" in line],
        )

    def _order_violations(self, inbox: list[dict]) -> int:
        """Tickets whose events were decided (in audit order) out of their arrival (inbox) order."""
        arrival = {(r["vendor"], r["delivery_id"]): r["id"] for r in inbox}
        seen: dict[tuple[str, str], int] = {}
        violations = 0
        for row in self.store.rows("audit", kind="decision"):  # in commit order
            position = arrival.get((row["vendor"], row["delivery_id"]))
            key = (row["vendor"], row["ticket_id"])
            if position is None:
                continue
            if position < seen.get(key, 0):
                violations += 1
            seen[key] = max(position, seen.get(key, 0))
        return violations


def _kill(process: subprocess.Popen | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # the whole session: gunicorn's master and its workers
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
