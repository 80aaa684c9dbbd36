"""`slabridge serve` as a real process: slow and idle clients never starve the receiver, idle
connections are closed, and SIGTERM stops it cleanly after the work in hand."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from slabridge.testing.rig import free_port, wait_ready


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {**os.environ, "SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SLABRIDGE_HTTP_IDLE_TIMEOUT_SECONDS": "2", "SLABRIDGE_HTTP_THREADS": "2"}
    process = subprocess.Popen([sys.executable, "-m", "slabridge", "serve", "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, "serve did not start", seconds=30)
    except RuntimeError:
        process.kill()
        pytest.fail(f"serve did not start: {process.communicate()[0]}")
    yield process, port, url
    if process.poll() is None:
        process.kill()
        process.wait()


def dribble(port: int, stop: threading.Event) -> None:
    """A slowloris client: a request's headers, one byte at a time, never finished."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in b"POST /webhooks/zendesk HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n":
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(0.2)


def test_dribbling_and_idle_clients_do_not_starve_the_receiver(served):
    process, port, url = served
    stop = threading.Event()
    dribblers = [threading.Thread(target=dribble, args=(port, stop), daemon=True) for _ in range(20)]
    for t in dribblers:
        t.start()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]  # connect, then say nothing
    time.sleep(1)
    try:
        for _ in range(5):  # more dribblers and idlers than request threads, and requests still get answered
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        for sock in idle:  # the server closes idle connections after http_idle_timeout_seconds
            sock.settimeout(30)
            assert sock.recv(1) == b"", "an idle connection was kept open"
    finally:
        stop.set()
        for sock in idle:
            sock.close()


def test_sigterm_stops_serve_cleanly(served):
    process, _port, _url = served
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "slabridge stopped" in output and "Traceback" not in output


@pytest.mark.parametrize("host, said", [
    ("127.0.0.1", "another server (or another slabridge) listens there already; choose another --port"),
    ("256.1.1.1", "(--host must be a name or address of this machine)"),
])
def test_an_address_that_cannot_be_had_is_a_clear_error_not_a_traceback(tmp_path, host, said):
    """The port taken (the common case: a second `serve`) or a host that is not this machine's: exit 1 with
    the address and what to do; nothing started."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "slabridge", "serve", "--host", host, "--port", str(port)],
                              cwd=tmp_path, env={**os.environ, "SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/s.db"},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"Error: cannot listen on {host}:{port}: " in done.stderr and said in done.stderr
    assert "listening" not in done.stdout


def test_a_privileged_port_says_so():
    from slabridge.serving import _why_not

    assert "ports below 1024 need privileges" in _why_not(PermissionError(13, "Permission denied"))
