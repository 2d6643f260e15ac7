"""Kubernetes API access: config loading (kubeconfig, context, in-cluster) and API server health across collectors."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from profkit.errors import BadInput
from profkit.kube.errors import Unauthorized, api_call, from_status
from profkit.model import CaptureEvent

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
CONNECT_TIMEOUT = 5.0
POOL_SIZE = 64  # long-lived log follows, watches and CPU windows share one client; a full pool warns on stderr
SETTLE = 3.0  # seconds without a failed request before an outage counts as over

@dataclass
class KubeAccess:
    """One API client for one context, never the process-wide default, plus what profkit needs of it."""

    api: Any  # kubernetes.client.ApiClient
    server: str
    context: str
    namespace: str  # the context's default namespace
    user_token: str | None = None  # bearer token of the kubeconfig user, if it has one
    health: ApiHealth = field(default_factory=lambda: ApiHealth(""))

    def __post_init__(self) -> None:
        self.health.server = self.server

    def websocket_client(self) -> Any:
        """A separate ApiClient (same configuration) for port-forward and exec.

        ``kubernetes.stream`` swaps ``call_api`` on the client it is given while it connects, so a
        request another thread makes on that client meanwhile would go out as a websocket call.
        """
        configuration = getattr(self.api, "configuration", None)
        if configuration is None:  # a test double standing in for the client
            return self.api
        from kubernetes import client

        return client.ApiClient(configuration)


class ApiHealth:
    """Tracks API server reachability across all collectors: one ``gap`` event per outage, one note when back."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.down_since: float | None = None
        self.last_failure = 0.0
        self.emit: Callable[[CaptureEvent], None] | None = None
        self.target = ""
        self._lock = threading.Lock()

    def failed(self, reason: str) -> None:
        """A request could not reach the API server (connection refused, reset, timed out)."""
        with self._lock:
            self.last_failure = time.time()
            if self.down_since is not None:
                return
            self.down_since = self.last_failure
            event = CaptureEvent(self.down_since, "gap", f"API server {self.server} unreachable ({reason}); "
                                 "retrying with backoff", self.target, "", "kube")
        if self.emit is not None:
            self.emit(event)

    def ok(self) -> None:
        """A request reached the API server; closes an open outage."""
        if self.down_since is None:
            return
        with self._lock:
            # A server shutting down or starting answers some requests and refuses others: the outage
            # ends only with a success SETTLE seconds after the last failure.
            if self.down_since is None or time.time() - self.last_failure < SETTLE:
                return
            since, self.down_since = self.down_since, None
        if since is None:
            return
        now = time.time()
        event = CaptureEvent(now, "info", f"API server {self.server} reachable again after {now - since:.1f}s "
                             f"(gap from {since:.3f} to {now:.3f})", self.target, "", "kube")
        if self.emit is not None:
            self.emit(event)

    @property
    def down(self) -> bool:
        return self.down_since is not None


# -- config ------------------------------------------------------------------------------------
def _kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _in_cluster(kubeconfig: str | None, context: str | None) -> bool:
    return (not kubeconfig and not context and not os.environ.get("KUBECONFIG")
            and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and not Path("~/.kube/config").expanduser().exists())


def _bearer(configuration: Any) -> str | None:
    value = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    if not value:
        return None
    text = str(value)
    return text[len("bearer "):] if text.lower().startswith("bearer ") else text


def load(kubeconfig: str | None = None, context: str | None = None) -> KubeAccess:
    """An ApiClient of its own for the kubeconfig and context (or in-cluster); BadInput when it cannot be."""
    from kubernetes import client
    from kubernetes import config as config_module
    from kubernetes.config.config_exception import ConfigException

    config: Any = config_module  # its loaders are untyped

    if _in_cluster(kubeconfig, context):
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = POOL_SIZE
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise BadInput(f"in-cluster config: {exc}") from None
        namespace = IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.is_file() else "default"
        api = client.ApiClient(configuration)
        return KubeAccess(api, configuration.host, "in-cluster", namespace, _bearer(configuration))
    paths = _kubeconfig_paths(kubeconfig)
    existing = [p for p in paths if p.is_file()]
    if not existing:
        shown = ", ".join(str(p) for p in paths)
        hint = "" if kubeconfig else "; pass --kubeconfig FILE or set KUBECONFIG"
        raise BadInput(f"no kubeconfig: {shown} does not exist{hint}")
    config_file = os.pathsep.join(str(p) for p in existing)
    try:
        contexts, current = config.list_kube_config_contexts(config_file)
    except (ConfigException, ValueError, TypeError, AttributeError) as exc:
        raise BadInput(f"kubeconfig {config_file}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from None
    names = [str(c.get("name")) for c in contexts or []]
    if context and context not in names:
        raise BadInput(f"kubeconfig {config_file} has no context {context!r} (contexts: {', '.join(names) or 'none'})")
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else current
    if not chosen:
        raise BadInput(f"kubeconfig {config_file}: no current context; pass --context (contexts: {', '.join(names)})")
    try:
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = POOL_SIZE
        api = config.new_client_from_config(config_file=config_file, context=context, persist_config=False,
                                            client_configuration=configuration)
    except (ConfigException, ValueError, OSError) as exc:
        raise BadInput(f"kubeconfig {config_file}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    configuration = api.configuration
    namespace = str((chosen.get("context") or {}).get("namespace") or "default")
    return KubeAccess(api, str(configuration.host), str(chosen.get("name")), namespace, _bearer(configuration))


def check_reachable(access: KubeAccess) -> None:
    """GET /version with a short timeout: BadInput naming the server when it cannot be reached."""
    with api_call("get", "/version", server=access.server):
        request = access.api.param_serialize("GET", "/version", auth_settings=["BearerToken"])
        reply = access.api.call_api(*request, _request_timeout=(CONNECT_TIMEOUT, CONNECT_TIMEOUT))
        reply.read()
    if reply.status >= 400:  # call_api hands back the answer; only credentials matter here
        error = from_status(reply.status, verb="get", resource="/version", server=access.server)
        if isinstance(error, Unauthorized):
            raise error
