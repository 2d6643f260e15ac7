"""The rate budget model, ``profkit plan`` and sync-budget-exhausted agree on the 600-cluster arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from controller_bundles import HEALTHY_DURATION, Bundle, ControllerLoad, analyze, const, healthy
from profkit.analyze.rate_budget import BudgetInput, knee_objects, plan, resync_rps, workers_for
from profkit.cli import plan as plan_cli


def run_plan(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    plan_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps "plan" a subcommand
    result = CliRunner().invoke(app, ["plan", *args])
    return result.exit_code, result.output


def test_600_objects_10m_8_calls_eat_80_percent_of_10_qps() -> None:
    p = plan(BudgetInput(objects=600, sync_period=600, qps=10, burst=30, calls_per_reconcile=8), [2000])
    assert p.resync_reconciles_per_s == 1.0
    assert p.resync_rps == 8.0 and p.share == pytest.approx(0.8)
    assert p.left_rps == pytest.approx(2.0) and p.left_reconciles_per_s == pytest.approx(0.25)
    assert p.knee_objects == 750
    [hold] = p.holds  # 2000 objects: 26.7 req/s of resync under 50 % -> 60 QPS, burst 2x
    assert (hold.qps, hold.burst) == (60, 120)
    assert hold.resync_rps == pytest.approx(26.67, abs=0.01)


def test_knee_and_resync_formulas() -> None:
    assert resync_rps(600, 600, 1) == 1.0  # the blog's "one API call per second just from the periodic sync"
    assert knee_objects(20, 600, 1) == 12000
    assert math.isinf(knee_objects(-1, 600, 8))  # controller-runtime >= 0.21: QPS -1, no client-side limit
    assert workers_for(arrival_per_s=5, reconcile_time=0.4) == 4  # 2 busy x 2 headroom


def test_little_law_workers_and_event_load() -> None:
    p = plan(BudgetInput(objects=1200, sync_period=600, qps=50, burst=100, calls_per_reconcile=4,
                         concurrency=2, reconcile_time=1.0, event_reconciles_per_s=3.0))
    assert p.total_reconciles_per_s == 5.0
    assert p.busy_workers == 5.0 and p.workers_needed == 10
    assert p.worker_utilisation == 2.5  # 2 workers cannot keep up
    assert p.burst_seconds == 0.0  # 8 + 12 = 20 req/s fits 50 QPS


def test_plan_command_explains_the_600_cluster_lesson_with_numbers() -> None:
    code, out = run_plan("--objects", "600", "--sync-period", "10m", "--qps", "10", "--calls-per-reconcile", "8")
    assert code == 0, out
    assert "600 objects / 600 s = 1 reconciles/s x 8 calls = 8 req/s" in out
    assert "80 % of 10 QPS" in out
    assert "2 req/s = 15 reconciles/min" in out
    assert "750 objects" in out
    assert "2000 objects  --kube-api-qps=60 --kube-api-burst=120" in out
    assert "1200 objects" in out  # 2 x N is always shown


def test_plan_for_kcp_uses_its_flags_and_defaults() -> None:
    code, out = run_plan("--objects", "600", "--target", "kcp", "--calls-per-reconcile", "8",
                         "--reconcile-time", "0.2s", "--for-objects", "2000")
    assert code == 0, out
    assert "for kcp" in out and "client QPS=20" in out  # the catalog default
    # no --release: the flag is named only with the releases that have it
    assert "--kube-api-qps/--kube-api-burst exist from Cluster API v1.5.0" in out
    assert "40 % of 20 QPS" in out
    assert "--kubeadmcontrolplane-concurrency=10" in out
    assert "Little's law" in out


def test_plan_json_is_one_document_without_infinities() -> None:
    code, out = run_plan("--objects", "600", "--qps", "-1", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["knee_objects"] is None and doc["flags"]["qps"] == "--kube-api-qps"


def test_plan_rejects_unknown_target() -> None:
    from profkit.errors import BadInput

    app = typer.Typer()
    plan_cli.register(app)
    app.command("noop")(lambda: None)
    with pytest.raises(BadInput, match="not in the catalog"):
        app(["plan", "--objects", "5", "--target", "nope"], standalone_mode=False)


def test_plan_help_has_examples() -> None:
    code, out = run_plan("--help")
    assert code == 0 and "--calls-per-reconcile 8" in out


def test_sync_budget_exhausted_from_observed_objects_calls_and_qps(tmp_path: Path) -> None:
    # 600 clusters, sync 10m, 8 calls per reconcile, KCP at --kube-api-qps=10: the model says 80 %
    b = Bundle(tmp_path / "b", spec={"alias": "kcp", "args": ["--kube-api-qps=10", "--kube-api-burst=20"]})
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=8,
                             results={"success": const(1.0)}), HEALTHY_DURATION)
    b.objects([(i * 0.01, f"default/kcp-{i}", "added") for i in range(600)],
              resource="kubeadmcontrolplanes.controlplane.cluster.x-k8s.io")
    [finding] = analyze(b.view(HEALTHY_DURATION), "sync-budget-exhausted")
    assert finding.severity == "critical"
    ev = finding.evidence
    assert ev["objects"] == 600 and ev["calls_per_reconcile"] == 8
    assert ev["resync_share_of_qps"] == pytest.approx(0.8)
    assert ev["knee_objects"] == 750
    assert {"objects": 2000.0, "--kube-api-qps": 60, "--kube-api-burst": 120} in ev["flags_for"] or any(
        f["objects"] == 2000 and f["--kube-api-qps"] == 60 for f in ev["flags_for"])
    assert "--kube-api-qps=60" in finding.recommendation and "--sync-period=20m" in finding.recommendation


def test_healthy_bundle_spends_little_of_its_budget_on_resync(tmp_path: Path) -> None:
    assert analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), "sync-budget-exhausted") == []


def test_plan_through_the_profkit_entry_point_and_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from profkit.cli.main import main

    assert main(["plan", "--objects", "600", "--sync-period", "10m", "--qps", "10", "--calls-per-reconcile", "8"]) == 0
    assert "80 % of 10 QPS" in capsys.readouterr().out
    assert main(["plan", "--objects", "600", "--sync-period", "soon"]) == 2
    assert "--sync-period 'soon': not a duration" in capsys.readouterr().err
    assert main(["plan", "--objects", "10", "--target", "nope"]) == 2


def test_without_object_watcher_objects_are_estimated_from_the_reconcile_rate(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", spec={"alias": "kcp", "args": ["--kube-api-qps=10", "--sync-period=5m"]})
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=8,
                             results={"success": const(2.0)}), HEALTHY_DURATION)
    [finding] = analyze(b.view(HEALTHY_DURATION), "sync-budget-exhausted")
    assert finding.evidence["objects"] == 600  # 2 reconciles/s x 300 s
    assert finding.evidence["objects_from"].startswith("estimated")
    assert finding.severity == "info"  # an estimate from the reconcile rate cannot prove the budget is gone
    assert finding.evidence["sync_period_seconds"] == 300 and finding.evidence["sync_period_from"] == "args --sync-period"
