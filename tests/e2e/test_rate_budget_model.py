"""The rate budget model (profkit plan, sync-budget-exhausted) checked against the real Go example at two scales.

The example controller runs against the real control plane with a short ``--sync-period``, a
known number of uncached GETs per reconcile and a low ``--kube-api-qps``. Below the knee the
observed request rate matches ``objects / sync period x calls``; above it the client is pinned
at its QPS. The analyzer, fed a bundle of the real scrapes, reports the same numbers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.analyze.rate_budget import BudgetInput, plan
from profkit.bundle import BundleWriter, open_bundle
from profkit.formats.prometheus import parse_text
from profkit.model import ObjectEvent, Target
from tests.e2e.controlplane.example import GO_EXAMPLE, WIDGET_RESOURCE, deploy_example, stop_example
from tests.e2e.controlplane.harness import ControlPlane

pytestmark = pytest.mark.e2e

SYNC = 15.0  # seconds
CALLS = 3  # --api-calls-per-reconcile: uncached GETs, the only API calls of a steady-state reconcile
QPS = 10.0
KEEP = ("rest_client_requests_total", "controller_runtime_reconcile_total", "workqueue_depth",
        "controller_runtime_active_workers", "controller_runtime_max_concurrent_reconciles")


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        parsed = parse_text(response.read())
    return [(s[0], dict(s[1]), float(s[2])) for s in parsed.samples if s[0] in KEEP]


def run_at_scale(cp: ControlPlane, objects: int, bundle: Path, window: float = 3 * SYNC) -> float:
    """Deploy the example with ``objects`` Widgets, scrape it every 2.5 s over ``window``; the request rate."""
    name = f"budget-{objects}"
    args = ["--sync-period", f"{SYNC:g}s", "--api-calls-per-reconcile", str(CALLS),
            "--kube-api-qps", f"{QPS:g}", "--kube-api-burst", f"{QPS:g}"]
    dep = deploy_example(cp, name=name, namespace=name, objects=objects, controller_args=args, ready_timeout=180)
    writer = BundleWriter(bundle)
    writer.add_target(Target(name, "endpoint", {"alias": "example", "args": args}))
    try:
        time.sleep(SYNC)  # past creation and one full resync
        writer.add_objects([ObjectEvent(time.time(), WIDGET_RESOURCE, name, w, "added") for w in dep.widgets])
        url = dep.replicas[0].metrics_url
        first = last = 0.0
        start = time.time()
        while time.time() - start < window:
            now = time.time()
            writer.add_points(name, dep.replicas[0].pod, now, scrape(url))
            first, last = first or now, now
            time.sleep(2.5)
    finally:
        writer.close()
        stop_example(cp, dep)
        cp.kubectl("delete", "namespace", name, "--wait=false", check=False)
    view = open_bundle(bundle)
    return sum(s.increase() for s in view.series("rest_client_requests_total")) / (last - first)


@pytest.fixture(scope="module")
def go_example(control_plane: ControlPlane) -> ControlPlane:
    if not (GO_EXAMPLE / "go.mod").is_file():
        pytest.fail(f"the Go example controller is missing under {GO_EXAMPLE}")
    return control_plane


def test_below_the_knee_the_request_rate_is_resync_cost(go_example: ControlPlane, tmp_path: Path) -> None:
    objects = 20
    predicted = plan(BudgetInput(objects, SYNC, QPS, QPS, CALLS))
    assert predicted.resync_rps == pytest.approx(4.0) and predicted.knee_objects == 50
    observed = run_at_scale(go_example, objects, tmp_path / "b")
    assert observed == pytest.approx(predicted.resync_rps, rel=0.3), observed
    [finding] = [f for f in run_analyzers(open_bundle(tmp_path / "b"), AnalyzeOptions(strict=True))
                 if f.id == "sync-budget-exhausted"]
    ev = finding.evidence
    assert ev["objects"] == objects and ev["sync_period_seconds"] == SYNC and ev["qps"] == QPS
    assert ev["calls_per_reconcile"] == pytest.approx(CALLS, rel=0.2)
    assert ev["resync_share_of_qps"] == pytest.approx(0.4, rel=0.2)
    assert finding.severity == "info"
    print(json.dumps({"objects": objects, "predicted_rps": predicted.resync_rps, "observed_rps": observed,
                      "analyzer": {k: ev[k] for k in ("calls_per_reconcile", "resync_share_of_qps", "knee_objects")}}))


def test_above_the_knee_the_client_is_pinned_at_its_qps(go_example: ControlPlane, tmp_path: Path) -> None:
    objects = 80  # knee at 10 QPS x 15 s / 3 calls = 50 objects: resync alone wants 16 req/s
    predicted = plan(BudgetInput(objects, SYNC, QPS, QPS, CALLS))
    assert predicted.share == pytest.approx(1.6)
    observed = run_at_scale(go_example, objects, tmp_path / "b")
    assert QPS * 0.8 <= observed <= QPS * 1.1, observed  # pinned at the limit, not the 16 req/s wanted
    findings = run_analyzers(open_bundle(tmp_path / "b"), AnalyzeOptions(strict=True))
    [budget] = [f for f in findings if f.id == "sync-budget-exhausted"]
    assert budget.severity == "critical" and budget.evidence["objects"] == objects
    assert "--kube-api-qps=" in budget.recommendation
    print(json.dumps({"objects": objects, "predicted_rps": predicted.resync_rps, "observed_rps": observed,
                      "findings": sorted({(f.id, f.severity) for f in findings})}))
