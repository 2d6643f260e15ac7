"""Analyzers on recorded real output of examples/go-controller (tests/fixtures/README.md says how it was made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller_bundles import Bundle, analyze
from profkit.formats.logs import parse_line
from profkit.formats.prometheus import parse_text
from profkit.model import Finding


def log_bundle(path: Path, fixture: Path) -> Bundle:
    if not fixture.exists():
        pytest.skip(f"{fixture.name} is not recorded in this checkout")
    b = Bundle(path, target="go-controller", spec={"url": "http://127.0.0.1:18080"})
    b.writer.add_logs([parse_line(line, target="go-controller", instance="pod-0")
                       for line in fixture.read_text().splitlines() if line.strip()])
    return b


def by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in findings}


def test_bmo_and_throttling_run_zap_json(tmp_path: Path, fixtures_dir: Path) -> None:
    """--requeue-deleted with 40 deleted Widgets, QPS 5, 5 % injected errors: controller-runtime zap JSON."""
    findings = by_id(analyze(log_bundle(tmp_path / "b", fixtures_dir / "controller-log.jsonl").view(0)))
    storm = findings["requeue-storm-deleted"]
    assert storm.severity == "critical"  # 40 gone widgets requeued every 2 s
    # the fixture keeps the first 40 and last 80 of 785 lines: most gone keys appear 3+ times over 20 s+
    assert 30 <= storm.evidence["objects_in_storm"] <= 40
    assert storm.evidence["objects"][0]["source"] == "NotFound log lines"
    assert "could not get widget" in storm.evidence["log_samples"][0]
    throttling = findings["client-side-throttling"]
    assert throttling.severity == "critical"  # float-second delays over 1 s
    assert throttling.evidence["throttled_requests_logged"] == 21
    assert throttling.evidence["by_resource"] == {"widgets": 21}
    assert findings["reconcile-errors"].severity == "info"  # 6 lines, share unknown without metrics


def test_klog_text_throttling_run(tmp_path: Path, fixtures_dir: Path) -> None:
    """--log-format text (klog, as Cluster API managers write it) at QPS 2: structured throttling lines."""
    findings = by_id(analyze(log_bundle(tmp_path / "b", fixtures_dir / "klog-throttling.log").view(0)))
    throttling = findings["client-side-throttling"]
    assert throttling.severity == "critical" and throttling.evidence["throttled_requests_logged"] == 9
    assert throttling.evidence["qps_known"] is False  # an endpoint target: no flags, no request metrics
    assert "x its current value" in throttling.recommendation
    # errors of the rate limiter's wait (cancelled at shutdown) are explained by throttling
    assert findings["reconcile-errors"].severity == "info"
    assert findings["reconcile-errors"].evidence["rate_limiter_errors"] > 0


def test_real_scrape_has_the_labels_the_analyzers_read(fixtures_dir: Path) -> None:
    """controller-runtime v0.23.3: the names, labels and bucket bounds the analyzers rely on."""
    path = fixtures_dir / "controller-metrics.txt"
    if not path.exists():
        pytest.skip("controller-metrics.txt is not recorded in this checkout")
    samples = parse_text(path.read_text()).samples
    labels: dict[str, list[dict[str, str]]] = {}
    for name, lab, _ in samples:
        labels.setdefault(name, []).append(lab)
    assert {lab["result"] for lab in labels["controller_runtime_reconcile_total"]} >= {"success", "error", "requeue_after"}
    assert all("controller" in lab for lab in labels["controller_runtime_max_concurrent_reconciles"])
    assert all(lab.get("name") == "widget" for lab in labels["workqueue_depth"])  # queue series carry name=
    assert all(lab.get("name") == "widget" for lab in labels["workqueue_retries_total"])
    bounds = {lab["le"] for lab in labels["controller_runtime_reconcile_time_seconds_bucket"]}
    assert "5" in bounds  # slow-reconcile's threshold bucket (warning_p99_seconds = 5)
    assert {"code", "method", "host"} <= set(labels["rest_client_requests_total"][0])
