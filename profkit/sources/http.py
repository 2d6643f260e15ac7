"""HTTP fetching for collectors: the Fetcher protocol and its urllib implementation, always with a timeout."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol
from urllib.parse import urlsplit

_CHUNK = 64 * 1024
MAX_BODY = 256 * 1024 * 1024


class FetchError(Exception):
    """A request that did not give a usable body: refused, timed out, or a non-2xx status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Fetcher(Protocol):
    """Fetches a path under one base location (a URL, a pod through the API server, a port-forward)."""

    def fetch(self, path: str, timeout: float) -> bytes:
        """The body of ``path``; raises FetchError on anything but a 2xx answer within ``timeout`` s."""
        ...

    def describe(self) -> str:
        """Where this fetcher points, for error messages (e.g. ``http://127.0.0.1:6060``)."""
        ...


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str


def get(
    url: str, timeout: float, headers: Mapping[str, str] | None = None, *, insecure: bool = False
) -> Response:
    """GET ``url`` with a total deadline of ``timeout`` seconds (connect, headers and body).

    Non-2xx answers are returned (status and body), not raised; network failures raise FetchError.
    """
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": "profkit", **(headers or {})})
    context = ssl._create_unverified_context() if insecure else None  # noqa: S323 - user opted in
    try:
        reply = urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
    except urllib.error.HTTPError as exc:
        body = read_body(exc, deadline, url) if exc.fp is not None else b""
        return Response(exc.code, body, exc.headers.get("Content-Type", "") if exc.headers else "")
    except urllib.error.URLError as exc:
        raise FetchError(f"GET {url}: {_reason(exc.reason)}") from None
    except (socket.timeout, TimeoutError):
        raise FetchError(f"GET {url}: no answer within {timeout:.0f}s") from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"GET {url}: {exc}") from None
    with reply:
        body = read_body(reply, deadline, url)
        return Response(reply.status, body, reply.headers.get("Content-Type", ""))


def _reason(reason: object) -> str:
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return str(reason)


def read_body(stream: object, deadline: float, what: str,
              reason: Callable[[BaseException], str] = str) -> bytes:
    """Read a body in chunks until EOF, giving up at the deadline even if the server trickles bytes.

    Any file-like ``read(n)`` (urllib, http.client, urllib3); ``reason`` turns a read failure into the
    short text after ``GET what:`` (the Kubernetes fetchers name connection failures their way).
    """
    chunks: list[bytes] = []
    size = 0
    read = getattr(stream, "read")
    while True:
        if time.monotonic() > deadline:
            raise FetchError(f"GET {what}: body not complete before the timeout")
        try:
            chunk = read(_CHUNK)
        except (socket.timeout, TimeoutError):
            raise FetchError(f"GET {what}: timed out reading the body") from None
        except Exception as exc:  # noqa: BLE001 - OSError, http.client.IncompleteRead, urllib3 ProtocolError
            raise FetchError(f"GET {what}: {reason(exc)}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(bytes(chunk))
        size += len(chunk)
        if size > MAX_BODY:
            raise FetchError(f"GET {what}: body larger than {MAX_BODY // (1024 * 1024)} MiB")


def first_line(body: bytes, limit: int = 160) -> str:
    """The first non-empty line of a (probably text) body, for error messages."""
    text = body[:4096].decode("utf-8", errors="replace")
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


class HttpFetcher:
    """A Fetcher for a base URL such as ``http://127.0.0.1:6060``."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None, *, insecure: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.insecure = insecure

    def describe(self) -> str:
        return self.base_url

    def fetch(self, path: str, timeout: float) -> bytes:
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        reply = get(url, timeout, self.headers, insecure=self.insecure)
        if not 200 <= reply.status < 300:
            detail = first_line(reply.body)
            raise FetchError(f"GET {url}: HTTP {reply.status}" + (f": {detail}" if detail else ""), reply.status)
        return reply.body


def host_port(url: str) -> str:
    """``host:port`` of a URL (the default port filled in), for default target and instance names."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname or 'localhost'}:{port}"
