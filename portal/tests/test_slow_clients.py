"""Slow clients can't hold the server's connections: a request's headers must arrive in time and
a body may not stall, with the protocol `manage.py serve` runs (a real uvicorn server)."""

import contextlib
import socket
import threading
import time

import pytest
import uvicorn

from portal.http_protocol import TimedHttpProtocol
from testinfra.fixtures import wait_until
from testinfra.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(settings):
    from portal.asgi import application

    settings.MODELPORT_HTTP_HEADER_SECONDS = 2
    settings.MODELPORT_HTTP_BODY_IDLE_SECONDS = 2
    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, http=TimedHttpProtocol, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="uvicorn to start")
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def closed_by_server(connection):
    connection.settimeout(0.1)
    try:
        return connection.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def trickle(connections, data, stop):
    """Send `data` one byte per second on every connection until `stop` is set."""
    for byte in data:
        if stop.is_set():
            return
        for connection in connections:
            with contextlib.suppress(OSError):  # closed by the server: what the test waits for
                connection.sendall(bytes([byte]))
        time.sleep(1)


def test_headers_sent_a_byte_at_a_time_lose_the_connection(server):
    connections = [socket.create_connection(("127.0.0.1", server)) for _ in range(20)]
    stop = threading.Event()
    sender = threading.Thread(
        target=trickle, args=(connections, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", stop)
    )
    sender.start()
    try:
        wait_until(
            lambda: all(closed_by_server(c) for c in connections),
            timeout=8,
            message="the slow connections to be closed",
        )
    finally:
        stop.set()
        sender.join()
        for connection in connections:
            connection.close()


def test_a_stalled_body_loses_the_connection_and_a_prompt_one_is_served(server):
    stalled = socket.create_connection(("127.0.0.1", server))
    stalled.sendall(
        b"POST /tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    wait_until(lambda: closed_by_server(stalled), timeout=8, message="the stall to be cut")
    stalled.close()
    with socket.create_connection(("127.0.0.1", server), timeout=10) as prompt:
        prompt.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(3)  # longer than either timeout: a served request is not cut
        assert prompt.recv(1024).startswith(b"HTTP/1.1 200")
