"""client-side-throttling: client-go's wait lines in both formats, the rate limiter histogram, and the inferred case."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from controller_bundles import (
    HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, healthy, ramp,
)
from profkit.analyze.throttling_logs import go_duration

ID = "client-side-throttling"
URL = "https://10.96.0.1:443/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/default/kubeadmcontrolplanes/kcp-{i}"
# client-go <= 0.32, klog text (request.go)
OLD = ("I1124 08:40:{s:02d}.153869       1 request.go:697] Waited for {d} due to client-side throttling, "
       "not priority and fairness, request: GET:" + URL)
# client-go >= 0.33, structured klog
NEW = ('I1124 08:40:{s:02d}.153869       1 request.go:752] "Waited before sending request" delay="{d}" '
       'reason="client-side throttling, not priority and fairness" verb="GET" URL="' + URL + '"')


def throttled(path: Path, template: str, delays: list[str], spec: dict[str, object] | None = None) -> Bundle:
    b = Bundle(path, spec=spec or {"alias": "kcp"})
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=8,
                             results={"success": const(2.5)}), HEALTHY_DURATION)
    b.logs([(60.0 + 10 * i, template.format(s=i % 60, d=d, i=i)) for i, d in enumerate(delays)])
    return b


def test_old_klog_waits_over_one_second_are_critical_and_name_kcp_flags(tmp_path: Path) -> None:
    view = throttled(tmp_path / "b", OLD, ["1.18s", "420ms", "2.5s", "1.02s"]).view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert finding.severity == "critical"
    ev = finding.evidence
    assert ev["throttled_requests_logged"] == 4 and ev["waits_over_critical"] == 3
    assert ev["max_wait_seconds"] == 2.5
    assert ev["by_verb"] == {"GET": 4}
    assert ev["by_resource"] == {"kubeadmcontrolplanes": 4}
    assert any("Waited for 2.5s" in s for s in ev["log_samples"])
    # kcp defaults 20/30; demand ~20 req/s observed x 1.5 -> at least 2 x 20
    qps = ev["recommended"]["--kube-api-qps"]
    assert qps >= 40 and ev["recommended"]["--kube-api-burst"] == 2 * qps
    assert f"--kube-api-qps={qps} --kube-api-burst={2 * qps}" in finding.recommendation


def test_structured_klog_waits_under_one_second_are_a_warning(tmp_path: Path) -> None:
    view = throttled(tmp_path / "b", NEW, ["180ms", "420ms", "0.9s"]).view(HEALTHY_DURATION)
    [finding] = analyze(view, ID)
    assert finding.severity == "warning"
    assert finding.evidence["max_wait_seconds"] == 0.9


def test_structured_wait_in_zap_json_fields(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", spec={"alias": "example", "args": ["--kube-api-qps=5", "--kube-api-burst=10"]})
    line = json.dumps({"level": "info", "ts": T0 + 30, "logger": "widget-controller",
                       "msg": "Waited before sending request", "delay": "1.5s",
                       "reason": "client-side throttling, not priority and fairness", "verb": "PATCH",
                       "URL": "https://127.0.0.1:6443/apis/scale.profkit.dev/v1/namespaces/default/widgets/w-1"})
    b.logs([line])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.severity == "critical"
    assert finding.evidence["by_verb"] == {"PATCH": 1}
    # a 1.5 s wait at 5 QPS: ~7.5 requests queued ahead -> demand 12.5 req/s x 1.5 headroom -> 20
    assert "--kube-api-qps=20 --kube-api-burst=40" in finding.recommendation


def test_rate_limiter_histogram_when_exposed(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    buckets = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, math.inf)
    for step in range(0, 61):
        n = step * 10.0  # 10 requests per scrape, each waiting ~3 s
        samples = [("rest_client_rate_limiter_duration_seconds_bucket",
                    {"verb": "GET", "host": "10.96.0.1:443", "le": "+Inf" if math.isinf(le) else f"{le:g}"},
                    n if le >= 4 else 0.0) for le in buckets]
        samples += [("rest_client_rate_limiter_duration_seconds_sum", {"verb": "GET", "host": "10.96.0.1:443"}, n * 3),
                    ("rest_client_rate_limiter_duration_seconds_count", {"verb": "GET", "host": "10.96.0.1:443"}, n)]
        b.writer.add_points("ctl", "pod-0", T0 + 5 * step, samples)
    [finding] = analyze(b.view(300), ID)
    assert finding.severity == "critical"
    assert finding.evidence["rate_limiter_wait"]["p99_seconds"] > 2


def test_inferred_from_requests_pinned_at_qps_while_the_queue_grows(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", spec={"alias": "example", "args": ["--kube-api-qps=5", "--kube-api-burst=10"]})
    b.metrics(ControllerLoad(results={"success": const(1.0)}, calls_per_reconcile=5, depth=ramp(0, 300, 1200)),
              HEALTHY_DURATION)
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.severity == "warning" and finding.evidence["inferred"] is True
    assert finding.evidence["pinned_share"] > 0.9
    assert finding.evidence["workqueue_depth"]["last"] > 250
    assert finding.evidence["recommended"]["--kube-api-qps"] >= 10


def test_busy_but_unthrottled_controller_is_not_flagged(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b", spec={"alias": "example", "args": ["--kube-api-qps=50"]})
    b.metrics(ControllerLoad(results={"success": const(1.0)}, calls_per_reconcile=5, depth=ramp(0, 300, 1200)),
              HEALTHY_DURATION)
    assert analyze(b.view(HEALTHY_DURATION), ID) == []


def test_healthy_bundle_has_no_throttling(tmp_path: Path) -> None:
    assert analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), ID) == []


@pytest.mark.parametrize("text, seconds", [("1.18s", 1.18), ("512.3ms", 0.5123), ("1m2.5s", 62.5), ("850µs", 0.00085)])
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("delay, seconds", [(1.18, 1.18), (1180000000, 1.18), ("1.18s", 1.18)])
def test_zap_duration_encodings_of_the_delay(tmp_path: Path, delay: object, seconds: float) -> None:
    """controller-runtime's production zap encodes Durations as float seconds; other configs as nanoseconds or text."""
    b = Bundle(tmp_path / "b")
    b.logs([json.dumps({"level": "info", "ts": T0 + 30, "logger": "client-go", "msg": "Waited before sending request",
                        "delay": delay, "reason": "client-side throttling, not priority and fairness",
                        "verb": "GET", "URL": "https://127.0.0.1:6443/apis/scale.profkit.dev/v1alpha1/widgets"})])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert finding.evidence["max_wait_seconds"] == pytest.approx(seconds)


def test_unknown_flags_take_the_request_rate_ceiling_as_the_qps(tmp_path: Path) -> None:
    """An --endpoint target has no args: 2 req/s sustained while client-go logs waits means QPS 2."""
    b = Bundle(tmp_path / "b", spec={"url": "http://127.0.0.1:8080"})
    b.metrics(ControllerLoad(results={"success": const(0.4)}, calls_per_reconcile=5), HEALTHY_DURATION)
    b.logs([(60.0 + 10 * i, OLD.format(s=i % 60, d="1.5s", i=i)) for i in range(10)])
    [finding] = analyze(b.view(HEALTHY_DURATION), ID)
    assert "inferred" in finding.evidence["configured"] and "--kube-api-qps=2 " in finding.evidence["configured"]
    assert finding.evidence["recommended"]["--kube-api-qps"] == 8  # 2 x (1 + 1.5 s) x 1.5 = 7.5
