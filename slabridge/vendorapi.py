"""Talking to a vendor's REST API: one error hierarchy and one retry policy.

Connector clients subclass :class:`VendorClient` and call :meth:`request`.
Transient failures (429, 503 and other 5xx, connection errors, timeouts) are
retried with tenacity: ``Retry-After`` is honoured when the vendor sends it,
otherwise exponential backoff with jitter. A wait longer than ``max_inline_wait``
is not slept in-process; the error goes up so the outbox can reschedule the
row for later. Other 4xx are final.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timezone
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .models import Action, InternalNote, PublicReply, TicketRef

MAX_INLINE_WAIT = 10.0  # seconds of Retry-After slept in-process; longer waits go back to the outbox
COMMENTS = (InternalNote, PublicReply)  # the writes that are not idempotent: a second send posts twice


class _NoCookies(httpx.Cookies):
    """Always empty: a response's cookies are not kept."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise ValueError("a vendor client keeps no cookies: each request carries its own credentials")


_NO_COOKIES = _NoCookies()


class StatelessClient(httpx.Client):
    """An ``httpx.Client`` that keeps no cookies: every request authenticates with the vendor's
    credentials alone. A vendor's edge sets cookies (Cloudflare's ``__cfruid`` in front of Zendesk, a
    session in Jira's answers); sending them back buys nothing, a session could outlive a rotated
    token, and keeping them cost a third of the client's time per request. It also keeps the URLs it
    merged with ``base_url`` (:meth:`_merge_url`)."""

    MERGED_URLS = 4096  # relative URLs whose merge with ``base_url`` is kept

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._merged: tuple[httpx.URL, dict[str, httpx.URL]] = (self.base_url, {})

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("a vendor client keeps no cookies: each request carries its own credentials")

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        """httpx's merge of ``url`` with ``base_url``, kept per URL text: a connector asks for the same few
        paths per ticket, and each merge parses two URLs (~15 µs). Kept only for the base URL it was made
        with; a full table is emptied."""
        if not isinstance(url, str):
            return super()._merge_url(url)
        base, merged = self._merged
        if base is not self.base_url:  # set anew since
            merged = {}
            self._merged = (self.base_url, merged)
        found = merged.get(url)
        if found is None:
            if len(merged) >= self.MERGED_URLS:
                merged.clear()
            found = merged[url] = super()._merge_url(url)
        return found


class VendorError(Exception):
    """A vendor API call failed. ``retryable`` says if trying later may help."""

    retryable = False

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RateLimited(VendorError):
    retryable = True


class ServerError(VendorError):
    retryable = True


class Unreachable(VendorError):
    retryable = True


class Conflict(VendorError):
    pass


class NotFound(VendorError):
    pass


class Unauthorized(VendorError):
    pass


class BadRequest(VendorError):
    pass


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def error_for(response: httpx.Response) -> VendorError:
    """The typed error for a failed response, with the vendor's own text."""
    status = response.status_code
    text = f"{response.request.method} {response.request.url.path} -> {status}: {response.text[:500]}"
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    kind = {401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict, 429: RateLimited}.get(
        status, ServerError if status >= 500 else BadRequest
    )
    return kind(text, status=status, retry_after=retry_after)


def as_text(value: Any) -> str | None:
    """A look-up answer's field as text (ids may come as numbers), or None: vendor data never reaches a
    model unchecked."""
    if isinstance(value, bool) or value is None:
        return None
    return str(value)[:1000] if isinstance(value, (str, int)) else None


# Between attempts of an outbox row (minutes apart, across worker restarts): exponential from 2 s,
# capped at 5 minutes, with jitter so that rows failing together do not retry together.
OUTBOX_BACKOFF = wait_exponential_jitter(multiplier=2, exp_base=2, max=300, jitter=2)


def outbox_wait(attempt: int) -> float:
    """The wait before attempt ``attempt + 1`` of an outbox row, by :data:`OUTBOX_BACKOFF`."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = max(1, attempt)
    return OUTBOX_BACKOFF(state)


def marker(write_key: str) -> str:
    """The reference a note or reply carries so that a re-send can tell it was already posted."""
    return f"[ref sb-{write_key}]"


def numeric_id(value: str, vendor: str, what: str, fix: str) -> int:
    """A vendor id for an action; BadRequest (a dead letter that says how to fix it) when there is none."""
    if str(value).isdigit():
        return int(value)
    raise BadRequest(f"{what} {value!r} is not a {vendor} id: {fix}")


class Throttle:
    """A vendor's request budget in this process: at most ``per_minute`` requests a minute (a token
    bucket refilled continuously) and ``concurrency`` at once; shared by every client of the vendor."""

    _shared: dict[str, "Throttle"] = {}
    _lock = threading.Lock()

    def __init__(self, per_minute: int | None, concurrency: int | None, clock=time.monotonic, sleep=time.sleep):
        self.per_minute, self.clock, self.sleep = per_minute, clock, sleep
        self.tokens = float(per_minute or 0)
        self.refilled = clock()
        self.slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self.lock = threading.Lock()

    @classmethod
    def for_vendor(cls, vendor: str, per_minute: int | None, concurrency: int | None) -> "Throttle":
        with cls._lock:
            found = cls._shared.get(vendor)
            if found is None or (found.per_minute, found.slots is not None) != (per_minute, bool(concurrency)):
                found = cls._shared[vendor] = cls(per_minute, concurrency)
            return found

    def take(self) -> None:
        """Wait for a token (no wait without a budget)."""
        if not self.per_minute:
            return
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.per_minute, self.tokens + (now - self.refilled) * self.per_minute / 60)
                self.refilled = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) * 60 / self.per_minute
            self.sleep(wait)


class VendorClient:
    """Base for connector clients: an injected ``httpx.Client`` plus the retry policy."""

    def __init__(self, http: httpx.Client, max_retries: int = 4, max_inline_wait: float = MAX_INLINE_WAIT,
                 sleep=time.sleep, throttle: Throttle | None = None):
        self.http = http
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self.sleep = sleep
        self.throttle = throttle or Throttle(None, None)
        self.on_rate_limited: Callable[[float], None] | None = None  # told how long a 429 asks to wait
        self._answers: deque[float] = deque(maxlen=16)  # how long its last requests took, in seconds

    @property
    def answer_seconds(self) -> float | None:
        """How long the vendor takes to answer: the fastest of its last 16 requests (None before the
        first). The fastest, because a busy machine or our own threads slow some answers, never all."""
        return min(tuple(self._answers), default=None)  # a copy: other threads append meanwhile

    def apply(self, ticket: TicketRef, action: Action) -> None:
        """Write one action back to the vendor. Connectors implement it."""
        raise NotImplementedError

    def joins(self, group: Sequence[Action], action: Action) -> bool:
        """Whether ``action`` can go in the same request as ``group`` (the actions before it of one
        decision for one ticket). By default never: each action is its own request. A connector whose
        API takes several changes at once says yes where one request carries them all, atomically,
        at most one note or reply among them, and implements :meth:`apply_together`."""
        return False

    def apply_together(self, ticket: TicketRef, actions: Sequence[Action]) -> None:
        """Write actions that :meth:`joins` accepted together, in one request."""
        if len(actions) != 1:
            raise NotImplementedError(f"{type(self).__name__} joins no actions")
        self.apply(ticket, actions[0])

    def requests_for(self, actions: Sequence[Action]) -> list[list[int]]:
        """One decision's writes to one ticket, in order, cut into requests: lists of positions."""
        groups: list[list[int]] = []
        for position, action in enumerate(actions):
            if groups and self.joins([actions[i] for i in groups[-1]], action):
                groups[-1].append(position)
            else:
                groups.append([position])
        return groups

    def deliver(self, ticket: TicketRef, actions: Sequence[Action], write_keys: Sequence[str],
                maybe_sent: bool, changed_at: float | None = None) -> bool:
        """Apply ``actions`` (one request: one action, or several :meth:`joins` accepted) once: a note or
        reply carries its write's marker, and when an earlier attempt may have reached the vendor
        (``maybe_sent``) the ticket is searched for the marker first. False if it was found there:
        the request that carried it got through, all of it (nothing sent now). ``changed_at``: when the
        ticket last changed, as the event these writes answer said (see :meth:`changed_since`)."""
        if changed_at is not None:
            self.changed_since(ticket, changed_at)
        marked = []
        for action, write_key in zip(actions, write_keys, strict=True):
            if isinstance(action, COMMENTS):
                mark = marker(write_key)
                if maybe_sent and self.has_comment(ticket, mark):
                    return False
                action = action.model_copy(update={"body": f"{action.body}\n\n{mark}"})
            marked.append(action)
        self.apply_together(ticket, marked)
        return True

    def changed_since(self, ticket: TicketRef, at: float) -> None:
        """The ticket changed at ``at`` (epoch seconds; by anyone, slabridge too): what the client remembers of
        it from before then is stale. A connector that keeps a ticket's state between its writes (an update
        stamp, a tag list) forgets it here, so its next write reads the ticket first rather than being
        refused for a stale stamp. By default nothing is remembered."""

    def has_comment(self, ticket: TicketRef, text: str) -> bool:
        """Whether a recent comment of the ticket contains ``text``. Connectors implement it; without it a
        note or reply whose first attempt was cut off may be posted twice (at-least-once)."""
        return False

    def look_up(self, kind: str, key: str) -> dict[str, Any] | None:
        """What the vendor knows of ``kind`` ``key`` (a user, an organization, a ticket), for the
        connector's ``enrich``; None if the vendor does not know it. Connectors implement it."""
        raise BadRequest(f"this connector makes no {kind} look-ups")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; return the successful response or raise a VendorError.

        The first attempt is made directly (most succeed, and a tenacity ``Retrying`` costs more to build
        and run than the rest of a request's own bookkeeping); after a failure the retry policy takes over
        from it, as if it had made that attempt itself."""
        try:
            return self._send(method, url, **kwargs)
        except VendorError as exc:
            if not self._retry_now(exc) or self.max_retries < 1:
                raise
            failed = [exc]

        def attempt(*args: Any, **kwargs: Any) -> httpx.Response:
            if failed:  # the policy's first attempt: the one already made
                raise failed.pop()
            return self._send(*args, **kwargs)
        retrying = Retrying(
            retry=retry_if_exception(self._retry_now),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt, method, url, **kwargs)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.throttle.take()
        try:
            if self.throttle.slots:
                with self.throttle.slots:
                    response = self._timed(method, url, **kwargs)
            else:
                response = self._timed(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"{method} {url}: timed out ({exc.__class__.__name__})") from exc
        except httpx.TransportError as exc:
            raise Unreachable(f"{method} {url}: {exc.__class__.__name__}: {exc}") from exc
        if response.is_success:
            return response
        error = error_for(response)
        if error.status == 429 and error.retry_after is not None and self.on_rate_limited:
            self.on_rate_limited(error.retry_after)
        raise error

    def _timed(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The request, its time kept for :attr:`answer_seconds` (from when it may go: a throttle's wait is
        not the vendor's)."""
        started = time.perf_counter()
        try:
            return self.http.request(method, url, **kwargs)
        finally:
            self._answers.append(time.perf_counter() - started)

    def _retry_now(self, exc: BaseException) -> bool:
        if not isinstance(exc, VendorError) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_inline_wait

    _backoff = wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.5)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, VendorError) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(state)
