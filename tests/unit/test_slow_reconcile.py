"""slow-reconcile: reconcile p99 from histogram buckets and stuck processors; throttling explains slowness."""

from __future__ import annotations

from pathlib import Path

from controller_bundles import (
    HEALTHY_DURATION, OLD_THROTTLE, Bundle, ControllerLoad, analyze, const, healthy,
)
from scenario_bundles import slow

ID = "slow-reconcile"


def test_reconciles_of_twelve_seconds_are_a_warning_with_p99_from_buckets(tmp_path: Path) -> None:
    [finding] = analyze(slow(tmp_path / "b", 12.0).view(HEALTHY_DURATION), ID)
    assert finding.severity == "warning"
    ev = finding.evidence
    assert 10 < ev["p99_seconds"] <= 15  # the (10, 15] bucket
    assert ev["mean_seconds"] == 12.0
    assert any("reconcile_time_seconds_bucket" in s for s in ev["series"])


def test_reconciles_of_45_seconds_are_critical(tmp_path: Path) -> None:
    [finding] = analyze(slow(tmp_path / "b", 45.0).view(HEALTHY_DURATION), ID)
    assert finding.severity == "critical"


def test_slow_because_of_client_side_throttling_is_info_pointing_at_qps(tmp_path: Path) -> None:
    b = slow(tmp_path / "b", 12.0)
    b.logs([(60.0 + i, OLD_THROTTLE.format(s=i, d="3.2s", i=i)) for i in range(5)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.severity == "info" and "--kube-api-qps" in finding.recommendation


def test_healthy_fast_reconciles_are_not_flagged(tmp_path: Path) -> None:
    assert analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), ID) == []
