"""A port-forwarded request waits for a reply as long as its timeout, not the handshake's cap (CPU profiles)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from profkit.kube import podhttp


class _Fetcher(podhttp.PortForwardFetcher):
    """The real fetcher; its port-forward is a real socket to a local server instead of the API server's stream."""

    def __init__(self, port: int) -> None:
        super().__init__(access=None, namespace="ns", pod="pod", port=port, scheme="http")  # type: ignore[arg-type]
        self._port = port

    def _open(self) -> tuple[Any, socket.socket]:
        return None, socket.create_connection(("127.0.0.1", self._port))


def _slow_server(delay: float) -> tuple[socket.socket, threading.Thread]:
    """Answers one request after ``delay`` seconds, as /debug/pprof/profile?seconds=N does after N seconds."""
    lis = socket.socket()
    lis.bind(("127.0.0.1", 0))
    lis.listen(1)

    def serve() -> None:
        conn, _ = lis.accept()
        with conn:
            conn.recv(65536)
            time.sleep(delay)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nprofile")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lis, t


def test_reply_slower_than_the_handshake_cap_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podhttp, "HANDSHAKE_TIMEOUT", 0.3)
    lis, t = _slow_server(1.0)
    with lis:
        body = _Fetcher(lis.getsockname()[1]).fetch("/debug/pprof/profile?seconds=1", timeout=10)
    t.join(5)
    assert body == b"profile"


def test_reply_slower_than_the_timeout_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podhttp, "HANDSHAKE_TIMEOUT", 0.3)
    lis, t = _slow_server(1.5)
    with lis, pytest.raises(podhttp.FetchError, match="timed out"):
        _Fetcher(lis.getsockname()[1]).fetch("/debug/pprof/profile?seconds=1", timeout=0.5)
    t.join(5)
