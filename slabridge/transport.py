"""An httpx transport on the standard library's sockets: the vendor clients' requests, cheaper.

``httpx`` stays the API every connector writes against (``Client``, ``Request``, ``Response``, auth,
timeouts, its errors); only the bytes on the wire go through this module instead of ``httpcore``
and ``h11``, whose pure-Python HTTP/1.1 state machine was most of a request's CPU (on loopback ~400 µs
a request through httpx's own transport). ``http.client`` opens the connections; a request is written
in one piece and its answer read by the small HTTP/1.1 reader below (``http.client``'s own request
and answer handling, its ``email`` header parser above all, cost ~60 % more per request).

What the transport owns, and how:

- **Keep-alive.** Each origin (scheme, host, port) keeps up to ``max_idle`` idle connections. A
  connection goes back only when its answer was read whole and the server did not say it will
  close; before one is used again it is polled, and one the server has closed (or that has
  anything unread on it) is dropped, not written to.
- **TLS.** ``https`` connections use the client's ``ssl.SSLContext`` (certificates and host names
  verified, as httpx's default does).
- **Proxies.** None: :func:`vendor_transport` gives a client this transport only where the
  environment names no proxy for the vendor's URL; a proxied vendor keeps httpx's own transport.
- **Errors** are httpx's: ``ConnectTimeout``/``ConnectError`` (TLS failures included),
  ``WriteTimeout``/``WriteError``, ``ReadTimeout``/``ReadError``, ``RemoteProtocolError``;
  a request is never sent twice by the transport (the vendor client's retry policy decides).
- **Bounds.** An answer's head is bounded as ``http.client`` bounds it, its body at ``MAX_BODY``: a
  longer one is a ``RemoteProtocolError``, not read into memory. A header that would split the
  request (a line break or NUL in a value, a name that is no token) is a ``ValueError``, as in
  ``http.client``: a bug to fix, not a network failure to retry.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import ssl
import threading
import urllib.parse
import urllib.request

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


class KeepAliveTransport(httpx.BaseTransport):
    """HTTP/1.1 over ``http.client`` connections kept alive per origin; thread-safe."""

    def __init__(self, ssl_context: ssl.SSLContext, max_idle: int = 16):
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"the request's URL has the scheme {url.scheme!r}, not http or https")
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or DEFAULT_PORTS[url.scheme])  # IDNA-encoded
        timeouts = request.extensions.get("timeout") or {}
        data = _serialized(request.method, url.raw_path, request.headers.raw, request.read())
        connection = self._idle_connection(origin) or self._connect(origin, timeouts.get("connect"))
        connection.sock.settimeout(timeouts.get("write"))
        try:
            connection.sock.sendall(data)
        except socket.timeout as exc:
            connection.close()
            raise httpx.WriteTimeout(str(exc) or "timed out writing the request", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise httpx.WriteError(str(exc) or exc.__class__.__name__, request=request) from exc
        try:
            connection.sock.settimeout(timeouts.get("read"))
            status, reason, headers, content, closing = _read_answer(connection.sock, request.method)
        except socket.timeout as exc:
            connection.close()
            raise httpx.ReadTimeout(str(exc) or "timed out reading the response", request=request) from exc
        except (http.client.HTTPException, ValueError) as exc:  # malformed, or closed before an answer
            connection.close()
            raise httpx.RemoteProtocolError(str(exc) or exc.__class__.__name__, request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ReadError(str(exc), request=request) from exc
        if closing:
            connection.close()
        else:
            self._put_back(origin, connection)
        return httpx.Response(status, headers=headers, content=content,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self.ssl_context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except socket.timeout as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:  # refused, unreachable, name unknown, TLS refused (ssl.SSLError)
            connection.close()
            raise httpx.ConnectError(f"{host}:{port}: {exc}") from exc
        return connection

    def _idle_connection(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        """An idle connection to ``origin`` that is still open, or None."""
        while True:
            with self._lock:
                connections = self._idle.get(origin)
                if not connections:
                    return None
                connection = connections.pop()
            if connection.sock is not None and not _readable(connection.sock):
                return connection
            connection.close()  # the server closed it (or sent what nobody asked for)

    def _put_back(self, origin: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            connections = self._idle.setdefault(origin, [])
            if len(connections) < self.max_idle:
                connections.append(connection)
                return
        connection.close()


_UNSAFE_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")  # what http.client refuses in a request's target
_UNSAFE_IN_VALUE = re.compile(rb"[\x00\r\n]")  # what would end a header line early, or smuggle one in
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # a header name (RFC 9110 token)


def _serialized(method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The request's bytes, head and body in one piece: one send, so the server reads it in one go (with
    ``http.client``'s own calls the body left in a second write, a second segment on the wire).
    Refuses (ValueError, as ``http.client`` does: not a network failure, so not retried) a control character
    in the target, a name that is no token, a line break or NUL in a value."""
    if not method.isalpha() or _UNSAFE_IN_TARGET.search(target):
        raise ValueError(f"the request line {method} {target!r} cannot be sent: the method must be letters, the "
                         "target without spaces or control characters")
    lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target)]
    for name, value in headers:
        if not _TOKEN.match(name):
            raise ValueError(f"the header {name.decode('latin-1')!r} cannot be sent: its name is not a token")
        if _UNSAFE_IN_VALUE.search(value):
            raise ValueError(f"the header {name.decode('latin-1')!r} cannot be sent: its value holds a line break "
                             "or NUL")
        lines.append(b"%s: %s" % (name, value))
    lines += (b"", body)
    return b"\r\n".join(lines)


_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
MAX_LINE, MAX_HEADERS = 65536, 100  # http.client's bounds on an answer's head
MAX_BODY = 64 * 1024 * 1024  # and on its body, which http.client leaves unbounded


def _read_answer(sock: socket.socket, method: str) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
    """The answer to a request just sent: status, reason, header fields, body (de-chunked), and whether
    the connection must be closed after it. Framed as RFC 9112 says (no body after HEAD, 1xx, 204, 304;
    chunked; Content-Length; else to the close). A malformed answer raises an ``http.client``
    exception (``HTTPException``). Read here rather than by ``http.client.HTTPResponse``, whose header
    parsing (the ``email`` package) was a fifth of a request's CPU."""
    with sock.makefile("rb") as reader:
        status = 100
        while 100 <= status < 200:  # interim answers (100 Continue, 103 Early Hints) are skipped
            version, status, reason = _status_line(reader)
            fields = _header_fields(reader)
        named = {name.lower(): value for name, value in fields}
        tokens = named.get(b"connection", b"").lower()
        closing = b"close" in tokens or (version == b"HTTP/1.0" and b"keep-alive" not in tokens)
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif b"chunked" in named.get(b"transfer-encoding", b"").lower():
            body = _dechunked(reader)
        elif b"content-length" in named:
            length = named[b"content-length"]
            if not length.strip().isdigit():
                raise http.client.HTTPException(f"Content-Length {length[:40]!r} is not a number")
            body = reader.read(_bounded(int(length)))
            if len(body) < int(length):
                raise http.client.IncompleteRead(body, int(length) - len(body))
        else:  # delimited by the close
            body, closing = reader.read(MAX_BODY + 1), True
            _bounded(len(body))
    return status, reason, fields, body, closing


def _bounded(size: int) -> int:
    """``size``, if an answer may be that long (a vendor's largest, a page of comments, is far less)."""
    if size > MAX_BODY:
        raise http.client.HTTPException(f"an answer of more than {MAX_BODY} bytes: not read")
    return size


def _status_line(reader) -> tuple[bytes, int, bytes]:
    line = reader.readline(MAX_LINE + 1)
    if not line:
        raise http.client.RemoteDisconnected("the server closed the connection without answering")
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit() or len(line) > MAX_LINE:
        raise http.client.BadStatusLine(repr(line[:80]))
    return version, int(code), reason.strip()


def _header_fields(reader) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    while (line := reader.readline(MAX_LINE + 1)) not in (b"\r\n", b"\n", b""):
        if len(line) > MAX_LINE or len(fields) >= MAX_HEADERS:
            raise http.client.HTTPException("the answer's head is longer than a vendor's ever is")
        if line[:1] in (b" ", b"\t") and fields:  # an obsolete folded line continues the one before
            name, value = fields.pop()
            fields.append((name, value + b" " + line.strip()))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise http.client.HTTPException(f"a malformed header line {line[:80]!r}")
        fields.append((name, value.strip()))
    if not line:
        raise http.client.IncompleteRead(b"")  # closed inside the head
    return fields


def _dechunked(reader) -> bytes:
    parts, total = [], 0
    while True:
        size = reader.readline(MAX_LINE + 1).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size):  # closed, or not a chunk size
            raise http.client.IncompleteRead(b"".join(parts))
        length = int(size, 16)
        if length == 0:
            _header_fields(reader)  # trailer fields, to the blank line
            return b"".join(parts)
        total = _bounded(total + length)
        part = reader.read(length)
        if len(part) < length or reader.read(2) != b"\r\n":
            raise http.client.IncompleteRead(b"".join(parts) + part)
        parts.append(part)


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server's close, or bytes nobody asked for."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def vendor_transport(base_url: str, ssl_context: ssl.SSLContext) -> httpx.BaseTransport | None:
    """This transport for a vendor at ``base_url``; None (httpx's own, which honours it) where the
    environment names a proxy for that URL."""
    url = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if (proxies.get(url.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(url.hostname or ""):
        return None
    return KeepAliveTransport(ssl_context)
