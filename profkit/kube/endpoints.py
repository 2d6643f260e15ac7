"""Which pod ports serve /metrics and /debug/pprof: catalog endpoints (when_arg honoured) or the pod's ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from profkit.catalog import CollectorSpec, EndpointSpec

METRICS_NAMES = ("metrics", "http-metrics")
PPROF_NAMES = ("pprof", "profiler", "debug")
SECURE_NAMES = ("diagnostics", "https", "https-metrics")
METRICS_PORT, PPROF_PORT, SECURE_PORT = 8080, 6060, 8443


@dataclass(frozen=True)
class PodEndpoint:
    """One chosen endpoint of a pod container: what it serves, on which port number, and how to reach it."""

    role: str  # metrics | pprof
    port: int
    scheme: str = "http"
    auth: str = "none"  # none | bearer (port-forward with the user's token)
    path: str = "/metrics"  # metrics path, or pprof base path
    name: str = ""

    @property
    def via(self) -> str:
        return "port-forward" if self.auth == "bearer" else "proxy"

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "port": self.port, "scheme": self.scheme, "auth": self.auth,
                "path": self.path, "name": self.name, "via": self.via}


def container_args(container: dict[str, Any]) -> list[str]:
    """command + args of a container spec dict (camelCase, as the API returns it)."""
    return [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]


def has_arg(args: Sequence[str], flag: str) -> bool:
    """``--flag``, ``--flag=V`` or ``--flag V`` appears in args (a ``--flag=false`` does not count)."""
    for arg in args:
        if arg == flag:
            return True
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1].lower() not in ("false", "0", "")
    return False


def pick_container(pod_spec: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    """The named container, else the first one that declares ports, else the first one."""
    containers = list(pod_spec.get("containers") or [])
    if name:
        return next((c for c in containers if c.get("name") == name), None)
    return next((c for c in containers if c.get("ports")), containers[0] if containers else None)


def port_number(container: dict[str, Any], port: int | str) -> int | None:
    """A port number for a catalog port (a number, or a container port name)."""
    if isinstance(port, int):
        return port
    for entry in container.get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    return int(port) if str(port).isdigit() else None


def from_catalog(spec: CollectorSpec, container: dict[str, Any]) -> list[PodEndpoint]:
    """The first catalog endpoint serving metrics and the first serving pprof, in catalog order.

    An endpoint with ``when_arg`` counts only when the container has that argument; a named port the
    container does not declare is skipped. ``--insecure-diagnostics`` turns the secure diagnostics
    endpoint into plain HTTP without pprof (as Cluster API does).
    """
    args = container_args(container)
    insecure = has_arg(args, "--insecure-diagnostics")
    chosen: dict[str, PodEndpoint] = {}
    for endpoint in spec.endpoints:
        if endpoint.when_arg and not has_arg(args, endpoint.when_arg):
            continue
        number = port_number(container, endpoint.port)
        if number is None:
            continue
        for role, path in _roles(endpoint, insecure):
            if role not in chosen:
                scheme, auth = endpoint.scheme, endpoint.auth
                if insecure and endpoint.auth == "bearer":
                    scheme, auth = "http", "none"
                chosen[role] = PodEndpoint(role, number, scheme, auth, path, endpoint.name)
    return [chosen[r] for r in ("metrics", "pprof") if r in chosen]


def _roles(endpoint: EndpointSpec, insecure: bool) -> list[tuple[str, str]]:
    roles: list[tuple[str, str]] = []
    if endpoint.metrics:
        roles.append(("metrics", endpoint.metrics))
    if endpoint.pprof and not (insecure and endpoint.auth == "bearer"):
        roles.append(("pprof", endpoint.pprof.rstrip("/")))
    return roles


def from_ports(container: dict[str, Any]) -> list[PodEndpoint]:
    """Guess from declared container ports: metrics/8080 plain, pprof/6060 plain, 8443 HTTPS with a bearer token.

    Plain ports win over the secure one (no token needed); the secure port serves what is left.
    """
    plain_metrics = plain_pprof = secure = None
    for entry in container.get("ports") or []:
        if str(entry.get("protocol", "TCP")).upper() != "TCP":
            continue
        number, name = int(entry.get("containerPort", 0)), str(entry.get("name") or "")
        if plain_metrics is None and (name in METRICS_NAMES
                                      or (number == METRICS_PORT and name not in PPROF_NAMES + SECURE_NAMES)):
            plain_metrics = PodEndpoint("metrics", number, name=name or str(number))
        elif plain_pprof is None and (name in PPROF_NAMES
                                      or (number == PPROF_PORT and name not in METRICS_NAMES + SECURE_NAMES)):
            plain_pprof = PodEndpoint("pprof", number, path="/debug/pprof", name=name or str(number))
        elif secure is None and (name in SECURE_NAMES or number == SECURE_PORT):
            secure = (number, name or str(number))
    out: list[PodEndpoint] = []
    if plain_metrics is not None:
        out.append(plain_metrics)
    elif secure is not None:
        out.append(PodEndpoint("metrics", secure[0], "https", "bearer", "/metrics", secure[1]))
    if plain_pprof is not None:
        out.append(plain_pprof)
    elif secure is not None:
        out.append(PodEndpoint("pprof", secure[0], "https", "bearer", "/debug/pprof", secure[1]))
    return out


def select_endpoints(spec: CollectorSpec | None, pod_spec: dict[str, Any]) -> tuple[str | None, list[PodEndpoint]]:
    """(container name, endpoints) for a pod spec dict: the catalog's when there is an entry, else the ports'."""
    container = pick_container(pod_spec, spec.container if spec else None)
    if container is None and spec is not None and spec.container:
        container = pick_container(pod_spec, None)  # the catalog's container name does not match: best effort
    if container is None:
        return None, []
    name = container.get("name")
    endpoints = from_catalog(spec, container) if spec is not None and spec.endpoints else from_ports(container)
    return (str(name) if name else None), endpoints
