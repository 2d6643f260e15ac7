"""Memory and CPU of a real process captured twice over (its /metrics and psutil) are one value, not a sum.

A Python process (the demo controller) and a Go one (examples/go-keygen-server) are each captured
with ``--pid`` and ``--endpoint`` under one name, so the bundle holds ``process_resident_memory_bytes``
and ``process_cpu_seconds_total`` from both collectors. The dashboard's "Memory now" panel, the
analyze summary and psutil (read by the test) must agree within 15 %; the CPU summary's mean cores
within 15 % (or 0.02 cores) of the kernel's utime+stime over the capture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from profkit.bundle import open_bundle
from tests.integration.capture_helpers import ProcessSampler, profkit, start_demo_controller, start_go_keygen_server, stop

TOLERANCE = 0.15
CORES_FLOOR = 0.02


def _check_one_value(bundle: Path, name: str, sampler: ProcessSampler) -> None:
    from profkit.render.dashboard_spec import load_dashboard
    from profkit.render.panel_data import series_lines

    view = open_bundle(bundle)
    sources = {s.labels.get("source", "") for s in view.series("process_resident_memory_bytes", target=name)}
    assert sources == {"", "psutil"}, sources  # both collectors did report the process: the case under test
    panels = {p.title: p for row in load_dashboard("controller").rows for p in row.panels}
    lines = [line for spec in panels["Memory now"].series for line in series_lines(view, spec, name)]
    assert len(lines) == 1, [line.name for line in lines]
    assert lines[0].source == "process_resident_memory_bytes (/metrics)"
    peak_rss = max(v for _, v in sampler.rss)
    panel_peak = float(max(lines[0].values))
    print(f"{name}: panel memory max {panel_peak / 2**20:.1f} MiB, psutil RSS max {peak_rss / 2**20:.1f} MiB")
    assert abs(panel_peak - peak_rss) <= TOLERANCE * peak_rss, (panel_peak, peak_rss)

    result = profkit("analyze", str(bundle), "--json")
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads(result.stdout)["summary"][name]
    memory = summary["memory_bytes"]
    assert memory["unit"] == "bytes" and memory["source"] == "process_resident_memory_bytes (/metrics)"
    assert abs(memory["max"] - peak_rss) <= TOLERANCE * peak_rss, (memory, peak_rss)
    cpu = summary["cpu_cores"]
    (own,) = [s for s in view.series("process_cpu_seconds_total", target=name) if "source" not in s.labels]
    truth = sampler.cores_between(own.points[0][0], own.points[-1][0])
    print(f"{name}: summary CPU mean {cpu['mean']:.3f} cores, psutil {truth:.3f} cores")
    assert cpu["unit"] == "cores" and cpu["max"] >= cpu["p95"] >= 0
    assert abs(cpu["mean"] - truth) <= max(TOLERANCE * truth, CORES_FLOOR), (cpu, truth)


def test_python_process_memory_and_cpu_are_one_source(tmp_path: Path) -> None:
    demo = start_demo_controller(tmp_path, "--keygen-per-reconcile", "1")
    sampler = ProcessSampler(demo.proc.pid)
    try:
        out = tmp_path / "bundle"
        result = profkit("capture", "--pid", f"{demo.proc.pid},name=demo", "--endpoint", f"metrics={demo.url},name=demo",
                         "--duration", "12s", "--profile-window", "6s", "--scrape-interval", "1s", "--out", str(out),
                         timeout=180)
        assert result.returncode == 0, result.stderr
    finally:
        sampler.close()
        stop(demo.proc)
    _check_one_value(out, "demo", sampler)


@pytest.mark.go
@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
def test_go_process_memory_and_cpu_are_one_source(tmp_path: Path) -> None:
    url, proc = start_go_keygen_server(tmp_path, "--keygen")
    try:
        sampler = ProcessSampler(proc.pid)
        out = tmp_path / "bundle"
        result = profkit("capture", "--pid", f"{proc.pid},name=go", "--endpoint", f"metrics={url},name=go",
                         "--duration", "12s", "--scrape-interval", "1s", "--out", str(out), timeout=180)
        sampler.close()
        assert result.returncode == 0, result.stderr
    finally:
        stop(proc)
    _check_one_value(out, "go", sampler)
