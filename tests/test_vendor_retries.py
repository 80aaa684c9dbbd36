"""VendorClient.request: the first attempt is made directly, then the retry policy takes over from it."""

import httpx
import pytest

from slabridge.vendorapi import BadRequest, ServerError, VendorClient


def client_answering(*statuses: int, max_retries: int, headers: dict | None = None):
    """A client whose vendor answers ``statuses`` in turn (200 after them), and the seconds it slept."""
    answers, seen, slept = list(statuses), [], []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        status = answers.pop(0) if answers else 200
        return httpx.Response(status, headers=headers or {}, json={"n": len(seen)})
    http = httpx.Client(base_url="https://vendor.example", transport=httpx.MockTransport(answer))
    return VendorClient(http, max_retries=max_retries, sleep=slept.append), seen, slept


def test_a_first_attempt_that_succeeds_is_one_request_and_no_wait():
    client, seen, slept = client_answering(max_retries=3)
    assert client.request("GET", "/t/1").json() == {"n": 1} and seen == ["GET"] and slept == []


def test_after_a_failed_first_attempt_the_backoff_counts_on_from_it():
    """Attempt numbers run on: the waits grow as the policy says (0.5 s × 2^(n-1), plus up to 0.5 s of
    jitter), the second wait is not the first one again."""
    client, seen, slept = client_answering(503, 503, max_retries=2)
    assert client.request("PUT", "/t/1", json={"a": 1}).json() == {"n": 3} and len(seen) == 3
    assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 1.5


def test_the_attempts_stop_at_max_retries_plus_one_with_the_vendors_error():
    client, seen, slept = client_answering(503, 503, 503, 503, max_retries=2)
    with pytest.raises(ServerError):
        client.request("GET", "/t/1")
    assert len(seen) == 3 and len(slept) == 2
    client, seen, slept = client_answering(503, max_retries=0)
    with pytest.raises(ServerError):
        client.request("GET", "/t/1")
    assert len(seen) == 1 and slept == []


def test_a_final_error_is_not_retried_and_retry_after_is_waited():
    client, seen, slept = client_answering(400, max_retries=3)
    with pytest.raises(BadRequest):
        client.request("GET", "/t/1")
    assert len(seen) == 1 and slept == []
    client, seen, slept = client_answering(429, max_retries=3, headers={"Retry-After": "3"})
    assert client.request("GET", "/t/1").json() == {"n": 2} and slept == [3.0]
