"""requeue-storm-deleted fires on objects reconciled after deletion (logs, objects, metrics) and not on healthy requeues."""

from __future__ import annotations

import json
from pathlib import Path

from controller_bundles import (
    HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, at_least, const, healthy, zap,
)

ID = "requeue-storm-deleted"


def bmo_line(t: float, key: str) -> str:
    """The Bare Metal Operator's line for a host that is gone (issue 1190), zap JSON."""
    ns, name = key.split("/")
    return json.dumps({"level": "info", "ts": T0 + t, "logger": "controllers.HostFirmwareSettings",
                       "msg": "could not get baremetalhost, not running reconciler",
                       "hostfirmwaresettings": {"name": name, "namespace": ns}})


def storm_bundle(path: Path, hosts: int = 20, watcher: bool = True) -> Bundle:
    b = Bundle(path, spec={"alias": "bmo"})
    b.metrics(ControllerLoad(controller="hostfirmwaresettings",
                             results={"success": const(0.05), "requeue_after": const(hosts / 30)},
                             retries_per_s=const(0.02)), HEALTHY_DURATION)
    keys = [f"metal3/host-{i}" for i in range(hosts)]
    if watcher:
        b.objects([(0.0, k, "added") for k in keys], resource="baremetalhosts.metal3.io")
        b.objects([(300.0 + i, k, "deleted") for i, k in enumerate(keys)], resource="baremetalhosts.metal3.io")
    lines = [(t, bmo_line(t, k)) for i, k in enumerate(keys) for t in range(300 + i, 1200, 30)]
    b.logs(sorted(lines))
    return b


def test_deleted_hosts_requeued_forever_is_critical_with_keys_rate_and_log_samples(tmp_path: Path) -> None:
    view = storm_bundle(tmp_path / "b").view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert finding.severity == "critical"  # 20 objects >= 10
    ev = finding.evidence
    assert ev["controller"] == "controllers.HostFirmwareSettings"
    assert ev["objects_in_storm"] == 20
    assert ev["objects"][0]["source"] == "objects+logs"
    assert 1.5 <= ev["objects"][0]["per_minute"] <= 2.5  # RequeueAfter 30 s
    assert ev["objects"][0]["reconciles_after_delete"] >= 25
    assert "could not get baremetalhost" in ev["log_samples"][0]
    assert "client.IgnoreNotFound" in finding.recommendation and "1190" in finding.recommendation


def test_few_deleted_objects_requeued_is_a_warning(tmp_path: Path) -> None:
    view = storm_bundle(tmp_path / "b", hosts=3).view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert finding.severity == "warning"
    assert {o["key"] for o in finding.evidence["objects"]} == {"metal3/host-0", "metal3/host-1", "metal3/host-2"}


def test_without_object_watcher_repeated_notfound_lines_are_enough(tmp_path: Path) -> None:
    view = storm_bundle(tmp_path / "b", hosts=4, watcher=False).view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert finding.evidence["objects"][0]["source"] == "NotFound log lines"
    assert finding.evidence["objects_in_storm"] == 4


def test_metrics_alone_requeues_after_every_object_is_gone(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(results={"requeue_after": const(0.5)}, retries_per_s=const(0.1)), HEALTHY_DURATION)
    b.objects([(0.0, f"default/w-{i}", "added") for i in range(15)])
    b.objects([(200.0, f"default/w-{i}", "deleted") for i in range(15)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.severity == "warning"
    metrics = finding.evidence["metrics"]
    assert abs(metrics["requeue_rate_after_per_s"] - 0.5) < 0.05
    assert metrics["retries_increase_after"] > 90
    assert finding.evidence["live_objects"] == 0


def test_healthy_requeue_after_of_live_objects_and_one_pass_after_deletion_is_not_a_storm(tmp_path: Path) -> None:
    view = healthy(tmp_path / "b").view(HEALTHY_DURATION)
    assert analyze(view, ID) == []
    assert at_least(analyze(view), "warning") == []


def test_recreated_object_with_the_same_name_is_live_again(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    key = "default/w-1"
    b.objects([(0.0, key, "added"), (100.0, key, "deleted"), (110.0, key, "added")])
    b.logs([(t, zap(T0 + t, "Reconciling Widget", key=key)) for t in range(120, 1200, 30)])
    assert analyze(b.view(HEALTHY_DURATION), ID) == []


def test_example_controller_requeue_deleted_lines_every_two_seconds(tmp_path: Path) -> None:
    """examples/go-controller --requeue-deleted: RequeueAfter 2 s, logged with controller-runtime's context fields."""
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(results={"success": const(0.2), "requeue_after": const(2.5)}), 600)
    keys = [f"widgets/w-{i}" for i in range(5)]
    b.objects([(0.0, k, "added") for k in keys] + [(100.0, k, "deleted") for k in keys])
    b.logs(sorted((t, zap(T0 + t, "could not get widget, not running reconciler", key=k, widget=k))
                  for k in keys for t in range(101, 600, 2)))
    [finding] = analyze(b.view(600), ID)
    assert finding.severity == "critical"  # 5 objects x 30/min = 150 reconciles/min >= 60
    assert finding.evidence["controller"] == "widget"
    assert 29 <= finding.evidence["objects"][0]["per_minute"] <= 31
    assert finding.evidence["metrics"]["series"][0]["name"] == "controller_runtime_reconcile_total"


def test_waiting_for_a_missing_dependency_is_not_a_deleted_object_storm(tmp_path: Path) -> None:
    """A Secret not found yet is retried with backoff: normal, and not about the reconciled object."""
    b = Bundle(tmp_path / "b")
    err = 'secrets "w-1-kubeconfig" not found'
    b.logs([(float(t), zap(T0 + t, "Reconciler error", key="default/w-1", level="error", error=err))
            for t in range(10, 400, 10)])
    assert analyze(b.view(HEALTHY_DURATION), ID) == []


def test_own_notfound_error_repeated_without_watcher_is_a_storm(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    err = 'widgets.scale.profkit.dev "w-1" not found'
    b.logs([(float(t), zap(T0 + t, "Reconciler error", key="default/w-1", level="error", error=err))
            for t in range(10, 70, 2)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert "gone (NotFound)" in finding.title
    assert finding.evidence["objects"][0]["per_minute"] == 30.0
