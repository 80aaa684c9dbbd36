"""The connector interface every helpdesk plugin implements.

A connector is verify-then-parse for incoming webhooks (pure functions of the
headers and the raw body) plus a factory for its write-back client. It is the
only code that sees vendor dictionaries; everything it hands on is a model.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import re
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import certifi
import httpx
from pydantic import ValidationError

from .config import VendorSettings
from .models import TicketEvent
from .timeparse import OUT_OF_RANGE, computable, parse_instant
from .transport import vendor_transport
from .vendorapi import StatelessClient, VendorClient


class WebhookRejected(Exception):
    """The webhook is refused. ``status`` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WebhookRequest:
    """What the receiver got: headers (case-insensitive) and the raw body."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class OptionError(ValueError):
    """A connector option in the configuration has a value the connector cannot use: the operator's to mend,
    not the sender's fault."""


class Connector(ABC):
    """One helpdesk. Subclasses set ``name`` and implement the three methods.

    ``options`` declares what ``vendors.<name>.options`` may hold: each key and the type its value must have
    (``slabridge check`` reports any other key, and a value of another type); None leaves them unchecked.
    Read them with :meth:`option`.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    options: ClassVar[dict[str, type | tuple[str, ...]] | None] = None

    def option(self, settings: VendorSettings, key: str, default=None):
        """Option ``key`` as its declared type, or ``default`` if unset; :class:`OptionError` saying where and
        what if its value is not of that type."""
        value = settings.options.get(key)
        if value is None:
            return default
        problem = option_problem(self.options.get(key) if self.options else None, value)
        if problem:
            raise OptionError(f"vendors.{self.name}.options.{key}: {problem}")
        return value

    def option_problems(self, settings: VendorSettings) -> list[str]:
        """Each option key not declared in ``options`` and each value not of its type (``slabridge check``)."""
        if self.options is None:
            return []
        found = []
        for key, value in settings.options.items():
            where = f"vendors.{self.name}.options.{key}"
            if key not in self.options:
                found.append(f"{where}: not an option of {self.name} (its options: {', '.join(sorted(self.options))})")
            elif problem := option_problem(self.options[key], value):
                found.append(f"{where}: {problem}")
        return found

    @abstractmethod
    def verify(self, request: WebhookRequest, settings: VendorSettings) -> None:
        """Raise :class:`WebhookRejected` (401) unless the request is authentic."""

    @abstractmethod
    def parse(self, request: WebhookRequest, settings: VendorSettings) -> TicketEvent:
        """Turn a verified webhook into a TicketEvent; raise WebhookRejected (422) if malformed."""

    @abstractmethod
    def event_from(self, payload: dict, delivery_id: str, received_at: datetime,
                   settings: VendorSettings) -> TicketEvent:
        """The TicketEvent of a webhook body already decoded (``parse`` and ``replay`` use it)."""

    @abstractmethod
    def client(self, settings: VendorSettings, http: httpx.Client) -> VendorClient:
        """A write-back client over the given HTTP client."""

    def recognizes(self, payload: dict) -> bool | None:
        """Whether a decoded body has this vendor's marks (True), another shape (False), or no telling
        (None); ``replay --vendor`` refuses a body that another connector recognizes and this one does not."""
        return None

    def group_problem(self, settings: VendorSettings, group: str) -> str | None:
        """Why a contract's group name cannot be routed to on this vendor (``slabridge check``), or None."""
        return None

    def ticket_url(self, settings: VendorSettings, ticket_id: str) -> str | None:
        """Where an agent opens the ticket in the vendor's own UI (the console links to it), or None."""
        return None

    def enrich(self, event: TicketEvent, lookups, settings: VendorSettings) -> TicketEvent:
        """Fill what the rules need and the webhook left out, from ``lookups`` (a
        :class:`slabridge.lookups.Lookups`); raise its ``LookupNeeded`` on a miss. Pure:
        the worker makes the look-up with the client's ``look_up`` and calls again."""
        return event

    def fake_api(self):
        """A :class:`slabridge.testing.fakeapi.FakeAPI` imitating this vendor, from the package's ``fake`` module."""
        return self._fake_module().fake_api()

    def sample_webhook(self, secret: str, ticket_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
        """Headers and raw body of a signed sample webhook, from the package's ``fake`` module."""
        return self._fake_module().sample_webhook(secret, ticket_id, now)

    def signed_headers(self, secret: str, body: bytes, now: datetime) -> dict[str, str]:
        """Headers that make ``body`` an authentic webhook, from the package's ``fake`` module."""
        return self._fake_module().signed_headers(secret, body, now)

    def webhook_template(self, settings: VendorSettings, receiver_url: str) -> dict:
        """What an admin pastes into the helpdesk, from the package's ``template`` module."""
        return self._module("template").webhook_template(settings, receiver_url)

    def _fake_module(self):
        return self._module("fake")

    def _module(self, name: str):
        """The connector package's optional module ``name``; NotImplementedError if it has none."""
        package = type(self).__module__.rpartition(".")[0]
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            raise NotImplementedError(f"connector {self.name!r} ships no {name} module") from None

    def http_client(self, settings: VendorSettings) -> httpx.Client:
        """The httpx client for this vendor: base URL, credentials, timeouts, no cookies kept, its requests
        sent by :class:`~slabridge.transport.KeepAliveTransport` (unless a proxy is configured for it)."""
        user, token = settings.credential("username"), settings.credential("token")
        return StatelessClient(
            base_url=settings.base_url or "",
            auth=(user or "", token or "") if (user or token) else None,
            timeout=httpx.Timeout(settings.timeout_seconds),
            headers={"User-Agent": "slabridge"},
            verify=tls_context(),
            transport=vendor_transport(settings.base_url or "", tls_context()),
        )


def option_problem(kind: type | tuple[str, ...] | None, value) -> str | None:
    """Why ``value`` is not of option type ``kind`` (float: a number above zero; a tuple: one of its texts), or
    None."""
    if isinstance(kind, tuple):
        return None if value in kind else f"not one of {', '.join(kind)}"
    if kind is None or (kind is str and isinstance(value, str)) or (kind is dict and isinstance(value, dict)):
        return None
    if kind in (float, int) and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return None if kind is float or value == int(value) else "not a whole number"
    names = {float: "a number above zero", int: "a whole number above zero", str: "text", dict: "a table"}
    return f"not {names.get(kind, kind.__name__)}"


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The TLS settings every vendor client of this process shares: httpx's default (certificates verified
    against certifi's CA bundle), loaded once: each load holds the bundle, about 3 MiB."""
    return ssl.create_default_context(cafile=certifi.where())


def hmac_matches(secrets: list[bytes], message: bytes, presented: bytes, digest: str, encode) -> bool:
    """True if ``presented`` equals ``encode(HMAC(secret, message))`` for any secret.

    Every secret is tried, in constant time each, so that two secrets can be
    valid during a rotation.
    """
    ok = False
    for secret in secrets:
        expected = encode(hmac.new(secret, message, digest).digest())
        ok |= hmac.compare_digest(expected, presented)
    return ok


def content_hash(body: bytes) -> str:
    """A delivery id for vendors that send none."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(data: object) -> bool:
    import json

    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def json_problem(exc, line: bool = True) -> str:
    """What a ``json.JSONDecodeError`` found, and where: ``Unterminated string starting at line 1 column 9``
    (its own message may end in "at", which the position completes)."""
    where = f"line {exc.lineno} column {exc.colno}" if line else f"column {exc.colno}"
    return f"{exc.msg.removesuffix(' at')} at {where}"


def json_object(request: WebhookRequest) -> dict:
    """The body as a JSON object, or WebhookRejected(400) saying what is wrong."""
    import json

    try:
        data = json.loads(request.body)
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise WebhookRejected(400, f"body is not valid JSON: {json_problem(exc)}") from None
    except RecursionError:
        raise WebhookRejected(400, "body is not acceptable JSON: nested too deeply") from None
    except ValueError:  # e.g. an integer of more digits than Python converts
        raise WebhookRejected(400, "body is not acceptable JSON: a number is too large") from None
    if SURROGATE_ESCAPE.search(request.body) and _has_lone_surrogate(data):
        raise WebhookRejected(400, "body is not acceptable JSON: a \\u escape is a lone UTF-16 surrogate")
    if not isinstance(data, dict):
        raise WebhookRejected(422, f"body must be a JSON object, not {type(data).__name__}")
    return data


@contextmanager
def reading_event() -> Iterator[None]:
    """Around building the canonical event from a verified body: a value it cannot take becomes
    WebhookRejected(422) naming the field and the problem (never the value, which may hold PHI)."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        raise WebhookRejected(422, f"field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    except ValueError as exc:
        raise WebhookRejected(422, str(exc)) from None


def require(data: dict, path: str) -> object:
    """The value at a dotted path, or WebhookRejected(422) naming the missing key."""
    value: object = data
    walked = []
    for part in path.split("."):
        walked.append(part)
        if not isinstance(value, dict) or value.get(part) in (None, ""):
            raise WebhookRejected(422, f"missing required field {'.'.join(walked)}")
        value = value[part]
    return value


def has(data: object, path: str) -> bool:
    """True if the dotted path is present (even as null): a missing key means *unchanged*, not empty."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def absent_fields(data: dict, paths: Mapping[str, str]) -> tuple[str, ...]:
    """The TicketEvent fields (keys of ``paths``) whose vendor key (values) ``data`` does not carry."""
    return tuple(name for name, path in paths.items() if not has(data, path))


def checked_id(data: dict, path: str, pattern: "re.Pattern[str]", kind: str) -> str:
    """The ticket id at ``path``, refused (422) unless it has the vendor's form: it goes into API paths."""
    value = require(data, path)
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not pattern.fullmatch(text):
        raise WebhookRejected(422, f"field {path}: not a {kind}")
    return text


NUMERIC_ID = re.compile(r"[1-9][0-9]{0,19}")


def dig(data: object, path: str, default: object = None) -> object:
    """The value at a dotted path, or ``default`` where any step is missing."""
    for part in path.split("."):
        if not isinstance(data, dict) or data.get(part) is None:
            return default
        data = data[part]
    return data


def instant(value: object, where: str):
    """A webhook timestamp as aware UTC (one slabridge computes with), or WebhookRejected(422) naming the field."""
    try:
        when = parse_instant(value)
    except (TypeError, ValueError, OverflowError):
        raise WebhookRejected(422, f"field {where}: not an ISO-8601 timestamp") from None  # the value may be PHI
    if when is not None and not computable(when):
        raise WebhookRejected(422, f"field {where}: {OUT_OF_RANGE}")
    return when
