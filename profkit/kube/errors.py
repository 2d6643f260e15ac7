"""Kubernetes API errors translated once: Forbidden / NotFound / Gone / Unauthorized / Unreachable, one line each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from profkit.errors import BadInput

#: What each resource needs, for 403 messages: the verbs profkit uses on that resource.
NEEDS: dict[str, str] = {
    "pods": "get/list/watch",
    "pods/proxy": "get",
    "pods/portforward": "create",
    "pods/log": "get",
    "pods/exec": "create",
    "deployments": "get/list/watch",
    "pods.metrics.k8s.io": "get/list",
}
RBAC_HINT = "see profkit capture --print-rbac"
ALL_NAMESPACES = "*"  # ``namespace=ALL_NAMESPACES``: a cluster-wide list or watch
# A websocket handshake (exec, port-forward) fails with "Handshake status 403 Forbidden" and no status field.
_HANDSHAKE_STATUS = re.compile(r"\b(40[0-9]|41[0-9]|42[0-9]|5[0-9][0-9]) [A-Z][a-z]")
_CONNECTION_WORDS = ("SSLError", "Connection", "timed out")


class KubeError(BadInput):
    """A Kubernetes API call that failed, as one line naming the call; exit code 2 where it reaches the CLI."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(KubeError):
    """The API server could not be reached at all (refused, reset, timed out, TLS)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthorized(KubeError):
    """401: the kubeconfig's credentials were rejected."""


class Forbidden(KubeError):
    """403: RBAC denies the call; the message names the verb, resource, namespace and what to grant."""


class NotFound(KubeError):
    """404: the object (or the pod behind an exec or proxy) does not exist."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old; the caller re-lists."""


class ApiFailed(KubeError):
    """Any other HTTP answer that is not a success."""


_BY_STATUS: dict[int, type[KubeError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 410: Gone}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API failure: ApiException.status, or the status line of a failed websocket handshake."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        return status
    if status != 0:  # only an ApiException for a failed websocket handshake has status 0 and the status in its text
        return None
    found = _HANDSHAKE_STATUS.search(str(getattr(exc, "reason", "") or exc))
    return int(found.group(1)) if found else None


def is_connection_error(exc: BaseException) -> bool:
    """True for failures to reach the API server at all (as opposed to an HTTP answer)."""
    import urllib3

    if isinstance(exc, Unreachable):
        return True
    if isinstance(exc, KubeError):
        return False
    if isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError)):
        return True
    reason = str(getattr(exc, "reason", "") or "")
    return getattr(exc, "status", None) == 0 and any(word in reason for word in _CONNECTION_WORDS)


def connection_reason(exc: BaseException) -> str:
    """A short reason for a connection failure: refused, timed out, reset, TLS."""
    if isinstance(exc, Unreachable):
        return exc.reason
    text = str(getattr(exc, "reason", None) or exc)
    lowered = text.lower()
    for needle, short in (("refused", "connection refused"), ("timed out", "timed out"),
                          ("timeout", "timed out"), ("reset", "connection reset"),
                          ("name or service not known", "unknown host"), ("certificate", "TLS certificate error"),
                          ("ssl", "TLS error"), ("remotedisconnected", "connection closed"),
                          ("protocol", "connection broken")):
        if needle in lowered:
            return short
    return text.splitlines()[0][:120] if text else type(exc).__name__


def where_text(namespace: str | None) -> str:
    """`` in namespace NS``, `` in all namespaces``, or nothing (cluster-scoped)."""
    if namespace == ALL_NAMESPACES:
        return " in all namespaces"
    return f" in namespace {namespace}" if namespace else ""


def forbidden_text(verb: str, resource: str, namespace: str | None = None) -> str:
    """``forbidden: cannot VERB RESOURCE in namespace NS (needs V on RESOURCE)``: the RBAC line, written once."""
    return (f"forbidden: cannot {verb} {resource}{where_text(namespace)} "
            f"(needs {NEEDS.get(resource, 'get/list/watch' if verb in ('list', 'watch') else verb)} on {resource})")


def unauthorized_text(server: str) -> str:
    return f"unauthorized: API server {server} rejected the kubeconfig's credentials (expired token or certificate?)"


def from_status(status: int, reason: str = "", *, verb: str, resource: str, namespace: str | None = None,
                name: str | None = None, server: str = "") -> KubeError:
    """The error for an HTTP answer ``status`` to VERB RESOURCE (a raw ``call_api`` reply, a watch ERROR event)."""
    kind = _BY_STATUS.get(status, ApiFailed)
    where = where_text(namespace)
    if kind is Unauthorized:
        return Unauthorized(unauthorized_text(server), status)
    if kind is Forbidden:
        return Forbidden(f"{forbidden_text(verb, resource, namespace)}; {RBAC_HINT}", status)
    if kind is NotFound:
        return NotFound(f"{resource} {name} not found{where}" if name else f"{resource} not found{where}", status)
    if kind is Gone:
        return Gone(f"{verb} {resource}{where}: resourceVersion too old (HTTP 410 Gone)", status)
    return ApiFailed(f"{verb} {resource}{where}: HTTP {status} {reason}".rstrip(), status)


def translate(exc: BaseException, *, verb: str, resource: str, namespace: str | None = None,
              name: str | None = None, server: str = "") -> KubeError:
    """The one translation of a failed API call (ApiException, urllib3 error, websocket handshake) to a KubeError."""
    if isinstance(exc, KubeError):
        return exc
    status = status_of(exc)  # an HTTP answer first: a handshake's headers may well say "Connection"
    if status is None:
        reason = connection_reason(exc)
        return Unreachable(f"API server {server or '(unknown)'} unreachable: {reason}", reason)
    reason = str(getattr(exc, "reason", "") or "").splitlines()[0] if getattr(exc, "reason", "") else ""
    return from_status(status, reason, verb=verb, resource=resource, namespace=namespace, name=name, server=server)


@contextmanager
def api_call(verb: str, resource: str, namespace: str | None = None, name: str | None = None,
             server: str = "") -> Iterator[None]:
    """``with api_call("list", "pods", ns):`` raises what the call failed with as a KubeError, chained ``from`` it."""
    try:
        yield
    except KubeError:
        raise
    except Exception as exc:  # noqa: BLE001 - ApiException, urllib3 and websocket errors alike
        raise translate(exc, verb=verb, resource=resource, namespace=namespace, name=name, server=server) from exc
