"""One body reader for every fetcher: a trickling server hits the deadline; the caller names read failures."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterator

import pytest

from profkit.kube.errors import connection_reason
from profkit.sources.http import FetchError, get, read_body


def serve_once(respond: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-connection HTTP server on 127.0.0.1 that answers with ``respond`` (raw bytes on the socket)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def run() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            respond(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/metrics"
    thread.join(10)
    server.close()


@pytest.fixture
def trickling() -> Iterator[str]:
    def respond(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(30):
            try:
                conn.sendall(b"x")
            except OSError:
                return
            time.sleep(0.1)

    yield from serve_once(respond)


def test_a_trickling_body_stops_at_the_deadline(trickling: str) -> None:
    with pytest.raises(FetchError, match="body not complete before the timeout"):
        get(trickling, timeout=1.0)


def test_the_caller_names_the_read_failure() -> None:
    class Reset:
        def read(self, size: int) -> bytes:
            raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(FetchError, match=r"^GET pod ns/p:8080/metrics: connection reset$"):
        read_body(Reset(), time.monotonic() + 5, "pod ns/p:8080/metrics", connection_reason)
