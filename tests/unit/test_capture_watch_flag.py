"""``capture --watch RESOURCE[.GROUP]``: resolved through API discovery to plural.group, bad values exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from profkit.errors import BadInput
from profkit.kube.client import KubeAccess
from profkit.kube.watch import resolve_watch

# /apis/<group>/<version> answers as a kube-apiserver 1.35 serves them (trimmed to the fields used).
DISCOVERY = {
    "profkit.example/v1": {"resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "shortNames": ["wd"]},
        {"name": "widgets/status", "namespaced": True, "kind": "Widget"}]},
    "scale.profkit.dev/v1alpha1": {"resources": [{"name": "widgets", "namespaced": True, "kind": "Widget"}]},
    "apps/v1": {"resources": [{"name": "deployments", "namespaced": True, "kind": "Deployment",
                               "shortNames": ["deploy"]}]},
    "apiextensions.k8s.io/v1": {"resources": [
        {"name": "customresourcedefinitions", "namespaced": False, "kind": "CustomResourceDefinition"}]},
}


class FakeApi:
    """The two calls discovery makes: ApisApi.get_api_versions (through kubernetes' model) and a raw GET."""

    def param_serialize(self, method: str, path: str, **kwargs: Any) -> tuple[str, str]:
        return method, path

    def call_api(self, method: str, path: str, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(json.dumps(DISCOVERY[path.removeprefix("/apis/")]).encode())


@pytest.fixture
def access(monkeypatch: pytest.MonkeyPatch) -> KubeAccess:
    from kubernetes import client

    groups = []
    for gv in DISCOVERY:
        name, version = gv.split("/")
        preferred = client.V1GroupVersionForDiscovery(group_version=gv, version=version)
        groups.append(client.V1APIGroup(name=name, versions=[preferred], preferred_version=preferred))
    monkeypatch.setattr(client.ApisApi, "get_api_versions",
                        lambda self, **kw: client.V1APIGroupList(groups=groups))
    return KubeAccess(api=FakeApi(), server="https://127.0.0.1:6443", context="c", namespace="default")


def test_plural_with_group_short_name_and_unique_plural_resolve(access: KubeAccess) -> None:
    assert resolve_watch(access, "widgets.profkit.example") == "widgets.profkit.example"
    assert resolve_watch(access, "wd") == "widgets.profkit.example"
    assert resolve_watch(access, "Deployments") == "deployments.apps"


def test_ambiguous_unknown_cluster_scoped_and_malformed_are_one_line_errors(access: KubeAccess) -> None:
    with pytest.raises(BadInput, match="ambiguous, served as widgets.profkit.example, widgets.scale.profkit.dev"):
        resolve_watch(access, "widgets")
    with pytest.raises(BadInput, match="group profkit.example serves no namespaced resource 'gadgets'"):
        resolve_watch(access, "gadgets.profkit.example")
    with pytest.raises(BadInput, match="serves no namespaced resource 'customresourcedefinitions'"):
        resolve_watch(access, "customresourcedefinitions")
    with pytest.raises(BadInput, match="expected a plural resource name"):
        resolve_watch(access, "widgets/status")


def test_watch_without_deployment_exits_2_in_one_line(tmp_path: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "profkit.cli.main", "capture", "--watch", "widgets",
                           "--pid", "1", "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--watch needs --deployment" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b").exists()


def test_capture_help_documents_watch() -> None:
    proc = subprocess.run([sys.executable, "-m", "profkit.cli.main", "capture", "--help"], capture_output=True,
                          text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert "--watch" in proc.stdout and "widgets.profkit.example" in proc.stdout


def test_watched_resources_are_watched_in_the_deployments_namespace_only() -> None:
    from profkit.kube.deployment import ResolvedDeployment
    from profkit.kube.targets import _plan
    from profkit.kube.watch import ObjectWatchCollector
    from profkit.sources.base import CaptureOptions

    class NullSink:
        def add_event(self, event: Any) -> None:
            pass

    deployment = ResolvedDeployment("kopf-widgets", "kopf-widgets", "ops", "app=w", None, "operator", [], [],
                                    resources=("widgets.profkit.example",), watched=("widgets.profkit.example",))
    access = KubeAccess(api=None, server="https://s", context="c", namespace="default")
    plan = _plan(access, deployment, False, NullSink(), CaptureOptions())  # type: ignore[arg-type]
    watchers = [c for c in plan.collectors if isinstance(c, ObjectWatchCollector)]
    assert [(w.resource, w.namespace) for w in watchers] == [("widgets.profkit.example", "ops")]
    assert plan.target.spec["watched"] == ["widgets.profkit.example"]


def test_print_rbac_grants_list_and_watch_on_watched_resources_in_the_namespace() -> None:
    import yaml

    cli = [sys.executable, "-m", "profkit.cli.main", "capture", "--print-rbac", "--deployment", "kopf-widgets",
           "-n", "ops"]
    proc = subprocess.run([*cli, "--watch", "widgets.profkit.example"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    roles = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "Role"]
    rules = [r for role in roles if role["metadata"]["namespace"] == "ops" for r in role["rules"]]
    assert {"apiGroups": ["profkit.example"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]} in rules
    offline = subprocess.run([*cli, "--watch", "widgets"], capture_output=True, text=True, timeout=60)
    assert offline.returncode == 2 and "give RESOURCE.GROUP" in offline.stderr and "Traceback" not in offline.stderr
