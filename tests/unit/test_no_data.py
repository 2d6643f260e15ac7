"""no-data: a target the capture got nothing from is a critical finding, so ``--fail-on`` fails on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.bundle import BundleWriter, open_bundle
from profkit.cli.main import main
from profkit.formats.prometheus import parse_text
from profkit.model import CaptureEvent, Target

FIXTURES = Path(__file__).parent.parent / "fixtures"
T0 = 1_700_000_000.0
REFUSED = "scrape: GET http://127.0.0.1:59999/metrics: connection refused"


def _bundle(tmp_path: Path, problems: list[dict[str, str]] | None = None) -> Path:
    """``kcp`` scraped once from the recorded real /metrics text; ``dead`` only ever refused connections."""
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_target(Target("kcp", "endpoint"))
    writer.add_target(Target("dead", "endpoint"))
    samples = parse_text((FIXTURES / "controller-metrics.txt").read_bytes()).samples
    assert writer.add_points("kcp", "127.0.0.1:8080", T0, samples) > 0
    for i in range(3):
        writer.add_event(CaptureEvent(T0 + i, "error", REFUSED, "dead", "127.0.0.1:59999", "metrics"))
    if problems is not None:
        writer.set_meta(capture_problems=json.dumps(problems))
    writer.close()
    return tmp_path / "bundle"


def _no_data(directory: Path) -> list:  # type: ignore[type-arg]
    return run_analyzers(open_bundle(directory), AnalyzeOptions(only=("no-data",), strict=True))


def test_a_target_without_profiles_points_or_logs_is_critical_and_names_the_last_error(tmp_path: Path) -> None:
    (finding,) = _no_data(_bundle(tmp_path))
    assert (finding.id, finding.severity, finding.target) == ("no-data", "critical", "dead")
    assert finding.title.startswith("no data from target dead")
    assert finding.evidence["errors"] == 3 and finding.evidence["last_error"] == REFUSED


def test_a_target_with_data_gives_no_finding(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_target(Target("kcp", "endpoint"))
    writer.add_points("kcp", "127.0.0.1:8080", T0, parse_text((FIXTURES / "controller-metrics.txt").read_bytes()).samples)
    writer.close()
    assert _no_data(tmp_path / "bundle") == []


def test_problems_the_capture_recorded_are_findings_too(tmp_path: Path) -> None:
    problems = [
        {"target": "kcp", "kind": "pprof", "message": "no pprof data from target kcp: pprof 127.0.0.1:6060: HTTP 404"},
        {"target": "kcp", "kind": "stopped",
         "message": "metrics http://127.0.0.1:8080/metrics stopped during the capture: IntegrityError: NOT NULL"},
    ]
    findings = {f.target: f for f in _no_data(_bundle(tmp_path, problems))}
    assert set(findings) == {"kcp", "dead"}
    kcp = findings["kcp"]
    assert kcp.severity == "critical" and kcp.title == "no pprof data from target kcp"
    assert kcp.evidence["stopped"] == [problems[1]["message"]]
    assert kcp.evidence["problems"] == [p["message"] for p in problems]


def test_analyze_fail_on_warning_fails_on_a_target_without_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _bundle(tmp_path)
    assert main(["analyze", str(directory), "--fail-on", "warning", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [(f["id"], f["target"]) for f in doc["findings"] if f["id"] == "no-data"] == [("no-data", "dead")]
    assert main(["analyze", str(directory)]) == 0  # without --fail-on, findings alone never fail
    assert "no data from target dead" in capsys.readouterr().out
