"""Endpoint selection from pod spec dicts: catalog order and when_arg, plain deployments by their ports."""

from __future__ import annotations

from typing import Any

from profkit.catalog import resolve
from profkit.kube.endpoints import PodEndpoint, from_ports, has_arg, select_endpoints
from profkit.kube.deployment import pod_ready_for_capture, restart_counts, selector_text


def pod_spec(args: list[str], ports: list[dict[str, Any]], name: str = "manager") -> dict[str, Any]:
    return {"containers": [
        {"name": "kube-rbac-proxy", "image": "proxy", "args": ["--secure-listen-address=0.0.0.0:8443"]},
        {"name": name, "image": "controller", "args": args, "ports": ports},
    ]}


def roles(endpoints: list[PodEndpoint]) -> dict[str, tuple[int, str, str]]:
    return {e.role: (e.port, e.scheme, e.auth) for e in endpoints}


def test_capi_16_and_later_uses_the_secure_diagnostics_port_with_a_token() -> None:
    kcp = resolve("kcp")
    spec = pod_spec(["--leader-elect", "--diagnostics-address=:8443"],
                    [{"name": "diagnostics", "containerPort": 8443}])
    container, endpoints = select_endpoints(kcp, spec)
    assert container == "manager"
    assert roles(endpoints) == {"metrics": (8443, "https", "bearer"), "pprof": (8443, "https", "bearer")}
    assert all(e.via == "port-forward" for e in endpoints)


def test_older_capi_without_diagnostics_uses_8080_and_the_profiler_only_when_enabled() -> None:
    kcp = resolve("kcp")
    args = ["--metrics-bind-addr=localhost:8080"]
    _, endpoints = select_endpoints(kcp, pod_spec(args, []))
    assert roles(endpoints) == {"metrics": (8080, "http", "none")}
    _, endpoints = select_endpoints(kcp, pod_spec(args + ["--profiler-address=localhost:6060"], []))
    assert roles(endpoints) == {"metrics": (8080, "http", "none"), "pprof": (6060, "http", "none")}
    assert [e.via for e in endpoints] == ["proxy", "proxy"]


def test_insecure_diagnostics_is_plain_http_without_pprof() -> None:
    kcp = resolve("kcp")
    _, endpoints = select_endpoints(kcp, pod_spec(["--diagnostics-address=:8443", "--insecure-diagnostics"], []))
    assert roles(endpoints)["metrics"] == (8443, "http", "none")
    assert "pprof" not in roles(endpoints)


def test_catalog_port_names_resolve_through_the_container_ports() -> None:
    example = resolve("example")
    ports = [{"name": "metrics", "containerPort": 9090}, {"name": "pprof", "containerPort": 6061}]
    _, endpoints = select_endpoints(example, pod_spec([], ports))
    assert roles(endpoints) == {"metrics": (9090, "http", "none"), "pprof": (6061, "http", "none")}
    metrics = next(e for e in endpoints if e.role == "metrics")
    assert metrics.path == "/metrics"


def test_plain_deployment_reads_ports_by_name_or_number() -> None:
    assert roles(from_ports({"ports": [{"containerPort": 8080}, {"containerPort": 6060}]})) == {
        "metrics": (8080, "http", "none"), "pprof": (6060, "http", "none")}
    assert roles(from_ports({"ports": [{"name": "metrics", "containerPort": 9443},
                                       {"name": "pprof", "containerPort": 7070}]})) == {
        "metrics": (9443, "http", "none"), "pprof": (7070, "http", "none")}


def test_plain_deployment_with_only_8443_is_https_with_bearer_and_plain_ports_win() -> None:
    assert roles(from_ports({"ports": [{"containerPort": 8443}]})) == {
        "metrics": (8443, "https", "bearer"), "pprof": (8443, "https", "bearer")}
    mixed = roles(from_ports({"ports": [{"containerPort": 8443}, {"containerPort": 8080}]}))
    assert mixed == {"metrics": (8080, "http", "none"), "pprof": (8443, "https", "bearer")}
    # A port named for neither is probed once before it is scraped (issue 15: kopf's healthz was scraped).
    assert [(e.port, e.confirmed) for e in from_ports({"ports": [{"containerPort": 9000, "name": "web"}]})] == \
        [(9000, False)]
    assert from_ports({"ports": [{"containerPort": 8080, "name": "healthz"}]}) == []
    named_wins = from_ports({"ports": [{"containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]})
    assert [(e.port, e.confirmed) for e in named_wins] == [(9090, True)]
    assert from_ports({"ports": [{"containerPort": 8080, "protocol": "UDP"}]}) == []


def test_plain_deployment_picks_the_container_with_ports() -> None:
    container, endpoints = select_endpoints(None, pod_spec([], [{"containerPort": 8080}], name="operator"))
    assert container == "operator" and roles(endpoints) == {"metrics": (8080, "http", "none")}
    assert select_endpoints(None, {"containers": []}) == (None, [])


def test_has_arg_forms() -> None:
    assert has_arg(["--profiler-address", "localhost:6060"], "--profiler-address")
    assert has_arg(["--profiler-address=:6060"], "--profiler-address")
    assert not has_arg(["--insecure-diagnostics=false"], "--insecure-diagnostics")
    assert not has_arg(["--profiler-addressx=1"], "--profiler-address")


def test_selector_text_and_pod_state() -> None:
    selector = {"matchLabels": {"control-plane": "controller-manager", "app": "x"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert selector_text(selector) == "app=x,control-plane=controller-manager,tier in (a,b),!canary"
    running = {"metadata": {"name": "p"}, "status": {"phase": "Running", "podIP": "10.0.0.1",
                                                     "containerStatuses": [{"name": "manager", "restartCount": 2}]}}
    assert pod_ready_for_capture(running) and restart_counts(running) == {"manager": 2}
    deleting = {"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": running["status"]}
    assert not pod_ready_for_capture(deleting)
    assert not pod_ready_for_capture({"metadata": {}, "status": {"phase": "Pending"}})


def test_cpu_limit_of_the_container_in_cores_for_the_reports_cpu_line() -> None:
    from profkit.kube.endpoints import cpu_limit_cores

    assert cpu_limit_cores({"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}) == 0.5
    assert cpu_limit_cores({"resources": {"limits": {"cpu": "2"}}}) == 2.0
    assert cpu_limit_cores({"resources": {"requests": {"cpu": "1"}}}) is None  # a request is not a limit
    assert cpu_limit_cores({}) is None and cpu_limit_cores(None) is None
