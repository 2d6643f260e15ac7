"""profkit rules: every generated file passes promtool check rules, and promtool test rules suites generated from
the analyzers' own scenario bundles show each alert firing exactly when its finding does, on the same series."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from controller_bundles import HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, healthy, ramp
from profkit.analyze.tuning import resolve_tuning
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Target
from profkit.render.prometheus_rules import (
    CONTROLLER, INSTANCE, INSTANCE_CONTROLLER, TARGET, alert_rules, render_rules,
)
from scenario_bundles import failing, goroutine_leak, saturated, slow

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (scripts/test.sh installs prometheus)")
STEP = 5.0
MiB = 1024 * 1024
COVERED = {r.finding_id for r in alert_rules()}


def rate_limited(path: Path) -> Bundle:
    """rest_client_rate_limiter_duration_seconds exposed: 10 requests per scrape, each waiting ~3 s."""
    b = Bundle(path)
    buckets = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, math.inf)
    for step in range(0, 241):
        n = step * 10.0
        labels = {"verb": "GET", "host": "10.96.0.1:443"}
        samples = [("rest_client_rate_limiter_duration_seconds_bucket",
                    {**labels, "le": "+Inf" if math.isinf(le) else f"{le:g}"}, n if le >= 4 else 0.0) for le in buckets]
        samples += [("rest_client_rate_limiter_duration_seconds_sum", labels, n * 3),
                    ("rest_client_rate_limiter_duration_seconds_count", labels, n)]
        b.writer.add_points("ctl", "pod-0", T0 + STEP * step, samples)
    return b


def pinned_at_qps(path: Path, qps: int = 5) -> Bundle:
    b = Bundle(path, spec={"alias": "example", "args": [f"--kube-api-qps={qps}", "--kube-api-burst=10"]})
    b.metrics(ControllerLoad(results={"success": const(1.0)}, calls_per_reconcile=5, depth=ramp(0, 300, 1200)),
              HEALTHY_DURATION)
    return b


def loaded(path: Path, load: ControllerLoad) -> Bundle:
    b = Bundle(path)
    b.metrics(load, HEALTHY_DURATION)
    return b


# Scenario bundles of the analyzers' own tests, metrics only (log lines and object counts are not in Prometheus).
SCENARIOS: dict[str, Callable[[Path], Bundle]] = {
    "healthy": healthy,
    "rate-limiter-histogram": rate_limited,
    "requests-pinned-at-qps": pinned_at_qps,
    "busy-but-unthrottled": lambda p: pinned_at_qps(p, qps=50),
    "saturation": saturated,
    "busy-workers-no-queue": lambda p: loaded(p, ControllerLoad(workers=2, active=const(2), reconcile_seconds=0.5,
                                                                results={"success": const(4.0)})),
    "errors-35-percent": lambda p: failing(p, 0.35),
    "errors-10-percent": lambda p: failing(p, 0.10),
    "errors-2-percent": lambda p: failing(p, 0.02),
    "panic": lambda p: failing(p, 0.0, panics=1),
    "slow-12s": lambda p: slow(p, 12.0),
    "slow-45s": lambda p: slow(p, 45.0),
    "slow-3s": lambda p: slow(p, 3.0),
    "goroutine-leak": goroutine_leak,
    "goroutines-doubling": lambda p: loaded(p, ControllerLoad(goroutines=ramp(300, 700, HEALTHY_DURATION))),
    "heap-growth": lambda p: loaded(p, ControllerLoad(heap_bytes=ramp(40 * MiB, 100 * MiB, HEALTHY_DURATION))),
    "heap-tripling": lambda p: loaded(p, ControllerLoad(heap_bytes=ramp(40 * MiB, 130 * MiB, HEALTHY_DURATION))),
    "small-heap-growth": lambda p: loaded(p, ControllerLoad(heap_bytes=ramp(8 * MiB, 16 * MiB, HEALTHY_DURATION))),
    "gc-pauses": lambda p: loaded(p, ControllerLoad(results={"success": const(1.0)}, gc_pause_share=0.08)),
}


# Where each finding fires (at warning or above); every other scenario is silent for it.
FIRING = {"client-side-throttling": {"rate-limiter-histogram", "requests-pinned-at-qps"},
          "concurrency-saturation": {"saturation"}, "reconcile-errors": {"errors-35-percent", "errors-10-percent", "panic"},
          "slow-reconcile": {"slow-12s", "slow-45s"}, "memory-growth": {"heap-growth", "heap-tripling"},
          "goroutine-growth": {"goroutine-leak", "goroutines-doubling"}, "gc-pressure": {"gc-pauses"}}


def input_series(view: BundleView) -> list[dict[str, str]]:
    """Every series of the bundle in promtool's notation, one value per 5 s step from T0 (``_`` where absent)."""
    out = []
    for s in view.series():
        values = ["_"] * (int(HEALTHY_DURATION / STEP) + 1)
        for ts, value in s.points:
            slot = (ts - T0) / STEP
            assert slot == int(slot), f"{s.name} point at {ts} is off the 5 s grid"
            values[int(slot)] = repr(value)
        labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, "job": s.target,
                                                          "instance": s.instance}.items()))
        out.append({"series": f"{s.name}{{{labels}}}", "values": " ".join(values).rstrip(" _")})
    return out


def alert_labels(finding: Finding, by: str) -> dict[str, str]:
    """The labels the alert of a finding must carry: the same target, controller and instance."""
    labels = {"job": finding.target}
    if by in (CONTROLLER, INSTANCE_CONTROLLER):
        labels["controller"] = str(finding.evidence["controller"])
    if by in (INSTANCE, INSTANCE_CONTROLLER):
        labels["instance"] = str(finding.evidence["instance"])
    return labels


def expected_alerts(findings: list[Finding]) -> list[dict[str, Any]]:
    """One alert_rule_test per alert: warning alerts for findings at warning or above, critical for critical."""
    tests = []
    for rule in alert_rules():
        wanted = ("warning", "critical") if rule.severity == "warning" else ("critical",)
        exp = [{"exp_labels": {**alert_labels(f, rule.by), "severity": rule.severity, "finding_id": rule.finding_id}}
               for f in findings if f.id == rule.finding_id and f.severity in wanted]
        tests.append({"eval_time": f"{HEALTHY_DURATION:g}s", "alertname": rule.alert, "exp_alerts": exp})
    return tests


def strip_annotations(rule_text: str) -> str:
    """The rule file with only labels compared (annotations are checked by test_annotations_...)."""
    content = yaml.safe_load(rule_text)
    for group in content["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    return yaml.safe_dump(content, sort_keys=False, width=10_000)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_alert_fires_exactly_when_its_finding_does(tmp_path: Path, scenario: str) -> None:
    bundle = SCENARIOS[scenario](tmp_path / "b")
    view = bundle.view(HEALTHY_DURATION)
    findings = [f for f in analyze(view) if f.id in COVERED and f.severity in ("warning", "critical")]
    assert {f.id for f in findings} == {i for i, names in FIRING.items() if scenario in names}, findings
    assert set(FIRING) == COVERED
    qps = resolve_tuning(Target(bundle.target, "endpoint", dict(bundle.spec))).qps
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(strip_annotations(render_rules(qps=qps)))
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "rule_files": [rules_file.name],
        "evaluation_interval": "1m",
        "tests": [{"interval": f"{STEP:g}s", "input_series": input_series(view),
                   "alert_rule_test": expected_alerts(findings)}],
    }, sort_keys=False, width=10_000))
    result = promtool("test", "rules", str(suite))
    assert result.returncode == 0, (scenario, [(f.id, f.severity) for f in findings], result.stdout[-4000:],
                                    result.stderr[-2000:])


@pytest.mark.parametrize("fmt", ["prometheus", "prometheusrule"])
def test_generated_files_pass_promtool_check_rules(tmp_path: Path, fmt: str) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text("slow-reconcile:\n  warning_p99_seconds: 2\nreconcile-errors:\n  min_errors: 3\n")
    out = tmp_path / "rules.yaml"
    for extra in ([], ["--target", "kcp"], ["--rules", str(thresholds), "--qps", "50", "--window", "30m"]):
        result = subprocess.run([sys.executable, "-m", "profkit.cli.main", "rules", "--format", fmt, *extra,
                                 "-o", str(out)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        content = yaml.safe_load(out.read_text())
        if fmt == "prometheusrule":
            assert content["apiVersion"] == "monitoring.coreos.com/v1" and content["kind"] == "PrometheusRule"
            content = content["spec"]
        plain = tmp_path / "plain.yaml"
        plain.write_text(yaml.safe_dump(content))
        check = promtool("check", "rules", str(plain))
        assert check.returncode == 0, check.stdout + check.stderr
        exprs = [r["expr"] for g in content["groups"] for r in g["rules"]]
        if "--rules" in extra:
            assert any(">= 2)" in e and "reconcile_time_seconds_bucket" in e for e in exprs)
            assert any("1800s" in e for e in exprs) and any(">= bool 45)" in e for e in exprs)  # 0.9 x 50 QPS


def test_annotations_carry_the_finding_id_the_fix_and_the_catalog_flags(tmp_path: Path) -> None:
    content = yaml.safe_load(render_rules(target="kcp"))
    rules = [r for g in content["groups"] for r in g["rules"]]
    assert {r["labels"]["finding_id"] for r in rules} == COVERED
    for rule in rules:
        notes = rule["annotations"]
        assert notes["finding_id"] == rule["labels"]["finding_id"] and notes["fix"]
        assert "--kubeadmcontrolplane-concurrency" in notes["runbook"]
    throttling = next(r for r in rules if r["alert"] == "ProfkitClientSideThrottling")
    assert "--kube-api-qps" in throttling["annotations"]["fix"]


def test_bad_rules_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("slow-reconcile:\n  warning_p99: 2\n")
    for args in (["--format", "json"], ["--rules", str(bad)], ["--target", "nope"], ["--window", "30s"],
                 ["--rules", str(tmp_path / "missing.yaml")]):
        result = subprocess.run([sys.executable, "-m", "profkit.cli.main", "rules", *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
