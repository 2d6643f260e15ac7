"""Scenario x finding matrix on the real control plane: the Go and Python examples with each pathology switch.

Each scenario deploys an example controller behind a kwok pod, captures it with
``profkit capture`` (Go: pprof, /metrics and its log file; Python: py-spy on its pid,
/metrics and its log file) and runs every analyzer on the
bundle. The pathology's own finding id must be the only one at warning or above; the
healthy run must produce none. The table is printed (``pytest -s``) for the notes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.bundle import open_bundle
from profkit.model import Finding
from tests.e2e.controlplane.example import GO_EXAMPLE, deploy_example, stop_example
from tests.e2e.controlplane.harness import ControlPlane
from tests.e2e.pyspy_exec import child_pid

pytestmark = pytest.mark.e2e

# name: (controller args, objects, deleted, expected ids at warning or above)
SCENARIOS: dict[str, tuple[list[str], int, int, set[str]]] = {
    "healthy": (["--sync-period", "30s"], 20, 5, set()),
    "keygen": (["--sync-period", "10s", "--keygen-per-reconcile", "2"], 20, 0, {"repeated-key-generation"}),
    "requeue-deleted": (["--sync-period", "30s", "--requeue-deleted"], 10, 5, {"requeue-storm-deleted"}),
    "throttling": (["--kube-api-qps", "2", "--kube-api-burst", "2", "--api-calls-per-reconcile", "5"], 60, 0,
                   {"client-side-throttling"}),
    "saturation": (["--concurrency", "1", "--reconcile-delay", "300ms"], 150, 0, {"concurrency-saturation"}),
    "errors": (["--sync-period", "20s", "--error-rate", "0.5"], 20, 0, {"reconcile-errors"}),
}
RESULTS: dict[str, list[Finding]] = {}


def capture(name: str, metrics_port: int, pprof_port: int | None, pid: int | None, log_file: Path, out: Path,
            duration: str = "40s") -> None:
    endpoint = f"metrics=http://127.0.0.1:{metrics_port},name={name}"
    if pprof_port is not None:
        endpoint = f"pprof=http://127.0.0.1:{pprof_port}," + endpoint
    cmd = [sys.executable, "-m", "profkit.cli.main", "capture", "--endpoint", endpoint,
           "--log-file", f"{log_file},name={name}",
           "--duration", duration, "--profile-window", "15s", "--scrape-interval", "2s", "--out", str(out)]
    if pid is not None:
        cmd += ["--pid", f"{pid},name={name}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def go_example(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    if not (GO_EXAMPLE / "go.mod").is_file():
        pytest.fail(f"the Go example controller is missing under {GO_EXAMPLE}")
    yield control_plane
    if RESULTS:
        print_matrix()


def print_matrix() -> None:
    ids = sorted({f.id for findings in RESULTS.values() for f in findings if f.severity != "info"}
                 | {i for *_, expected in SCENARIOS.values() for i in expected})
    print("\n| scenario | " + " | ".join(ids) + " |")
    print("|---|" + "---|" * len(ids))
    for scenario, findings in RESULTS.items():
        worst = {f.id: f.severity for f in findings}
        print(f"| {scenario} | " + " | ".join(worst.get(i, "-") for i in ids) + " |")


@pytest.mark.parametrize("lang", ["go", "python"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_flags_exactly_its_pathology(go_example: ControlPlane, tmp_path: Path, scenario: str,
                                              lang: str) -> None:
    args, objects, deleted, expected = SCENARIOS[scenario]
    name = f"scn-{lang[:2]}-{scenario}"
    dep = deploy_example(go_example, name=name, namespace=name, lang=lang, objects=objects, delete=deleted,
                         controller_args=args, ready_timeout=3 if objects > 50 else 60)
    try:
        if deleted:
            time.sleep(5)  # the deletions reach the controller
        r = dep.replicas[0]
        pid = None
        if lang == "python":
            pid = child_pid(go_example.procs.recorded()[r.process], "widgetctl")
        capture(name, r.metrics_port, r.pprof_port if lang == "go" else None, pid, r.log_file, tmp_path / "bundle")
    finally:
        stop_example(go_example, dep)
        go_example.kubectl("delete", "namespace", name, "--wait=false", check=False)
    findings = run_analyzers(open_bundle(tmp_path / "bundle"), AnalyzeOptions())
    RESULTS[f"{scenario} ({lang})"] = findings
    flagged = {f.id for f in findings if f.severity in ("warning", "critical")}
    assert flagged == expected, [(f.id, f.severity, f.title) for f in findings]
    assert not [f for f in findings if f.id == "analyzer-error"], [f.title for f in findings]
