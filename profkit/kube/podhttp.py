"""Fetchers for pod ports: through the API server's pod proxy, or port-forward with the user's bearer token."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from profkit.errors import BadInput
from profkit.kube.client import CONNECT_TIMEOUT, KubeAccess
from profkit.kube.errors import NEEDS, Forbidden, connection_reason, from_status, is_connection_error, translate
from profkit.sources.http import FetchError, first_line, read_body

TOKEN_ENV = "PROFKIT_DIAGNOSTICS_TOKEN"
#: Seconds a port-forward's TLS handshake may take; the request itself has the caller's whole timeout.
HANDSHAKE_TIMEOUT = 30.0
#: What a controller's own authenticating endpoint means by 401 / 403 (its answer, not the API server's).
TOKEN_REFUSALS = {401: "the token was rejected", 403: "the token needs get on nonResourceURLs /metrics and /debug/pprof/*"}


class PodProxyFetcher:
    """GET ``/api/v1/namespaces/{ns}/pods/[https:]{pod}:{port}/proxy/{path}``; bytes kept exact (gzip pprof)."""

    def __init__(self, access: KubeAccess, namespace: str, pod: str, port: int, scheme: str = "http") -> None:
        self.access = access
        self.namespace, self.pod, self.port, self.scheme = namespace, pod, port, scheme

    def describe(self) -> str:
        return f"pod {self.namespace}/{self.pod}:{self.port} (API server proxy)"

    def resource_path(self, path: str) -> str:
        prefix = "https:" if self.scheme == "https" else ""
        base = (f"/api/v1/namespaces/{quote(self.namespace)}/pods/{prefix}{quote(self.pod)}:{self.port}/proxy")
        return base + (path if path.startswith("/") else "/" + path)

    def fetch(self, path: str, timeout: float) -> bytes:
        parts = urlsplit(path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        api = self.access.api
        what = f"{self.describe()}{path}"
        deadline = time.monotonic() + timeout
        try:
            request = api.param_serialize("GET", self.resource_path(parts.path), query_params=query,
                                          header_params={"Accept": "*/*"}, auth_settings=["BearerToken"])
            reply = api.call_api(*request, _request_timeout=(CONNECT_TIMEOUT, timeout))
        except Exception as exc:  # noqa: BLE001 - urllib3 errors, ApiException(status=0) on TLS
            if is_connection_error(exc):
                self.access.health.failed(connection_reason(exc))
            raise FetchError(f"GET {what}: {connection_reason(exc)}") from None
        self.access.health.ok()
        raw = reply.response
        try:
            body = read_body(raw, deadline, what, connection_reason)
        finally:
            raw.release_conn()
        if not 200 <= reply.status < 300:
            detail = _status_detail(body)
            denied = from_status(reply.status, verb="get", resource="pods/proxy", namespace=self.namespace)
            if isinstance(denied, Forbidden) and "pods/proxy" not in detail and "proxy" in detail:
                detail += f" (needs {NEEDS['pods/proxy']} on pods/proxy)"  # the API server's RBAC, not the pod's answer
            raise FetchError(f"GET {what}: HTTP {reply.status}" + (f": {detail}" if detail else ""), reply.status)
        return body


def _status_detail(body: bytes) -> str:
    """The message of a Kubernetes Status body, else the first line of whatever came back."""
    import json

    try:
        data = json.loads(body[:65536])
        if isinstance(data, dict) and data.get("kind") == "Status":
            return str(data.get("message", ""))[:200]
    except ValueError:
        pass
    return first_line(body)


def resolve_token(token_file: str | None, access: KubeAccess) -> str | None:
    """The bearer token for secure diagnostics: --token-file, then $PROFKIT_DIAGNOSTICS_TOKEN, then the kubeconfig user."""
    if token_file:
        try:
            text = Path(token_file).expanduser().read_text().strip()
        except OSError as exc:
            raise BadInput(f"--token-file {token_file}: {exc.strerror or exc}") from None
        if not text:
            raise BadInput(f"--token-file {token_file}: empty")
        return text
    env = os.environ.get(TOKEN_ENV, "").strip()
    return env or access.user_token


class _SocketConnection(http.client.HTTPConnection):
    """An HTTPConnection over an already-connected socket (the port-forward's)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.sock = sock

    def connect(self) -> None:  # the socket is connected already
        return None


class PortForwardFetcher:
    """One port-forward per request, HTTP or HTTPS (the pod's self-signed cert is not verified), bearer token."""

    def __init__(self, access: KubeAccess, namespace: str, pod: str, port: int, scheme: str = "https",
                 token: str | None = None) -> None:
        self.access = access
        self.namespace, self.pod, self.port, self.scheme = namespace, pod, port, scheme
        self.token = token
        self._client: Any = None  # its own ApiClient: see KubeAccess.websocket_client

    def describe(self) -> str:
        return f"{self.scheme}://{self.namespace}/{self.pod}:{self.port} (port-forward)"

    def _open(self) -> tuple[Any, socket.socket]:
        from kubernetes import client
        from kubernetes.stream import portforward

        if self._client is None:
            self._client = self.access.websocket_client()
        core = client.CoreV1Api(self._client)
        try:
            forward = portforward(core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                                  ports=str(self.port))
        except Exception as exc:  # noqa: BLE001 - ApiException from the websocket handshake
            error = translate(exc, verb="create", resource="pods/portforward", namespace=self.namespace)
            if isinstance(error, Forbidden):
                raise FetchError(f"port-forward to {self.namespace}/{self.pod}: {error}", error.status) from None
            if is_connection_error(exc) or "refused" in str(getattr(exc, "reason", "") or exc).lower():
                self.access.health.failed(connection_reason(exc))
            raise FetchError(f"port-forward to {self.namespace}/{self.pod}:{self.port}: "
                             f"{connection_reason(exc)}") from None
        self.access.health.ok()
        wrapped = forward.socket(self.port)
        return forward, getattr(wrapped, "_socket", wrapped)  # the socketpair end, so TLS can wrap it

    def fetch(self, path: str, timeout: float) -> bytes:
        what = f"{self.describe()}{path}"
        deadline = time.monotonic() + timeout
        forward, sock = self._open()
        connection: _SocketConnection | None = None
        try:
            sock.settimeout(min(timeout, HANDSHAKE_TIMEOUT))
            if self.scheme == "https":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # the diagnostics cert is self-signed by the controller
                try:
                    sock = context.wrap_socket(sock, server_hostname=None)
                except (ssl.SSLError, OSError) as exc:
                    raise FetchError(f"GET {what}: TLS handshake failed ({exc})") from None
            # A CPU profile answers only after its window: wait for the reply until the caller's deadline,
            # not the handshake's cap (a 30 s window through a 30 s socket timeout timed out).
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            connection = _SocketConnection(sock, timeout)
            headers = {"User-Agent": "profkit", "Accept-Encoding": "identity", "Connection": "close"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                connection.request("GET", path, headers=headers)
                reply = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(f"GET {what}: {connection_reason(exc)}") from None
            body = read_body(reply, deadline, what, connection_reason)
            if not 200 <= reply.status < 300:
                detail = first_line(body)
                refusal = TOKEN_REFUSALS.get(reply.status)
                if refusal:
                    detail = (detail + "; " if detail else "") + refusal
                raise FetchError(f"GET {what}: HTTP {reply.status}" + (f": {detail}" if detail else ""), reply.status)
            return body
        finally:
            if connection is not None:
                connection.close()
            try:
                sock.close()
            except OSError:
                pass
            try:
                forward.close()
            except Exception:  # noqa: BLE001 - closing a dead websocket
                pass
