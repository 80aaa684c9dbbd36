"""An httpx transport on the standard library's ``http.client``: the vendor clients' requests, cheaper.

``httpx`` stays the API every connector writes against (``Client``, ``Request``, ``Response``, auth,
timeouts, its errors); only the bytes on the wire go through ``http.client`` instead of
``httpcore`` and ``h11``, whose pure-Python HTTP/1.1 state machine was most of a request's CPU
(on loopback ~400 µs a request through httpx's own transport, ~125 µs for ``http.client`` alone).

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
"""

from __future__ import annotations

import http.client
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
        body = request.read()
        connection = self._idle_connection(origin) or self._connect(origin, timeouts.get("connect"))
        connection.sock.settimeout(timeouts.get("write"))
        try:
            connection.putrequest(request.method, url.raw_path.decode("ascii"), skip_host=True,
                                  skip_accept_encoding=True)
            for name, value in request.headers.raw:
                connection.putheader(name, value)
            connection.endheaders(body or None)
        except socket.timeout as exc:
            connection.close()
            raise httpx.WriteTimeout(str(exc) or "timed out writing the request", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise httpx.WriteError(str(exc) or exc.__class__.__name__, request=request) from exc
        try:
            connection.sock.settimeout(timeouts.get("read"))
            answer = connection.getresponse()
            content = answer.read()
        except socket.timeout as exc:
            connection.close()
            raise httpx.ReadTimeout(str(exc) or "timed out reading the response", request=request) from exc
        except (http.client.HTTPException, ValueError) as exc:  # malformed, or closed before an answer
            connection.close()
            raise httpx.RemoteProtocolError(str(exc) or exc.__class__.__name__, request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ReadError(str(exc), request=request) from exc
        if answer.will_close:
            connection.close()
        else:
            self._put_back(origin, connection)
        return httpx.Response(answer.status, headers=answer.getheaders(), content=content,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode()})

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
