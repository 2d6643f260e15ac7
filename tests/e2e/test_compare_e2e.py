"""e2e: ``profkit compare`` on captures of the Go example controller on the real control plane.

One Deployment named ``widget-controller`` per scenario (each in its own namespace, one after
the other, so the target names match), captured with ``profkit capture --deployment`` for 25 s:

* healthy, captured 6 times: 3 independent pairs must compare as "no significant change";
* ``--keygen-per-reconcile 1`` against the first healthy capture: CPU per reconcile regressed,
  exit 1 with ``--fail-on warning``, the top grown function under ``crypto/rsa.GenerateKey``;
* ``--requeue-deleted`` (5 of 20 Widgets deleted) against it: requeue rate regressed and the
  new ``requeue-storm-deleted`` finding.

The measured numbers are printed (``pytest -s``) for the notes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.controlplane.example import GO_EXAMPLE, deploy_example, stop_example
from tests.e2e.controlplane.harness import ControlPlane

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent.parent
NAME = "widget-controller"
CAPTURE_SECONDS = 25  # 6 windows of 4 s per run: the smallest p is 0.002, well under 0.01
HEALTHY_PAIRS = 3
HEALTHY = ["--sync-period", "2s"]  # every Widget reconciled every 2 s: reconciles in every window
OBJECTS = 20
JUNIT_XSD = REPO / "tests" / "fixtures" / "junit-10.xsd"


@dataclass
class Runs:
    """The bundles captured for this module, and how long each step took."""

    healthy: list[Path] = field(default_factory=list)
    keygen: Path | None = None
    requeue: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def profkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "profkit.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def capture(cp: ControlPlane, namespace: str, out: Path) -> Path:
    proc = profkit("capture", "--deployment", NAME, "-n", namespace, "--kubeconfig", str(cp.kubeconfig),
                   "--duration", f"{CAPTURE_SECONDS}s", "--profile-window", "10s", "--scrape-interval", "2s",
                   "--out", str(out), timeout=CAPTURE_SECONDS + 90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def scenario(cp: ControlPlane, namespace: str, args: list[str], outs: list[Path], delete: int = 0) -> None:
    dep = deploy_example(cp, name=NAME, namespace=namespace, objects=OBJECTS, delete=delete,
                         controller_args=args, ready_timeout=60)
    try:
        time.sleep(5 if delete else 2)  # deletions reach the controller; the first resync happens
        for out in outs:
            capture(cp, namespace, out)
    finally:
        stop_example(cp, dep)
        cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def runs(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    if not (GO_EXAMPLE / "go.mod").is_file():
        pytest.fail(f"the Go example controller is missing under {GO_EXAMPLE}")
    base = tmp_path_factory.mktemp("compare")
    r = Runs()
    started = time.monotonic()
    r.healthy = [base / "baseline" / f"healthy-{i}" for i in range(2 * HEALTHY_PAIRS)]
    scenario(control_plane, "cmp-healthy", HEALTHY, r.healthy)
    r.timings["healthy"] = time.monotonic() - started
    step = time.monotonic()
    r.keygen = base / "keygen"
    scenario(control_plane, "cmp-keygen", [*HEALTHY, "--keygen-per-reconcile", "1"], [r.keygen])
    r.timings["keygen"] = time.monotonic() - step
    step = time.monotonic()
    r.requeue = base / "requeue"
    scenario(control_plane, "cmp-requeue", [*HEALTHY, "--requeue-deleted"], [r.requeue], delete=5)
    r.timings["requeue"] = time.monotonic() - step
    yield r
    print(f"\ncompare e2e timings (s): {json.dumps({k: round(v, 1) for k, v in r.timings.items()})}")


def compare(*args: str) -> tuple[int, dict[str, Any]]:
    start = time.monotonic()
    proc = profkit("compare", *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    print(f"\ncompare {' '.join(Path(a).name for a in args if a.startswith('/'))}: exit {proc.returncode} "
          f"in {time.monotonic() - start:.1f}s")
    for m in doc["targets"][0]["metrics"]:
        print(f"  {m['id']:<28} {m['base']['value']!s:>12} -> {m['new']['value']!s:<12} p={m['p_value']!s:<8} "
              f"windows {m['base']['windows']}/{m['new']['windows']} {m['status']}"
              + (f" ({m['severity']})" if m["severity"] else ""))
    return proc.returncode, doc


def significant(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["id"], m["status"]) for t in doc["targets"] for m in t["metrics"]
            if m["status"] in ("regressed", "improved", "changed")]


@pytest.mark.parametrize("pair", range(HEALTHY_PAIRS))
def test_two_captures_of_the_same_healthy_controller_show_no_significant_change(runs: Runs, pair: int) -> None:
    base, new = runs.healthy[2 * pair], runs.healthy[2 * pair + 1]
    code, doc = compare(str(base), str(new), "--fail-on", "warning")
    assert code == 0, doc["gate"]["reasons"]
    assert significant(doc) == []
    tested = [m["id"] for m in doc["targets"][0]["metrics"] if m["status"] == "unchanged"]
    assert "cpu_per_reconcile" in tested and "reconcile_rate" in tested  # tested, not merely skipped
    assert not [f for f in doc["findings"] if f["status"] in ("new", "grown") and f["new_severity"] != "info"]


def test_keygen_regression_fails_the_gate_with_the_key_generation_path(runs: Runs, tmp_path: Path) -> None:
    assert runs.keygen is not None
    junit, html = tmp_path / "compare.xml", tmp_path / "compare.html"
    code, doc = compare(str(runs.healthy[0]), str(runs.keygen), "--fail-on", "warning", "--junit", str(junit),
                        "--html", str(html))
    assert code == 1
    target = doc["targets"][0]
    cpu = next(m for m in target["metrics"] if m["id"] == "cpu_per_reconcile")
    assert cpu["status"] == "regressed" and cpu["severity"] in ("warning", "critical"), cpu
    assert any("cpu_per_reconcile" in reason for reason in doc["gate"]["reasons"])
    top = target["functions"][0]
    print(f"  top grown function: {top['function']} +{top['growth'] * 1000:.1f} ms/reconcile via "
          f"{' <- '.join(top['called_from'])}")
    assert target["functions_normalised_per"] == "reconcile"
    assert any("crypto/rsa.GenerateKey" in frame for frame in top["path"]), top["path"]
    assert "repeated-key-generation" in {f["id"] for f in doc["findings"] if f["status"] == "new"}
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    assert 'name="cpu_per_reconcile"' in junit.read_text() and html.stat().st_size > 1_000_000


def test_requeue_of_deleted_objects_is_flagged_by_rate_and_finding(runs: Runs) -> None:
    assert runs.requeue is not None
    code, doc = compare(str(runs.healthy[0]), str(runs.requeue), "--fail-on", "warning")
    assert code == 1
    requeue = next(m for m in doc["targets"][0]["metrics"] if m["id"] == "requeue_rate")
    assert requeue["status"] == "regressed", requeue
    new = {f["id"]: f for f in doc["findings"] if f["status"] in ("new", "grown")}
    assert "requeue-storm-deleted" in new and new["requeue-storm-deleted"]["new_severity"] != "info"


def test_baseline_dir_picks_the_latest_healthy_capture(runs: Runs) -> None:
    assert runs.keygen is not None
    code, doc = compare("--baseline-dir", str(runs.healthy[0].parent), str(runs.keygen), "--fail-on", "critical")
    assert doc["base"]["directory"] == str(runs.healthy[-1])
    assert code == 1  # one key per reconcile is a critical regression (CPU per reconcile far more than doubled)
