"""Scenario x finding matrix on the real control plane: the Go, Python and kopf examples with each pathology switch.

Each scenario deploys an example controller behind a kwok pod, captures it with
``profkit capture`` (Go: pprof, /metrics and its log file; Python: py-spy on its pid,
/metrics and its log file) and runs every analyzer on the
bundle. The pathology's own finding id must be the only one at warning or above; the
healthy run must produce none. The table is printed (``pytest -s``) for the notes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.bundle import open_bundle
from profkit.model import Finding
from tests.e2e.controlplane.example import GO_EXAMPLE, KOPF_RESOURCE, deploy_example, stop_example
from tests.e2e.controlplane.harness import ControlPlane
from tests.e2e.pyspy_exec import child_pid, ensure_exec_enabled, map_exec, unmap_exec

pytestmark = pytest.mark.e2e

# name: (controller args, objects, deleted, expected ids at warning or above)
SCENARIOS: dict[str, tuple[list[str], int, int, set[str]]] = {
    "healthy": (["--sync-period", "30s"], 20, 5, set()),
    "keygen": (["--sync-period", "10s", "--keygen-per-reconcile", "2"], 20, 0, {"repeated-key-generation"}),
    "requeue-deleted": (["--sync-period", "30s", "--requeue-deleted"], 10, 5, {"requeue-storm-deleted"}),
    "throttling": (["--kube-api-qps", "2", "--kube-api-burst", "2", "--api-calls-per-reconcile", "5"], 60, 0,
                   {"client-side-throttling"}),
    "saturation": (["--concurrency", "1", "--reconcile-delay", "300ms"], 150, 0, {"concurrency-saturation"}),
    "errors": (["--sync-period", "10s", "--error-rate", "0.5"], 30, 0, {"reconcile-errors"}),
}
# Findings a scenario may also raise because they are true of it: two RSA keys per reconcile make each
# reconcile take 100-200 ms of CPU on a busy 2-core machine, which slow-reconcile rightly reports there.
ALSO_TRUE: dict[str, set[str]] = {"keygen": {"slow-reconcile"}}
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
                 | {i for *_, expected in [*SCENARIOS.values(), *KOPF_SCENARIOS.values()] for i in expected})
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
    assert expected <= flagged <= expected | ALSO_TRUE.get(scenario, set()), [(f.id, f.severity, f.title)
                                                                             for f in findings]
    assert not [f for f in findings if f.id == "analyzer-error"], [f.title for f in findings]


# The kopf example (examples/kopf-operator) as a 2-replica Deployment, captured with the plain documented
# command ``profkit capture --deployment NAME -n NS`` and no collector file. Deployment ``kopf-widgets`` is
# unknown to profkit (no catalog entry): Python is detected from the container's ``kopf run``. A Widget
# stuck Terminating is only seen by the object watcher (kopf logs no deletion at INFO), which the plain
# command gets from ``--watch widgets.profkit.example``. Switches are WIDGETOP_* environment items.
# name: (switches, objects, deleted, extra capture arguments, expected ids at warning or above)
KOPF_SCENARIOS: dict[str, tuple[list[str], int, int, list[str], set[str]]] = {
    "healthy": (["WIDGETOP_INTERVAL=5"], 8, 3, [], set()),
    "keygen": (["WIDGETOP_INTERVAL=3", "WIDGETOP_KEYGEN_PER_CALL=1"], 6, 0, [], {"repeated-key-generation"}),
    "retry-delete": (["WIDGETOP_INTERVAL=10", "WIDGETOP_RETRY_DELETE=1"], 6, 4, ["--watch", KOPF_RESOURCE],
                     {"requeue-storm-deleted"}),
    "errors": (["WIDGETOP_INTERVAL=2", "WIDGETOP_ERROR_RATE=0.5"], 6, 0, [], {"reconcile-errors"}),
    # CPU-bound handler work asked for above one core, so the active replica burns past warning_min_cores
    # (0.25) even on a busy 2-core machine (0.4 s every 2 s got 0.17 cores there)
    "slow": (["WIDGETOP_INTERVAL=1", "WIDGETOP_SLOW_SECONDS=0.8"], 4, 0, [], {"cpu-hotspot"}),
}
KOPF_DEPLOYMENT = "kopf-widgets"


def _release_stuck_widgets(cp: ControlPlane, namespace: str) -> None:
    """Remove kopf's finalizer from Widgets the retry-forever pathology left Terminating, so the namespace goes."""
    out = cp.kubectl("get", KOPF_RESOURCE, "-n", namespace, "-o", "name", check=False).stdout.split()
    for name in out:
        cp.kubectl("patch", name, "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                   check=False)


def _check_kopf_evidence(scenario: str, findings: list[Finding], deleted: list[str], namespace: str) -> None:
    by_id = {f.id: f for f in findings if f.severity in ("warning", "critical")}
    if scenario == "retry-delete":
        ev = by_id["requeue-storm-deleted"].evidence
        assert ev["variant"] == "stuck-terminating", ev
        assert {o["key"] for o in ev["objects"]} == {f"{namespace}/{n}" for n in deleted}, ev["objects"]
        assert ev.get("handlers") == ["delete_widget"], ev
        assert all(o["retries"] >= 10 and o["stuck_seconds"] >= 30 for o in ev["objects"]), ev["objects"]
    if scenario == "keygen":
        ev = by_id["repeated-key-generation"].evidence
        assert any("issue_widget_credentials" in name for name in ev.get("caller_chain", [])), ev
    if scenario == "slow":
        assert by_id["cpu-hotspot"].evidence["function"] == "handlers.render_widget_report", by_id["cpu-hotspot"]
    if scenario == "errors":
        assert "refresh_widget" in json.dumps(by_id["reconcile-errors"].evidence), by_id["reconcile-errors"]


@pytest.mark.parametrize("scenario", list(KOPF_SCENARIOS))
def test_kopf_scenario_flags_exactly_its_pathology(go_example: ControlPlane, tmp_path: Path, scenario: str) -> None:
    switches, objects, deleted, capture_args, expected = KOPF_SCENARIOS[scenario]
    deployment = KOPF_DEPLOYMENT
    cp = go_example
    namespace = f"scn-kopf-{scenario}"
    ensure_exec_enabled(cp)
    dep = deploy_example(cp, name=deployment, namespace=namespace, lang="kopf", replicas=2, objects=objects,
                         delete=deleted, controller_args=switches, ready_timeout=60)
    out = tmp_path / "bundle"
    try:
        for r in dep.replicas:
            map_exec(cp, namespace, r.pod, child_pid(cp.procs.recorded()[r.process], "widgetop"))
        time.sleep(3)  # kwok picks up the Exec objects; the deletions reach the operator
        cmd = [sys.executable, "-m", "profkit.cli.main", "capture", "--deployment", deployment, "-n", namespace,
               "--kubeconfig", str(cp.kubeconfig), "--duration", "45s", "--profile-window", "15s",
               "--scrape-interval", "5s", "--out", str(out), *capture_args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        stop_example(cp, dep)
        for r in dep.replicas:
            unmap_exec(cp, namespace, r.pod)
        _release_stuck_widgets(cp, namespace)
        cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    for r in dep.replicas:  # both replicas profiled with py-spy (the standby's profile is an idle event loop)
        assert list((out / "profiles").glob(f"*/{r.pod}/cpu-*.speedscope.json")), (r.pod, proc.stderr[-3000:])
        assert r.pod in proc.stderr and "py-spy" in proc.stderr, proc.stderr[-3000:]  # it says so
    findings = run_analyzers(open_bundle(out), AnalyzeOptions())
    RESULTS[f"{scenario} (kopf)"] = findings
    flagged = {f.id for f in findings if f.severity in ("warning", "critical")}
    assert flagged == expected, [(f.id, f.severity, f.title) for f in findings]
    assert not [f for f in findings if f.id == "analyzer-error"], [f.title for f in findings]
    _check_kopf_evidence(scenario, findings, dep.deleted, namespace)
