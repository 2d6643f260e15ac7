"""Fixes name only flags the controller's release has: --kube-api-qps came with Cluster API v1.5.0 (#8579).

The target specs are what capture records for a Deployment: the pod template's container (image, command,
args as clusterctl renders Cluster API's release manifests) through the same functions resolve_deployment uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller_bundles import HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, ramp
from profkit.analyze.tuning import resolve_tuning
from profkit.catalog import parse_collector, parse_version, resolve, version_from_image
from profkit.errors import BadInput
from profkit.kube.deployment import ResolvedDeployment
from profkit.kube.endpoints import container_args, pick_container, select_endpoints
from profkit.model import Target

ID = "client-side-throttling"
IMAGE = "registry.k8s.io/cluster-api/kubeadm-control-plane-controller:{v}"
# config/manager/manager.yaml of sigs.k8s.io/cluster-api v1.4.9 and v1.7.2, clusterctl's variable defaults applied.
ARGS = {
    "v1.4.9": ["--leader-elect", "--metrics-bind-addr=localhost:8080",
               "--feature-gates=ClusterTopology=false,KubeadmBootstrapFormatIgnition=false,LazyRestmapper=false"],
    "v1.7.2": ["--leader-elect", "--diagnostics-address=:8443", "--insecure-diagnostics=false",
               "--use-deprecated-infra-machine-naming=false",
               "--feature-gates=MachinePool=true,ClusterTopology=false,KubeadmBootstrapFormatIgnition=false"],
}
WAIT = ("I1124 08:40:{s:02d}.153869       1 request.go:697] Waited for {d} due to client-side throttling, "
        "not priority and fairness, request: GET:https://10.96.0.1:443/apis/controlplane.cluster.x-k8s.io/v1beta1/"
        "namespaces/default/kubeadmcontrolplanes/kcp-{i}")


def recorded_kcp_spec(version: str) -> dict[str, Any]:
    """The target spec capture writes for KCP at ``version`` (resolve_deployment's steps on its pod template)."""
    spec = resolve("kcp")
    pod_spec = {"containers": [{"name": "manager", "image": IMAGE.format(v=version), "command": ["/manager"],
                                "args": ARGS[version], "ports": [{"name": "metrics", "containerPort": 8443}]}]}
    container, endpoints = select_endpoints(spec, pod_spec)
    chosen = pick_container(pod_spec, container)
    assert chosen is not None
    deployment = ResolvedDeployment("kcp", spec.deployment if spec else "", "capi-kubeadm-control-plane-system",
                                    "control-plane=controller-manager", spec, container, endpoints,
                                    container_args(chosen), image=str(chosen["image"]))
    return deployment.target_spec()


def throttled(path: Path, spec: dict[str, Any]) -> Bundle:
    b = Bundle(path, target="kcp", spec=spec)
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=8,
                             results={"success": const(2.5)}), HEALTHY_DURATION)
    b.logs([(60.0 + 10 * i, WAIT.format(s=i % 60, d=d, i=i)) for i, d in enumerate(["1.18s", "2.5s", "1.4s"])])
    return b


def test_capture_records_the_release_from_the_image_tag() -> None:
    spec = recorded_kcp_spec("v1.4.9")
    assert spec["image"] == IMAGE.format(v="v1.4.9")
    assert spec["version"] == "v1.4.9" and "image tag" in spec["version_source"]


def test_v1_4_kcp_is_told_the_release_that_added_the_flag_not_to_set_it(tmp_path: Path) -> None:
    [finding] = analyze(throttled(tmp_path / "b", recorded_kcp_spec("v1.4.9")).view(HEALTHY_DURATION), ID)
    text = finding.recommendation
    assert "--kube-api-qps=" not in text and "--kube-api-burst=" not in text
    assert "Cluster API v1.4.9 has no --kube-api-qps/--kube-api-burst" in text
    assert "added in Cluster API v1.5.0" in text and "kubernetes-sigs/cluster-api#8579" in text
    assert "rest.Config" in text and "upgrade to v1.5.0" in text
    ev = finding.evidence
    assert set(ev["recommended"]) == {"QPS", "Burst"} and ev["recommended"]["QPS"] >= 40
    assert ev["controller_flags"]["version"] == "v1.4.9"
    assert ev["controller_flags"]["flags"] == {"--kube-api-qps": "absent", "--kube-api-burst": "absent"}
    assert "--kube-api-qps=" not in ev["configured"] and "release v1.4.9" in ev["configured"]


def test_v1_7_2_kcp_is_told_the_flag(tmp_path: Path) -> None:
    [finding] = analyze(throttled(tmp_path / "b", recorded_kcp_spec("v1.7.2")).view(HEALTHY_DURATION), ID)
    qps = finding.evidence["recommended"]["--kube-api-qps"]
    assert f": --kube-api-qps={qps} --kube-api-burst={2 * qps} (now 20/30" in finding.recommendation
    assert "has no" not in finding.recommendation and "where the controller has" not in finding.recommendation
    assert finding.evidence["controller_flags"]["flags"]["--kube-api-qps"] == "present"


def test_unknown_release_words_the_flag_as_conditional(tmp_path: Path) -> None:
    """No image tag, no build info: the catalog says only v1.5.0+ has the flag, so the text does not assert it."""
    [finding] = analyze(throttled(tmp_path / "b", {"alias": "kcp"}).view(HEALTHY_DURATION), ID)
    text = finding.recommendation
    qps = finding.evidence["recommended"]["--kube-api-qps"]
    assert f"--kube-api-qps={qps} --kube-api-burst={2 * qps} where the controller has these flags" in text
    assert "exist from Cluster API v1.5.0 on (kubernetes-sigs/cluster-api#8579)" in text
    assert "which release runs is not known here" in text and "rest.Config" in text
    assert finding.evidence["controller_flags"] == {
        "version": None, "version_source": None,
        "flags": {"--kube-api-qps": "unknown", "--kube-api-burst": "unknown"}}


def test_unknown_release_of_a_controller_whose_every_release_has_the_flag_names_it(tmp_path: Path) -> None:
    """The example controller's catalog entry has no flag history: every release has --kube-api-qps."""
    [finding] = analyze(throttled(tmp_path / "b", {"alias": "example"}).view(HEALTHY_DURATION), ID)
    assert "where the controller has" not in finding.recommendation and "has no" not in finding.recommendation
    assert "--kube-api-qps=" in finding.recommendation


def test_release_from_go_build_info_when_the_controller_exposes_it(tmp_path: Path) -> None:
    b = throttled(tmp_path / "b", {"alias": "kcp"})
    b.writer.add_points("kcp", "pod-0", T0 + 5, [
        ("go_build_info", {"path": "sigs.k8s.io/cluster-api", "version": "v1.4.9", "checksum": ""}, 1.0)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.evidence["controller_flags"]["version"] == "v1.4.9"
    assert "go_build_info" in finding.evidence["controller_flags"]["version_source"]
    assert "--kube-api-qps=" not in finding.recommendation


def test_flag_seen_in_the_args_exists_whatever_the_catalog_says() -> None:
    t = resolve_tuning(Target("kcp", "deployment", {"alias": "kcp", "args": ["--kube-api-qps=50"]}))
    assert t.availability("--kube-api-qps") == "present" and t.qps == 50


def test_v1_4_sync_budget_sizes_qps_without_naming_the_missing_flag(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", target="kcp", spec=recorded_kcp_spec("v1.4.9"))
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=8,
                             results={"requeue_after": const(1.0)}), HEALTHY_DURATION)
    [finding] = analyze(b.view(HEALTHY_DURATION), "sync-budget-exhausted")
    advice, _, note = finding.recommendation.partition(" has no ")
    assert "--kube-api-qps" not in advice and "QPS=40 Burst=80" in advice and "--sync-period=20m" in advice
    assert note.startswith("--kube-api-qps/--kube-api-burst (added in Cluster API v1.5.0")
    assert {"objects": 1200, "QPS": 40, "Burst": 80, "concurrency": 10} in finding.evidence["flags_for"]


def test_v1_4_saturated_workers_blocked_on_throttling_name_the_concurrency_flag_not_the_qps_flag(
        tmp_path: Path) -> None:
    spec = {**recorded_kcp_spec("v1.4.9")}
    spec["args"] = [*spec["args"], "--kubeadmcontrolplane-concurrency=1"]
    b = Bundle(tmp_path / "b", target="kcp", spec=spec)
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", workers=1, active=const(1),
                             results={"success": const(2.0)}, reconcile_seconds=0.5, queue_seconds=8.0,
                             depth=ramp(0, 400, HEALTHY_DURATION)), HEALTHY_DURATION)
    b.logs([(60.0 + i, WAIT.format(s=i, d="1.4s", i=i)) for i in range(5)])
    [finding] = analyze(b.view(HEALTHY_DURATION), "concurrency-saturation")
    assert finding.evidence["blocked_by_throttling"] is True
    assert "--kubeadmcontrolplane-concurrency=" in finding.recommendation  # every release has it
    assert "--kube-api-qps=" not in finding.recommendation and "client QPS=20" in finding.recommendation
    assert "Cluster API v1.4.9 has no --kube-api-qps" in finding.recommendation


def test_v1_13_defaults_are_100_200() -> None:
    t = resolve_tuning(Target("kcp", "deployment", {"alias": "kcp", "image": IMAGE.format(v="v1.13.0")}))
    assert (t.qps, t.burst, t.concurrency) == (100, 200, 100)
    assert t.sources["qps"] == "catalog default (kcp v1.13.0)"
    old = resolve_tuning(Target("kcp", "deployment", {"alias": "kcp", "image": IMAGE.format(v="v1.12.0")}))
    assert (old.qps, old.burst, old.concurrency) == (20, 30, 10)


def test_cabpk_cluster_concurrency_only_where_it_works() -> None:
    """cabpk's --cluster-concurrency came in v1.5.0 and does nothing from v1.6.0 (--clustercachetracker-concurrency)."""
    image = "registry.k8s.io/cluster-api/kubeadm-bootstrap-controller:{v}"
    for version, has in (("v1.4.9", False), ("v1.5.0", True), ("v1.7.2", False)):
        t = resolve_tuning(Target("cabpk", "deployment", {"alias": "cabpk", "image": image.format(v=version)}))
        assert ("--cluster-concurrency" in t.concurrency_flags) is has, version
        assert "--kubeadmconfig-concurrency" in t.concurrency_flags


@pytest.mark.parametrize("image, version", [
    ("registry.k8s.io/cluster-api/cluster-api-controller:v1.7.2", "v1.7.2"),
    ("localhost:5000/capi/kcp:v1.4.9@sha256:" + "0" * 64, "v1.4.9"),
    ("localhost:5000/capi/kcp", None),
    ("gcr.io/k8s-staging-cluster-api/cluster-api-controller:main", None),
    ("controller:latest", None),
    ("quay.io/metal3-io/baremetal-operator:v0.9.0-rc.1", "v0.9.0-rc.1"),
])
def test_version_from_image(image: str, version: str | None) -> None:
    assert version_from_image(image) == version


def test_parse_version() -> None:
    assert parse_version("v1.5.0") == (1, 5, 0) and parse_version("1.4") == (1, 4, 0)
    assert parse_version("v1.8.0-beta.0") == (1, 8, 0) and parse_version("(devel)") is None


def test_bad_flag_history_names_the_file_and_flag() -> None:
    text = "alias: x\ndeployment: d\nnamespace: n\nflag_history:\n  --kube-api-qps: {since: soon}\n"
    with pytest.raises(BadInput, match=r"mine.yaml: flag_history --kube-api-qps: since 'soon'"):
        parse_collector(text, "mine.yaml")


def test_args_learnt_while_capturing_fill_the_target_spec_but_never_overwrite_it(tmp_path: Path) -> None:
    """An --endpoint target learns its args from /debug/pprof/cmdline; a recorded value stays as it was."""
    from profkit.bundle import open_bundle
    from profkit.bundle.writer import BundleWriter

    writer = BundleWriter(tmp_path / "b")
    writer.add_target(Target("ctl", "endpoint", {"endpoints": [], "args_source": "pod spec"}))
    writer.add_target_facts("ctl", {"args": ["/manager", "--kube-api-qps=5"], "args_source": "/debug/pprof/cmdline"})
    writer.add_target_facts("ctl", {"args": ["/other"]})
    writer.add_target_facts("nobody", {"args": ["/x"]})
    [target] = open_bundle(tmp_path / "b").targets()
    assert target.spec["args"] == ["/manager", "--kube-api-qps=5"] and target.spec["args_source"] == "pod spec"
    t = resolve_tuning(target)
    assert t.qps == 5 and t.sources["qps"] == "args --kube-api-qps" and t.rate_flags == "present"


def test_plan_for_a_release_without_the_flag_sizes_qps_without_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    import typer
    from typer.testing import CliRunner

    from profkit.cli import plan as plan_cli

    app = typer.Typer()
    plan_cli.register(app)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, result.output

    code, out = run("--objects", "600", "--target", "kcp", "--release", "v1.4.9", "--calls-per-reconcile", "8")
    assert code == 0, out
    assert "--kube-api-qps=" not in out and "client QPS=20, client Burst=30" in out
    assert "1200 objects  QPS=40 Burst=80" in out and "Cluster API v1.4.9 has no --kube-api-qps" in out
    code, out = run("--objects", "600", "--target", "kcp", "--release", "v1.7.2", "--calls-per-reconcile", "8")
    assert code == 0 and "1200 objects  --kube-api-qps=40 --kube-api-burst=80" in out and "has no" not in out
    code, out = run("--objects", "600", "--target", "kcp", "--release", "v1.13.0", "--json")
    doc = json.loads(out)
    assert (doc["input"]["qps"], doc["input"]["burst"], doc["input"]["concurrency"]) == (100, 200, 100)
    assert doc["controller_flags"]["flags"] == {"--kube-api-qps": "present", "--kube-api-burst": "present"}
    from profkit.cli.main import main

    assert main(["plan", "--objects", "600", "--target", "kcp", "--release", "soon"]) == 2
    assert capsys.readouterr().err.strip() == "profkit: --release soon: not a release number like v1.5.0"
