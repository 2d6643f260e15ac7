"""``profkit compare`` of captures of one local controller taken on different ports: paired, exit 0 healthy, 1 on a regression."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.capture_helpers import profkit, profkit_popen, start_demo_controller, stop

DURATION = "30s"


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two healthy captures and one with the requeue-deleted bug, of the demo controller on three
    ports (``--endpoint URL/metrics``: each target is named ``127.0.0.1:PORT``), taken at the same
    time so they share the machine's load."""
    root = tmp_path_factory.mktemp("compare-ports")
    bug = ("--requeue-deleted", "--delete-every", "1", "--requeue-after", "0.5")
    runs: dict[str, Any] = {}
    controllers, procs = [], []
    try:
        for name, extra in (("healthy-a", ()), ("healthy-b", ()), ("requeue", bug)):
            (root / name).mkdir()
            demo = start_demo_controller(root / name, "--seed", "7", *extra)
            controllers.append(demo)
            out = root / name / "bundle"
            procs.append((name, out, demo.port, profkit_popen(
                "capture", "--out", str(out), "--endpoint", f"{demo.url}/metrics", "--duration", DURATION,
                "--scrape-interval", "1s")))
        for name, out, port, proc in procs:
            _, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, stderr
            runs[name] = {"bundle": out, "target": f"127.0.0.1:{port}"}
    finally:
        for _, _, _, proc in procs:
            stop(proc)
        for demo in controllers:
            stop(demo.proc)
    return runs


def _compare(*args: str) -> tuple[int, dict[str, Any], str]:
    result = profkit("compare", *args, "--json", timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_two_healthy_captures_on_different_ports_pair_and_pass(captures: dict[str, Any]) -> None:
    a, b = captures["healthy-a"], captures["healthy-b"]
    assert a["target"] != b["target"]
    code, doc, err = _compare(str(a["bundle"]), str(b["bundle"]))
    (target,) = doc["targets"]
    assert (target["base_target"], target["target"], target["paired_by"]) == (
        a["target"], b["target"], "one target each side")
    assert code == 0, doc["gate"]["reasons"]
    assert err.startswith("PASS: ")
    assert {m["id"] for m in target["metrics"]} >= {"reconcile_rate", "requeue_rate", "cpu_per_reconcile"}


def test_a_regression_between_ports_exits_1_without_fail_on(captures: dict[str, Any]) -> None:
    base, new = captures["healthy-a"], captures["requeue"]
    code, doc, err = _compare(str(base["bundle"]), str(new["bundle"]))
    assert code == 1 and err.startswith("FAIL (exit 1): ")
    (target,) = doc["targets"]
    requeue = next(m for m in target["metrics"] if m["id"] == "requeue_rate")
    assert requeue["status"] == "regressed", requeue
    assert any(r.startswith("regression") and "requeue_rate" in r for r in doc["gate"]["reasons"])
    table = profkit("compare", str(base["bundle"]), str(new["bundle"]), timeout=300)
    assert table.returncode == 1
    assert f"paired BASE target {base['target']} with NEW target {new['target']} (one target each side)" in table.stdout
    assert table.stdout.rstrip().splitlines()[-1].startswith("FAIL (exit 1): ")


if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-v"]))
