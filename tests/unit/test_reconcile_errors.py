"""reconcile-errors: the error share from controller_runtime_reconcile_total, grouped messages from "Reconciler error" lines."""

from __future__ import annotations

from pathlib import Path

from controller_bundles import HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, healthy, zap

ID = "reconcile-errors"
ERR = 'failed to reach workload cluster: Get "https://10.0.{i}.1:6443/api?timeout=10s": dial tcp 10.0.{i}.1:6443: connect: connection refused'


def failing(path: Path, error_rate: float, panics: float = 0.0) -> Bundle:
    b = Bundle(path)
    b.metrics(ControllerLoad(results={"success": const(1.0 - error_rate), "error": const(error_rate)}),
              HEALTHY_DURATION)
    if panics:
        b.writer.add_points("ctl", "pod-0", T0, [("controller_runtime_reconcile_panics_total", {"controller": "widget"}, 0)])
        b.writer.add_points("ctl", "pod-0", T0 + 600,
                            [("controller_runtime_reconcile_panics_total", {"controller": "widget"}, panics)])
    b.logs([(t, zap(T0 + t, "Reconciler error", key=f"default/w-{t % 7}", level="error", error=ERR.format(i=t % 7)))
            for t in range(10, 1200, 20)])
    return b


def test_a_third_of_reconciles_failing_is_critical_with_grouped_messages(tmp_path: Path) -> None:
    [finding] = analyze(failing(tmp_path / "b", 0.35).view(HEALTHY_DURATION), ID)
    assert finding.severity == "critical"
    ev = finding.evidence
    assert abs(ev["error_share"] - 0.35) < 0.01
    [top] = ev["top_errors"]  # the per-object IPs are folded into one message shape
    assert top["count"] == 60 and "connection refused" in top["message"]
    assert len(ev["top_objects"]) == 5 and ev["log_samples"][0].startswith("{")
    assert "connection refused" in finding.recommendation or "unreachable" in finding.recommendation


def test_ten_percent_errors_is_a_warning(tmp_path: Path) -> None:
    [finding] = analyze(failing(tmp_path / "b", 0.10).view(HEALTHY_DURATION), ID)
    assert finding.severity == "warning"


def test_any_panic_is_critical(tmp_path: Path) -> None:
    [finding] = analyze(failing(tmp_path / "b", 0.01, panics=2).view(HEALTHY_DURATION), ID)
    assert finding.severity == "critical" and finding.evidence["panics"] == 2


def test_occasional_conflicts_in_a_healthy_controller_are_info_only(tmp_path: Path) -> None:
    [finding] = analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), ID)
    assert finding.severity == "info"
    assert "re-read before update" in finding.recommendation
