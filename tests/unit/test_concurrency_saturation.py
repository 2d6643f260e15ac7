"""concurrency-saturation: all workers busy with the queue backing up; Little's law sizes the concurrency flag."""

from __future__ import annotations

from pathlib import Path

from controller_bundles import (
    HEALTHY_DURATION, OLD_THROTTLE, T0, Bundle, ControllerLoad, analyze, const, healthy, ramp,
)
from scenario_bundles import saturated

ID = "concurrency-saturation"


def test_one_worker_busy_with_a_growing_queue_is_critical_and_names_the_kcp_flag(tmp_path: Path) -> None:
    [finding] = analyze(saturated(tmp_path / "b").view(HEALTHY_DURATION), ID)
    assert finding.severity == "critical"
    ev = finding.evidence
    assert ev["saturated_share"] == 1.0 and ev["max_concurrent_reconciles"] == 1
    assert ev["queue_to_work_ratio"] == 10.0  # 8 s queued vs 0.5 s of work, in decade buckets
    assert ev["workqueue_depth"]["last"] > 350
    # arrival = 2/s done + 400 items / 1200 s = 2.33/s; x 0.5 s = 1.17 busy; x 2 headroom -> 3
    assert ev["littles_law_workers"] == 1.17
    assert ev["recommended_workers"] == 3
    assert "--kubeadmcontrolplane-concurrency=3" in finding.recommendation


def test_saturation_under_client_side_throttling_is_only_info(tmp_path: Path) -> None:
    b = saturated(tmp_path / "b")
    b.logs([(60.0 + i, OLD_THROTTLE.format(s=i, d="1.4s", i=i)) for i in range(5)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.severity == "info" and finding.evidence["blocked_by_throttling"] is True
    assert "--kube-api-qps" in finding.recommendation


def test_busy_workers_without_waiting_items_are_not_saturation(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(workers=2, active=const(2), results={"success": const(4.0)}, reconcile_seconds=0.5,
                             queue_seconds=0.01, depth=const(1)), HEALTHY_DURATION)
    assert analyze(b.view(HEALTHY_DURATION), ID) == []


def test_healthy_bundle_is_not_saturated(tmp_path: Path) -> None:
    assert analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), ID) == []
