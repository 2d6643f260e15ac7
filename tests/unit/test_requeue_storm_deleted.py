"""requeue-storm-deleted fires on objects reconciled after deletion (logs, objects, metrics) and not on healthy requeues."""

from __future__ import annotations

import json
from pathlib import Path

from profkit.model import LogRecord, ObjectEvent

from controller_bundles import (
    HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, at_least, const, healthy, zap,
)
from scenario_bundles import bmo_line, storm_bundle

ID = "requeue-storm-deleted"


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


KOPF_LINE = ("[2026-12-02 01:32:48,498] kopf.objects         [ERROR   ] [{key}] Handler 'delete_widget' failed "
             'temporarily: configmaps "{name}" not found')


def terminating(b: Bundle, keys: list[str], requested: float, until: float, every: float,
                resource: str = "widgets.profkit.example", finalizer: str = "profkit.example/cleanup") -> None:
    """The watcher's view of objects whose deletion was requested at ``requested`` and that never go away."""
    events = []
    for key in keys:
        ns, name = key.split("/")
        events.append(ObjectEvent(T0, resource, ns, name, "added", uid=key, finalizers=[finalizer]))
        t = requested
        while t < until:
            events.append(ObjectEvent(T0 + t, resource, ns, name, "modified", uid=key, deletion_ts=T0 + requested,
                                      finalizers=[finalizer]))
            t += every
    b.writer.add_objects(sorted(events, key=lambda e: e.ts))


def kopf_records(keys: list[str], start: float, end: float, every: float) -> list[LogRecord]:
    """kopf's deletion-handler retry lines as the log reader stores them (level, logger, object key)."""
    out = []
    for key in keys:
        t = start
        while t < end:
            line = KOPF_LINE.format(key=key, name=key.split("/")[1])
            out.append(LogRecord(T0 + t, "widget-operator", "pod-0", line.split("] ", 3)[-1], level="error",
                                 logger="kopf.objects", object_key=key, raw=line))
            t += every
    return sorted(out, key=lambda r: r.ts)


def test_kopf_deletion_handler_retrying_forever_is_stuck_terminating_with_handler_and_duration(tmp_path: Path) -> None:
    """kopf's TemporaryError(delay=1) in @kopf.on.delete while the backing ConfigMap is gone: finalizer never removed."""
    b = Bundle(tmp_path / "b", target="widget-operator")
    keys = [f"ns/w-{i:03d}" for i in range(10)]
    terminating(b, keys, requested=20.0, until=120.0, every=1.0)
    b.writer.add_logs(kopf_records(keys, 21.0, 120.0, 1.0))
    [finding] = analyze(b.view(120.0), ID)
    ev = finding.evidence
    assert ev["variant"] == "stuck-terminating"
    assert finding.severity == "critical"  # 10 objects
    assert ev["objects_stuck_terminating"] == 10
    assert ev["handlers"] == ["delete_widget"]
    assert ev["controller"] == "widgets.profkit.example" and ev["framework"] == "kopf"  # not the logger kopf.objects
    assert ev["longest_stuck_seconds"] == 100.0
    assert {o["key"] for o in ev["objects"]} == set(keys)
    first = ev["objects"][0]
    assert first["state"] == "terminating" and first["finalizers"] == ["profkit.example/cleanup"]
    assert 55 <= first["per_minute"] <= 65  # delay=1 s
    assert first["retries"] >= 80  # lines after the grace period
    assert "stuck Terminating" in finding.title and "delete_widget" in finding.title
    assert "kopf.TemporaryError" in finding.recommendation and "finalizer" in finding.recommendation
    assert len(ev["log_samples"]) == len(set(ev["log_samples"]))


def test_go_finalizer_never_removed_is_stuck_terminating_from_reconciler_errors(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    key = "default/w-1"
    terminating(b, [key], requested=10.0, until=300.0, every=20.0, resource="widgets.scale.profkit.dev",
                finalizer="scale.profkit.dev/cleanup")
    err = 'deleting backing secret: secrets "w-1-data" not found'
    b.logs([(float(t), zap(T0 + t, "Reconciler error", key=key, level="error", error=err))
            for t in range(30, 300, 5)])
    [finding] = analyze(b.view(300.0), ID)
    assert finding.severity == "warning"
    assert finding.evidence["objects_stuck_terminating"] == 1
    assert finding.evidence["controller"] == "widget"
    assert "controllerutil.RemoveFinalizer" in finding.recommendation


def test_watcher_updates_alone_show_a_stuck_object_being_retried(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", target="op")
    terminating(b, ["ns/w-1"], requested=10.0, until=200.0, every=2.0)
    [finding] = analyze(b.view(200.0), ID)
    assert finding.evidence["objects"][0]["source"].startswith("objects")
    assert finding.evidence["objects"][0]["updates_while_terminating"] > 80


def test_deletion_that_completes_or_is_recent_is_not_stuck(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", target="op")
    terminating(b, ["ns/recent"], requested=100.0, until=120.0, every=1.0)  # 20 s < stuck_min_seconds
    terminating(b, ["ns/done"], requested=10.0, until=14.0, every=1.0)
    b.writer.add_objects([ObjectEvent(T0 + 15.0, "widgets.profkit.example", "ns", "done", "deleted", uid="ns/done")])
    b.writer.add_logs(kopf_records(["ns/recent"], 101.0, 120.0, 1.0))
    assert analyze(b.view(120.0), ID) == []


def test_notfound_evidence_has_no_empty_deleted_at_and_each_log_line_once(tmp_path: Path) -> None:
    view = storm_bundle(tmp_path / "b", hosts=4, watcher=False).view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert all("deleted_at" not in o for o in finding.evidence["objects"])
    assert len(finding.evidence["log_samples"]) == len(set(finding.evidence["log_samples"]))


def test_kopf_retry_forever_on_deletion_is_one_finding_not_also_reconcile_errors(tmp_path: Path) -> None:
    """The deletion handler's failures are the stuck objects' retries: reconcile-errors leaves them to this finding."""
    b = Bundle(tmp_path / "b", target="widget-operator")
    keys = [f"ns/w-{i:03d}" for i in range(3)]
    terminating(b, keys, requested=20.0, until=120.0, every=1.0)
    b.writer.add_logs(kopf_records(keys, 21.0, 120.0, 1.0))
    findings = analyze(b.view(120.0))
    assert [f.id for f in at_least(findings, "warning")] == [ID]
    errors = [f for f in findings if f.id == "reconcile-errors"]
    assert errors and errors[0].severity == "info"  # still shown, with the handler's name
