"""Scenario x finding matrix on synthetic bundles: each pathology fires its own id only; healthy fires nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from controller_bundles import HEALTHY_DURATION, OLD_THROTTLE, Bundle, ControllerLoad, analyze, at_least, healthy, ramp
from test_concurrency_saturation import saturated
from test_reconcile_errors import failing
from test_requeue_storm_deleted import storm_bundle
from test_slow_reconcile import slow


def throttling(path: Path) -> Bundle:
    b = Bundle(path, spec={"alias": "kcp", "args": ["--kube-api-qps=5", "--kube-api-burst=10"]})
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=5,
                             results={"success": lambda t: 1.0}), HEALTHY_DURATION)
    b.logs([(60.0 + 30 * i, OLD_THROTTLE.format(s=i % 60, d=f"{1 + i % 3}.{i % 10}s", i=i)) for i in range(30)])
    return b


def goroutine_leak(path: Path) -> Bundle:
    b = healthy(path)
    b.metrics(ControllerLoad(goroutines=ramp(150, 3000, HEALTHY_DURATION)), HEALTHY_DURATION, instance="pod-1")
    return b


SCENARIOS: dict[str, tuple[Callable[[Path], Bundle], set[str]]] = {
    "healthy": (healthy, set()),
    "requeue-deleted": (storm_bundle, {"requeue-storm-deleted"}),
    "throttling": (throttling, {"client-side-throttling"}),
    "saturation": (saturated, {"concurrency-saturation"}),
    "errors": (lambda p: failing(p, 0.35), {"reconcile-errors"}),
    "slow": (lambda p: slow(p, 12.0), {"slow-reconcile"}),
    "goroutine-leak": (goroutine_leak, {"goroutine-growth"}),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_scenario_flags_exactly_its_pathology(tmp_path: Path, scenario: str) -> None:
    build, expected = SCENARIOS[scenario]
    findings = analyze(build(tmp_path / "b").view(HEALTHY_DURATION))
    assert {f.id for f in at_least(findings, "warning")} == expected, [(f.id, f.severity, f.title) for f in findings]
    json.dumps([f.to_json() for f in findings], allow_nan=False)  # analyze --json prints strict JSON
