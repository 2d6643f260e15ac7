"""Which pod ports serve /metrics and /debug/pprof: catalog endpoints (when_arg honoured) or the pod's ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence, cast

from profkit.catalog import CollectorSpec, EndpointSpec

Role = Literal["metrics", "pprof"]
Scheme = Literal["http", "https"]
Auth = Literal["none", "bearer"]  # bearer: port-forward with the user's token
Via = Literal["proxy", "port-forward"]
METRICS_NAMES = ("metrics", "http-metrics")
PPROF_NAMES = ("pprof", "profiler", "debug")
SECURE_NAMES = ("diagnostics", "https", "https-metrics")
#: Port names that say what else a port serves: never scraped as /metrics (kopf's liveness port is ``healthz``).
NOT_METRICS_NAMES = ("health", "healthz", "healthcheck", "readyz", "livez", "probes", "liveness", "readiness",
                     "webhook", "webhook-server", "webhooks", "grpc", "dns", "dns-tcp")
METRICS_PORT, PPROF_PORT, SECURE_PORT = 8080, 6060, 8443


@dataclass(frozen=True)
class PodEndpoint:
    """One chosen endpoint of a pod container: what it serves, on which port number, and how to reach it.

    ``confirmed`` is False for a port chosen by neither name nor catalog: the capture probes it once
    and scrapes it only when it answers Prometheus text.
    """

    role: Role
    port: int
    scheme: Scheme = "http"
    auth: Auth = "none"
    path: str = "/metrics"  # metrics path, or pprof base path
    name: str = ""
    confirmed: bool = True

    @property
    def via(self) -> Via:
        return "port-forward" if self.auth == "bearer" else "proxy"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.port})" if self.name and self.name != str(self.port) else str(self.port)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "port": self.port, "scheme": self.scheme, "auth": self.auth,
                "path": self.path, "name": self.name, "via": self.via, "confirmed": self.confirmed}


def container_args(container: dict[str, Any]) -> list[str]:
    """command + args of a container spec dict (camelCase, as the API returns it)."""
    return [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]


def cpu_limit_cores(container: dict[str, Any] | None) -> float | None:
    """The container's CPU limit in cores (``resources.limits.cpu``: ``500m``, ``2``), or None when it has none."""
    raw = (((container or {}).get("resources") or {}).get("limits") or {}).get("cpu")
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None  # not a quantity the API server would have accepted
    return cores if cores > 0 else None


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
    chosen: dict[Role, PodEndpoint] = {}
    for endpoint in spec.endpoints:
        if endpoint.when_arg and not has_arg(args, endpoint.when_arg):
            continue
        number = port_number(container, endpoint.port)
        if number is None:
            continue
        for role, path in _roles(endpoint, insecure):
            if role not in chosen:
                scheme, auth = cast(Scheme, endpoint.scheme), cast(Auth, endpoint.auth)
                if insecure and endpoint.auth == "bearer":
                    scheme, auth = "http", "none"
                chosen[role] = PodEndpoint(role, number, scheme, auth, path, endpoint.name)
    return [chosen[r] for r in ("metrics", "pprof") if r in chosen]


def _roles(endpoint: EndpointSpec, insecure: bool) -> list[tuple[Role, str]]:
    roles: list[tuple[Role, str]] = []
    if endpoint.metrics:
        roles.append(("metrics", endpoint.metrics))
    if endpoint.pprof and not (insecure and endpoint.auth == "bearer"):
        roles.append(("pprof", endpoint.pprof.rstrip("/")))
    return roles


def from_ports(container: dict[str, Any]) -> list[PodEndpoint]:
    """Choose from declared container ports: metrics by name, pprof by name or 6060, the secure port by name or 8443.

    Plain ports win over the secure one (no token needed); the secure port serves what is left. With
    no port named for metrics, the other TCP ports (8080 first, none named for something else such as
    ``healthz``) are unconfirmed candidates the capture probes once.
    """
    plain_metrics = plain_pprof = secure = None
    candidates: list[PodEndpoint] = []
    for entry in container.get("ports") or []:
        if str(entry.get("protocol", "TCP")).upper() != "TCP":
            continue
        number, name = int(entry.get("containerPort", 0)), str(entry.get("name") or "")
        if plain_metrics is None and name in METRICS_NAMES:
            plain_metrics = PodEndpoint("metrics", number, name=name)
        elif plain_pprof is None and (name in PPROF_NAMES
                                      or (number == PPROF_PORT and name not in METRICS_NAMES + SECURE_NAMES)):
            plain_pprof = PodEndpoint("pprof", number, path="/debug/pprof", name=name or str(number))
        elif secure is None and (name in SECURE_NAMES or number == SECURE_PORT):
            secure = (number, name or str(number))
        elif name not in NOT_METRICS_NAMES + METRICS_NAMES + PPROF_NAMES + SECURE_NAMES:
            candidates.append(PodEndpoint("metrics", number, name=name or str(number), confirmed=False))
    out: list[PodEndpoint] = []
    if plain_metrics is not None:
        out.append(plain_metrics)
    elif candidates:
        out += sorted(candidates, key=lambda e: e.port != METRICS_PORT)
    elif secure is not None:
        out.append(PodEndpoint("metrics", secure[0], "https", "bearer", "/metrics", secure[1]))
    if plain_pprof is not None:
        out.append(plain_pprof)
    elif secure is not None:
        out.append(PodEndpoint("pprof", secure[0], "https", "bearer", "/debug/pprof", secure[1]))
    return out


def for_language(endpoints: Sequence[PodEndpoint], language: str) -> list[PodEndpoint]:
    """A Python container is profiled with py-spy: its ports are not asked for Go's /debug/pprof."""
    return [e for e in endpoints if language != "python" or e.role != "pprof"]


def skipped_ports(container: dict[str, Any] | None, endpoints: Sequence[PodEndpoint],
                  language: str = "go") -> list[str]:
    """The container's declared ports profkit does not scrape or profile, each with why (for the terminal)."""
    used = {e.port for e in endpoints}
    out: list[str] = []
    for entry in (container or {}).get("ports") or []:
        number, name = int(entry.get("containerPort", 0)), str(entry.get("name") or "")
        if number in used:
            continue
        label = f"{name} ({number})" if name else str(number)
        if str(entry.get("protocol", "TCP")).upper() != "TCP":
            out.append(f"{label}: {entry.get('protocol')}, not HTTP")
        elif name in NOT_METRICS_NAMES:
            out.append(f"{label}: named for something else than metrics")
        elif language == "python" and (name in PPROF_NAMES or number == PPROF_PORT):
            out.append(f"{label}: Go's pprof port, and this is a Python container (py-spy profiles it)")
        else:
            out.append(f"{label}: not a metrics or pprof port")
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
