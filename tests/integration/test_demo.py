"""``profkit demo``: the embedded controller is captured, analyzed and reported end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from profkit.bundle import open_bundle
from tests.integration.capture_helpers import profkit


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, str]:
    out = tmp_path_factory.mktemp("demo") / "run"
    started = time.time()
    result = profkit("demo", "--out", str(out), "--duration", "15s", timeout=120)
    elapsed = time.time() - started
    assert result.returncode == 0, result.stdout + result.stderr
    return out, elapsed, result.stdout + "\x00" + result.stderr  # NUL: where stdout ends


def test_demo_exits_0_quickly_with_a_bundle(demo_run: tuple[Path, float, str]) -> None:
    out, elapsed, output = demo_run
    assert elapsed < 60, f"profkit demo --duration 15s took {elapsed:.0f}s"
    assert f"bundle: {out}" in output
    view = open_bundle(out)
    assert view.status == "complete"
    (target,) = view.targets()
    assert target.name == "demo-controller" and target.kind == "command"
    assert view.meta.get("command_exit_code") == "0"
    assert view.series("controller_runtime_reconcile_total", target="demo-controller", result="requeue_after")
    assert view.series("process_cpu_seconds_total", target="demo-controller", source="psutil")
    assert any(r.message == "could not get widget, not running reconciler" for r in view.logs("demo-controller"))
    instances = {i["instance"] for i in view.instances("demo-controller")}
    assert len(instances) == 1, instances  # process, endpoint and log file are one instance
    refs = view.profile_refs("demo-controller", "cpu")
    if not refs:
        # py-spy could not attach (no ptrace here): the demo must say why.
        assert "no CPU profiles of demo-controller" in output
        return
    merged = view.merged_profile("demo-controller")
    assert merged is not None
    _, cumulative = merged.function_totals()
    keygen = max((v for k, v in cumulative.items() if k.endswith("newkeys")), default=0.0)
    assert keygen / merged.total > 0.5, "key generation dominates the demo's CPU"
    assert any(k.endswith("WidgetReconciler.reconcile") for k in cumulative)


def test_demo_writes_the_report(demo_run: tuple[Path, float, str]) -> None:
    out, _, output = demo_run
    report = out / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    assert f"report: {report}" in output
    # stdout ends by saying how to open the report (stderr carries the capture summary).
    result_stdout = output.split("\x00")[0]
    assert result_stdout.rstrip().splitlines()[-1] == f"open the report in a browser: {report.resolve().as_uri()}"


def test_demo_findings_list_repeated_key_generation(demo_run: tuple[Path, float, str]) -> None:
    out, _, output = demo_run
    view = open_bundle(out)
    if not view.profile_refs("demo-controller", "cpu"):
        pytest.skip("py-spy could not attach here, so there is no CPU profile to analyze")
    result = profkit("analyze", str(out), "--json", timeout=120)
    assert result.returncode in (0, 1), result.stderr
    ids = [f["id"] for f in json.loads(result.stdout)["findings"]]
    assert "repeated-key-generation" in ids
    assert "repeated-key-generation" in output  # the demo prints its findings summary


def test_healthy_demo_has_no_key_generation_finding(tmp_path: Path) -> None:
    from profkit.analyze import run_analyzers

    out = tmp_path / "healthy"
    result = profkit("demo", "--out", str(out), "--duration", "10s", "--healthy", timeout=120)
    assert result.returncode == 0, result.stderr
    ids = [f.id for f in run_analyzers(open_bundle(out), None)]
    assert "repeated-key-generation" not in ids


def test_demo_completes_and_explains_when_pyspy_cannot_attach(tmp_path: Path) -> None:
    """Where ptrace is not permitted (a container without SYS_PTRACE), the demo still finishes and says why."""
    fake = tmp_path / "py-spy"
    fake.write_text("#!/bin/sh\n"
                    "echo 'Permission Denied: Try running again with elevated permissions by going "
                    "sudo env \"PATH=$PATH\" !!' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "noptrace"
    result = profkit("demo", "--out", str(out), "--duration", "6s", timeout=120,
                     env_extra={"PROFKIT_PYSPY": str(fake)})
    assert result.returncode == 0, result.stderr
    assert "no CPU profiles of demo-controller" in result.stderr
    assert "ptrace not permitted" in result.stderr
    view = open_bundle(out)
    assert view.profile_refs() == []
    assert view.series("workqueue_depth")  # everything else was captured
    assert any("ptrace" in e.message for e in view.events("error"))
