"""Scenario x finding matrix on synthetic bundles: each pathology fires its own id only; healthy fires nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from controller_bundles import HEALTHY_DURATION, OLD_THROTTLE, Bundle, ControllerLoad, analyze, at_least, healthy, ramp
from scenario_bundles import failing, goroutine_leak, saturated, slow, storm_bundle, throttling

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
