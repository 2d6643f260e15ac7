"""Kubernetes errors become one line (exit 2); config loading; API outages as gap events; RBAC text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from profkit.errors import BadInput
from profkit.kube import client as kclient
from profkit.kube.client import ApiHealth, load
from profkit.kube.errors import (ApiFailed, Forbidden, Gone, KubeError, NotFound, Unauthorized, Unreachable,
                                 api_call, connection_reason, is_connection_error, status_of, translate)
from profkit.kube.rbac import rbac_documents, rbac_targets, rbac_yaml
from profkit.model import CaptureEvent

REFUSED = urllib3.exceptions.MaxRetryError(
    None, "/apis/apps/v1", reason=urllib3.exceptions.NewConnectionError(  # type: ignore[arg-type]
        None, "Failed to establish a new connection: [Errno 111] Connection refused"))  # type: ignore[arg-type]


def test_forbidden_names_the_verb_resource_namespace_and_permission() -> None:
    error = translate(ApiException(status=403, reason="Forbidden"), verb="list", resource="pods",
                      namespace="capi-system")
    assert isinstance(error, Forbidden) and isinstance(error, BadInput) and error.exit_code == 2
    assert str(error).startswith("forbidden: cannot list pods in namespace capi-system (needs get/list/watch on pods)")
    assert "\n" not in str(error)


def test_unreachable_unauthorized_not_found_and_other_statuses() -> None:
    assert str(translate(REFUSED, verb="get", resource="deployments", server="https://10.0.0.1:6443")) == \
        "API server https://10.0.0.1:6443 unreachable: connection refused"
    assert str(translate(ApiException(status=401, reason="Unauthorized"), verb="get", resource="deployments",
                         server="https://s")).startswith("unauthorized: API server https://s rejected")
    assert str(translate(ApiException(status=404, reason="Not Found"), verb="get", resource="deployments",
                         namespace="ns", name="kcp")) == "deployments kcp not found in namespace ns"
    assert str(translate(ApiException(status=500, reason="Internal Server Error"), verb="get",
                         resource="deployments")) == "get deployments: HTTP 500 Internal Server Error"


def test_each_status_is_its_own_type_chained_from_the_api_exception() -> None:
    kinds = {401: Unauthorized, 403: Forbidden, 404: NotFound, 410: Gone, 500: ApiFailed}
    for status, kind in kinds.items():
        original = ApiException(status=status, reason="x")
        with pytest.raises(kind) as caught:
            with api_call("watch", "pods", "ns"):
                raise original
        assert caught.value.__cause__ is original and caught.value.status == status
        assert caught.value.exit_code == 2
    with pytest.raises(Unreachable) as unreachable:
        with api_call("list", "pods", "ns", server="https://s"):
            raise REFUSED
    assert unreachable.value.reason == "connection refused" and isinstance(unreachable.value, KubeError)


def test_a_websocket_handshake_status_counts_like_an_api_status() -> None:
    """exec and port-forward fail in the websocket handshake: the status is only in the text."""
    handshake = ApiException(status=0, reason="Handshake status 403 Forbidden -+-+- {'Connection': 'close'}")
    assert status_of(handshake) == 403
    assert isinstance(translate(handshake, verb="create", resource="pods/exec", namespace="ns"), Forbidden)
    assert status_of(ApiException(status=0, reason="Handshake status 404 Not Found")) == 404
    assert status_of(REFUSED) is None  # a urllib3 error's text is never read for a status
    assert str(translate(handshake, verb="create", resource="pods/exec", namespace="ns")).startswith(
        "forbidden: cannot create pods/exec in namespace ns (needs create on pods/exec)")


def test_connection_errors_are_told_apart_from_http_answers() -> None:
    assert is_connection_error(REFUSED) and connection_reason(REFUSED) == "connection refused"
    assert is_connection_error(ConnectionResetError()) and not is_connection_error(ApiException(status=403))
    assert is_connection_error(ApiException(status=0, reason="SSLError\nEOF occurred"))
    assert connection_reason(urllib3.exceptions.ReadTimeoutError(None, "/x", "Read timed out.")) == "timed out"  # type: ignore[arg-type]


def test_no_kubeconfig_and_unknown_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(BadInput, match=r"no kubeconfig: .*missing does not exist$"):
        load(str(tmp_path / "missing"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BadInput, match="set KUBECONFIG"):
        load(None)
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u", "namespace": "team"}},
                     {"name": "b", "context": {"cluster": "c", "user": "u"}}],
    }))
    with pytest.raises(BadInput, match=r"has no context 'elsewhere' \(contexts: a, b\)"):
        load(str(config), "elsewhere")
    access = load(str(config))
    assert (access.context, access.namespace, access.user_token, access.server) == \
        ("a", "team", "secret-token", "https://127.0.0.1:1")
    other = load(str(config), "b")
    assert other.namespace == "default" and other.api is not access.api


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}],
    }))
    access = load(str(config))
    access.api.configuration.retries = 0
    with pytest.raises(BadInput, match=r"^API server https://127.0.0.1:9 unreachable: connection refused$"):
        kclient.check_reachable(access)


def test_api_health_records_one_gap_per_outage_and_when_it_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[CaptureEvent] = []
    now = [1000.0]
    monkeypatch.setattr("profkit.kube.client.time.time", lambda: now[0])
    health = ApiHealth("https://s")
    health.emit = events.append
    health.failed("connection refused")
    now[0] += 1
    health.failed("connection refused")
    health.ok()  # too soon after a failure: a server going down or coming up answers some requests
    assert [e.kind for e in events] == ["gap"] and health.down
    now[0] += 5
    health.ok()
    assert [e.kind for e in events] == ["gap", "info"] and not health.down
    assert "reachable again after 6.0s" in events[1].message
    health.ok()
    assert len(events) == 2


def _rules(role: dict[str, Any]) -> dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[str, ...]]:
    return {(tuple(r.get("apiGroups", [])), tuple(r.get("resources", r.get("nonResourceURLs", [])))):
            tuple(r["verbs"]) for r in role["rules"]}


def test_rbac_covers_every_permission_capture_uses() -> None:
    docs = rbac_documents(rbac_targets(["capi", "example"]))
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert kinds == [("Role", "capi-system"), ("RoleBinding", "capi-system"), ("Role", "widgets"),
                     ("RoleBinding", "widgets"), ("ClusterRole", None), ("ClusterRoleBinding", None)]
    capi, example, cluster = _rules(docs[0]), _rules(docs[2]), _rules(docs[4])
    assert capi[(("",), ("pods",))] == ("get", "list", "watch")  # Go: no exec, no node agent
    assert capi[(("",), ("pods/proxy",))] == ("get",)
    assert capi[(("",), ("pods/portforward",))] == ("create",)  # secure diagnostics through a port-forward
    assert capi[(("",), ("pods/log",))] == ("get",)
    assert (("",), ("pods/exec",)) not in capi and (("",), ("pods/exec",)) not in example
    assert capi[(("apps",), ("deployments",))] == ("get", "list", "watch")
    assert capi[(("metrics.k8s.io",), ("pods",))] == ("get", "list")
    assert capi[(("cluster.x-k8s.io",), ("clusters", "machinedeployments", "machines", "machinesets"))] == \
        ("get", "list", "watch")
    assert example[(("scale.profkit.dev",), ("widgets",))] == ("get", "list", "watch")
    assert (("",), ("pods/portforward",)) not in example  # plain HTTP ports only
    assert cluster == {((), ("/metrics", "/debug/pprof", "/debug/pprof/*")): ("get",)}  # only the cluster-scoped
    assert docs[1]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "profkit-capture"}
    text = rbac_yaml(rbac_targets(["capi", "example"]))
    assert "&id" not in text and list(yaml.safe_load_all(text)) == docs


def test_rbac_for_python_controllers_adds_exec_and_the_node_agent_pod() -> None:
    docs = rbac_documents(rbac_targets(["example-python"], namespace="team"))
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [("Role", "team"), ("RoleBinding", "team")]
    rules = _rules(docs[0])
    assert rules[(("",), ("pods/exec",))] == ("create",)
    assert rules[(("",), ("pods",))] == ("get", "list", "watch", "create", "delete")
    assert "pods/exec and pods create/delete: py-spy" in rbac_yaml(rbac_targets(["example-python"]))


def test_rbac_without_a_known_namespace_is_one_cluster_role() -> None:
    docs = rbac_documents(rbac_targets(["my-operator"]))  # no catalog entry, no -n: language and namespace unknown
    assert [d["kind"] for d in docs] == ["ClusterRole", "ClusterRoleBinding"]
    rules = _rules(docs[0])
    assert rules[(("",), ("pods/exec",))] == ("create",)  # it may turn out to be Python at capture time
    assert ((), ("/metrics", "/debug/pprof", "/debug/pprof/*")) in rules
    namespaced = rbac_documents(rbac_targets(["ops/my-operator"]))
    assert [(d["kind"], d["metadata"].get("namespace")) for d in namespaced][:2] == [("Role", "ops"),
                                                                                     ("RoleBinding", "ops")]


def test_in_cluster_config_is_loaded_when_running_in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kubernetes.config.incluster_config as incluster

    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("not really a certificate")
    (tmp_path / "namespace").write_text("capi-system\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setattr(kclient, "IN_CLUSTER_NAMESPACE", tmp_path / "namespace")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    access = load(None, None)
    assert (access.context, access.server, access.namespace, access.user_token) == \
        ("in-cluster", "https://10.96.0.1:443", "capi-system", "sa-token")


def test_pre_flight_permissions_follow_the_endpoints() -> None:
    from profkit.kube.rbac import missing_permission_message, required_permissions

    base = [("list", "pods", ""), ("watch", "pods", ""), ("get", "pods", "log")]
    assert required_permissions([]) == base
    assert required_permissions(["proxy", "proxy"]) == base + [("get", "pods", "proxy")]
    assert required_permissions(["port-forward", "proxy"]) == base + [("get", "pods", "proxy"),
                                                                      ("create", "pods", "portforward")]
    assert missing_permission_message("get", "pods", "proxy", "capi-system") == (
        "forbidden: cannot get pods/proxy in namespace capi-system (needs get on pods/proxy); "
        "see profkit capture --print-rbac")
    assert missing_permission_message("list", "pods", "", "ns").startswith(
        "forbidden: cannot list pods in namespace ns (needs get/list/watch on pods)")
