"""reconcile-errors: the error share from controller_runtime_reconcile_total, grouped messages from "Reconciler error" lines."""

from __future__ import annotations

from pathlib import Path

from controller_bundles import HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, healthy, zap
from scenario_bundles import ERR, failing

ID = "reconcile-errors"


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


KOPF_LINES = (Path(__file__).parent.parent / "fixtures" / "logs" / "kopf-full.log").read_text().split("\n")
KOPF_JSON = (Path(__file__).parent.parent / "fixtures" / "logs" / "kopf-json.log").read_text().split("\n")


def _kopf_line(lines: list[str], needle: str, name: str) -> str:
    """A recorded real kopf line, re-aimed at another object of the same namespace."""
    line = next(line for line in lines if needle in line)
    return line.replace("w-000", name).replace("w-001", name).replace("w-002", name)


def test_kopf_handler_failures_are_reconcile_errors(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    lines = [(float(t), _kopf_line(KOPF_LINES, "failed temporarily", f"w-{t // 2 % 10:03d}")) for t in range(0, 600, 2)]
    lines += [(601.0, _kopf_line(KOPF_JSON, "failed permanently", "w-020")),
              (602.0, _kopf_line(KOPF_LINES, "failed with an exception", "w-021")),
              (603.0, _kopf_line(KOPF_LINES, "Handler 'resume_widget' succeeded", "w-003"))]
    b.logs(lines)
    findings = {f.evidence["handler"]: f for f in analyze(b.view(HEALTHY_DURATION), ID)}
    assert set(findings) == {"delete_widget", "create_widget", "update_widget"}
    storm = findings["delete_widget"]
    assert storm.severity == "warning"  # no reconcile counter: the share is unknown
    assert storm.evidence["errors"] == 300
    assert {o["key"] for o in storm.evidence["top_objects"]} <= {f"ns/w-{i:03d}" for i in range(10)}
    assert storm.evidence["top_objects"][0]["errors"] == 30
    assert "not found" in storm.evidence["top_errors"][0]["message"]
    assert "kopf.TemporaryError" in storm.recommendation and "IgnoreNotFound" not in storm.recommendation
    assert findings["create_widget"].evidence["errors"] == 1
    assert findings["create_widget"].evidence["top_objects"] == [{"key": "ns/w-020", "errors": 1}]
