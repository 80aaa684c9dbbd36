"""The vendor clients' transport (``slabridge.transport``): keep-alive, TLS, proxies and httpx's errors,
against real HTTP servers on loopback."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from slabridge.config import VendorSettings
from slabridge.connectors import tls_context
from slabridge.plugins import Plugins
from slabridge.transport import KeepAliveTransport, _read_answer, _serialized, vendor_transport
from slabridge.vendorapi import StatelessClient, Unreachable, VendorClient


class Answering(BaseHTTPRequestHandler):
    """Echoes each request as JSON; ``server.mode`` makes it misbehave."""

    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # an answer in one write

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self):
        self.answer()

    def do_PUT(self):
        self.answer()

    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = self.server.mode
        if mode == "silent":
            time.sleep(1)
            self.close_connection = True
            return
        if mode == "garbage":
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
            self.close_connection = True
            return
        payload = json.dumps({"method": self.command, "path": self.path, "headers": list(self.headers.items()),
                              "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode in ("gzip", "chunked gzip"):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        if mode == "chunked gzip":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(payload), 40):
                part = payload[start:start + 40]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if mode == "hang up":  # closes after answering, without having said so (a keep-alive timeout)
            self.close_connection = True

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    """Counts the connections it accepted and those it has closed."""

    daemon_threads = True
    mode, connections, closed = "echo", 0, 0

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Answering)
        self.lock = threading.Lock()

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self.lock:
            self.closed += 1

    def wait_closed(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while self.closed < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.closed >= count, f"the server closed {self.closed} connections, not {count}"


@pytest.fixture
def server():
    started = Server()
    threading.Thread(target=started.serve_forever, daemon=True).start()
    yield started
    started.shutdown()
    started.server_close()


def client_of(url: str, context: ssl.SSLContext | None = None, timeout: float = 5.0) -> StatelessClient:
    return StatelessClient(base_url=url, auth=("agent@example.com", "token"), timeout=timeout,
                           headers={"User-Agent": "slabridge"}, transport=KeepAliveTransport(context or tls_context()))


def url_of(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_requests_go_over_one_kept_alive_connection_with_each_header_once(server):
    with client_of(url_of(server)) as client:
        answers = [client.put("/api/v2/tickets/7", params={"a": "b c"}, json={"n": n}).json() for n in range(5)]
    assert server.connections == 1
    assert [json.loads(a["body"]) for a in answers] == [{"n": n} for n in range(5)]
    assert answers[0]["method"] == "PUT" and answers[0]["path"] == "/api/v2/tickets/7?a=b+c"
    names = [name.lower() for name, _ in answers[0]["headers"]]
    assert sorted(names) == sorted(set(names)), names  # http.client adds no second Host or Accept-Encoding
    headers = {name.lower(): value for name, value in answers[0]["headers"]}
    assert headers["host"] == f"127.0.0.1:{server.server_address[1]}"
    assert headers["authorization"].startswith("Basic ") and headers["user-agent"] == "slabridge"
    assert headers["content-type"] == "application/json" and int(headers["content-length"]) == len(answers[0]["body"])


def test_a_connection_the_server_closed_is_dropped_not_written_to(server):
    server.mode = "hang up"
    with client_of(url_of(server)) as client:
        for n in range(4):
            assert client.get(f"/t/{n}").json()["path"] == f"/t/{n}"
            server.wait_closed(n + 1)  # the server's close arrives before the next request
    assert server.connections == 4


def test_threads_share_the_idle_connections(server):
    with client_of(url_of(server)) as client, ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda n: client.get(f"/t/{n}").json()["path"], range(80)))
    assert paths == [f"/t/{n}" for n in range(80)]
    assert server.connections <= 8


@pytest.mark.parametrize("mode", ["gzip", "chunked gzip"])
def test_a_compressed_or_chunked_answer_is_decoded(server, mode):
    server.mode = mode
    with client_of(url_of(server)) as client:
        assert [client.get(f"/t/{n}").json()["path"] for n in range(3)] == ["/t/0", "/t/1", "/t/2"]
    assert server.connections == 1  # a chunked answer read to its end leaves the connection reusable


def test_failures_are_httpx_errors_the_vendor_client_retries(server):
    server.mode = "silent"
    with client_of(url_of(server), timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/t/1")
        with pytest.raises(Unreachable, match="timed out"):
            VendorClient(client, max_retries=1, sleep=lambda _: None).request("GET", "/t/1")
    server.mode = "garbage"
    with client_of(url_of(server)) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/t/1")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with client_of(f"http://127.0.0.1:{port}") as client, pytest.raises(httpx.ConnectError):
        client.get("/t/1")
    with client_of(url_of(server)) as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/t/1")


def test_tls_verifies_the_certificate_and_the_host(server, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert, key)
    server.socket = serving.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    trusting = ssl.create_default_context(cafile=str(cert))
    with client_of(url, trusting) as client:
        assert [client.get(f"/t/{n}").json()["path"] for n in range(3)] == ["/t/0", "/t/1", "/t/2"]
    assert server.connections == 1
    with client_of(url) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get("/t/1")  # certifi's authorities do not know this certificate
    with client_of(url.replace("127.0.0.1", "localhost"), trusting) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|match"):
            client.get("/t/1")  # the certificate names 127.0.0.1, not localhost


def test_a_vendor_behind_a_proxy_keeps_httpx_own_transport(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert vendor_transport("https://acme.zendesk.com", tls_context()) is None
    assert isinstance(vendor_transport("http://127.0.0.1:9000", tls_context()), KeepAliveTransport)  # http: no proxy
    connector = Plugins().connectors["zendesk"]
    proxied = connector.http_client(VendorSettings(base_url="https://acme.zendesk.com"))
    assert not isinstance(proxied._transport_for_url(httpx.URL("https://acme.zendesk.com/api/v2/tickets/1")),
                          KeepAliveTransport)
    monkeypatch.setenv("NO_PROXY", "acme.zendesk.com")
    direct = connector.http_client(VendorSettings(base_url="https://acme.zendesk.com"))
    assert isinstance(direct._transport_for_url(httpx.URL("https://acme.zendesk.com/api/v2/tickets/1")),
                      KeepAliveTransport)


def test_a_request_is_written_whole_in_one_piece():
    body = b'{"ticket": {"tags": ["a"]}}'
    headers = [(b"Host", b"x.example"), (b"Content-Length", str(len(body)).encode())]
    assert _serialized("PUT", b"/api/v2/tickets/7.json?a=b", headers, body) == (
        b"PUT /api/v2/tickets/7.json?a=b HTTP/1.1\r\nHost: x.example\r\nContent-Length: 27\r\n\r\n" + body)
    assert _serialized("GET", b"/t", [(b"Host", b"x")], b"") == b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("headers, where", [
    ({"X-Note": "ok\r\nX-Smuggled: 1"}, "X-Note"),  # a value that would add a header of its own
    ({"X-Note": "cut\x00here"}, "X-Note"),
    ({"Bad Name": "1"}, "Bad Name"),
])
def test_a_header_that_would_bend_the_request_is_refused_before_anything_is_sent(server, headers, where):
    slept = []
    with client_of(url_of(server)) as client:
        with pytest.raises(ValueError, match=f"the header '{where}' cannot be sent"):
            client.get("/t/1", headers=headers)
        with pytest.raises(ValueError):  # not a network failure: the vendor client does not retry it
            VendorClient(client, sleep=slept.append).request("GET", "/t/1", headers=headers)
        assert client.get("/t/2").json()["path"] == "/t/2"  # the client is fine afterwards
    assert slept == [] and server.connections == 1


@pytest.mark.parametrize("base", ["https://acme.zendesk.com", "https://acme.example/jira/", "https://acme.example/sub"])
@pytest.mark.parametrize("url", ["/api/v2/tickets/7.json", "api/v2/tickets/7.json?a=b c", "/rest/api/3/issue/X-1#frag",
                                 "//other.example/x", "https://elsewhere.example/y", "/t/%41 ü", ""])
def test_the_kept_url_merge_is_httpx_own(base, url):
    kept, plain = StatelessClient(base_url=base), httpx.Client(base_url=base)
    for _ in range(2):  # the first merge is made, the second is the kept one
        assert kept.build_request("GET", url).url == plain.build_request("GET", url).url


def test_the_kept_merges_follow_a_new_base_url_and_stay_bounded():
    client = StatelessClient(base_url="https://one.example/api/")
    assert str(client.build_request("GET", "/t/1").url) == "https://one.example/api/t/1"
    client.base_url = "https://two.example"
    assert str(client.build_request("GET", "/t/1").url) == "https://two.example/t/1"
    for n in range(StatelessClient.MERGED_URLS + 10):
        client.build_request("GET", f"/t/{n}")
    assert len(client._merged[1]) <= StatelessClient.MERGED_URLS
    assert str(client.build_request("GET", "/t/5").url) == "https://two.example/t/5"


class Scripted:
    """A raw server on loopback that answers each request with the next scripted bytes (closing the
    connection after it where the script says so): answers that no well-behaved library would send."""

    def __init__(self, answers: list[tuple[bytes, bool]]):
        self.answers, self.connections = list(answers), 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while self.answers:
            connection, _ = self.listener.accept()
            self.connections += 1
            with connection:
                while self.answers:
                    request = b""
                    while b"\r\n\r\n" not in request and (received := connection.recv(65536)):
                        request += received
                    if not request:  # the client closed it
                        break
                    answer, close = self.answers.pop(0)
                    connection.sendall(answer)
                    if close:
                        break


def test_answers_are_framed_as_http_1_1_says():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Folded: one\r\n two\r\n\r\n"
               b"4;ext=1\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n")
    server = Scripted([
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", False),
        (chunked, False),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", False),  # a HEAD: the length is not followed by a body
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]", False),  # 1.0 without keep-alive: closed after it
        (b"HTTP/1.1 200 OK\r\n\r\nto the close", True),  # no length: the body runs to the close
        (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", True),
    ])
    with client_of(server.url) as client:
        first = client.post("/t", content=b"x")
        assert (first.status_code, first.json(), first.reason_phrase) == (201, {}, "Created")
        second = client.get("/t")
        assert second.json() == {"a": 1} and second.headers["X-Folded"] == "one two"
        assert client.get("/t").status_code == 204
        assert client.head("/t").content == b""
        assert client.get("/t").json() == []
        assert client.get("/t").content == b"to the close"
        assert client.get("/t").headers["Retry-After"] == "7"
    assert server.connections == 3  # one for the first five (the HTTP/1.0 answer closes it), one per close after


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # closed before the body's end
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # closed inside a chunk
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",  # closed inside the head
    b"HTTP/2 200\r\n\r\n",
    b"",  # closed without a word
])
def test_a_malformed_answer_is_a_protocol_error_and_its_connection_is_dropped(answer):
    server = Scripted([(answer, True), (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", True)])
    with client_of(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/t")
        assert client.get("/t").json() == {}  # on a new connection
    assert server.connections == 2


@pytest.mark.parametrize("head, body", [
    (b"Content-Length: %d\r\n", b""),  # announced too long: refused before reading it
    (b"Transfer-Encoding: chunked\r\n", b"%x\r\n"),  # a chunk too long
    (b"", b"x" * 2048),  # no length, and more than the bound before the close
])
def test_an_answer_longer_than_the_bound_is_not_read(monkeypatch, head, body):
    monkeypatch.setattr("slabridge.transport.MAX_BODY", 1024)
    head, body = (head % 1025 if b"%" in head else head), (body % 1025 if b"%" in body else body)
    server = Scripted([(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + body, True),
                       (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", True)])
    with client_of(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="more than 1024 bytes"):
            client.get("/t")
        assert client.get("/t").json() == {}


def _answer_bytes(draw) -> tuple[str, bytes]:
    """A well-formed answer as a server may frame it, and the method it answers."""
    method = draw(st.sampled_from(["GET", "PUT", "POST", "HEAD"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    status = draw(st.sampled_from([200, 201, 204, 304, 400, 404, 409, 429, 500, 503]))
    names = st.sampled_from(["Content-Type", "Retry-After", "X-Request-Id", "Date", "Server", "ETag"]).flatmap(
        lambda name: st.sampled_from([name, name.lower(), name.upper()]))
    value = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
    fields = draw(st.lists(st.tuples(names, value), max_size=5))
    connection = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive"]))
    if connection:
        fields.append(("Connection", connection))
    body = draw(st.binary(max_size=600))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    no_body = method == "HEAD" or status in (204, 304)
    if framing == "length" or no_body:  # (http.client would read chunks after a HEAD, a 204 or a 304)
        fields.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
    wire = b""
    if not no_body:
        if framing == "chunked":
            cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
            parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]
            wire = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
        else:
            wire = body
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else b""
    head = "".join(f"{name}: {text}\r\n" for name, text in fields)
    return method, interim + f"{version} {status} Reason Here\r\n{head}\r\n".encode() + wire


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_reader_reads_every_answer_as_http_client_does(data):
    method, wire = _answer_bytes(data.draw)
    oracle = http.client.HTTPResponse(_Canned(wire), method=method)
    oracle.begin()
    expected = (oracle.status, [(k.lower(), v) for k, v in oracle.getheaders()], oracle.read(), oracle.will_close)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(wire)
        theirs.shutdown(socket.SHUT_WR)  # an answer framed by the close ends here
        status, _reason, fields, body, closing = _read_answer(ours, method)
    assert (status, [(k.decode().lower(), v.decode()) for k, v in fields], body, closing) == expected


class _Canned:
    """What http.client.HTTPResponse reads an answer from."""

    def __init__(self, wire: bytes):
        self.wire = wire

    def makefile(self, mode: str):
        return io.BytesIO(self.wire)


class _Recording:
    """A socket that keeps what http.client sends."""

    def __init__(self):
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
       target=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
       headers=st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
                                  st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
                                  .map(str.strip)), max_size=6),
       body=st.binary(max_size=200))
def test_a_request_is_the_bytes_http_client_would_send(method, target, headers, body):
    raw = [(name.encode(), value.encode()) for name, value in headers]
    connection = http.client.HTTPConnection("vendor.example")
    connection.sock = _Recording()
    connection.putrequest(method, "/" + target, skip_host=True, skip_accept_encoding=True)
    for name, value in raw:
        connection.putheader(name, value)
    connection.endheaders(body or None)
    assert _serialized(method, b"/" + target.encode(), raw, body) == connection.sock.sent


@pytest.mark.parametrize("request_bytes, says", [
    (b"GARBAGE\r\n\r\n", "not METHOD TARGET VERSION"),
    (b"GET /t HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "'nope' is not a number"),
    (b"PUT /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "by Content-Length only"),
])
def test_the_fake_vendor_answers_a_malformed_request_with_400_saying_why(request_bytes, says):
    from slabridge.testing.fakeapi import FakeAPI

    with FakeAPI("x", [("GET", r"/t", lambda api, match, body: (200, {"ok": True}))]) as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(request_bytes)
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ") and says.encode() in answer
        with client_of(fake.url) as client:
            assert client.get("/t").json() == {"ok": True}  # the fake serves on
