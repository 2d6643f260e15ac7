"""The per-target summary block and the one-source-per-target rule for CPU and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.analyze.summary import bundle_summary, target_summary
from profkit.analyze.usage_source import one_source, usage_series
from tests.unit.controller_bundles import T0, Bundle, ControllerLoad, const


def _psutil_twin(b: Bundle, instance: str, rss: float, cores: float, duration: float) -> None:
    """What --pid adds next to --endpoint: the same process's RSS and CPU, labelled source=psutil."""
    for step in range(int(duration) + 1):
        b.writer.add_points(b.target, instance, T0 + step, [
            ("process_resident_memory_bytes", {"source": "psutil"}, rss),
            ("process_cpu_seconds_total", {"source": "psutil"}, cores * step),
        ])


def test_memory_and_cpu_of_one_process_are_never_summed(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    load = ControllerLoad(results={"success": const(2.0), "error": const(0.5)}, reconcile_seconds=0.3)
    b.metrics(load, 120, step=5.0, instance="127.0.0.1:8080")
    _psutil_twin(b, "pid-42", 50e6, 0.5, 120)
    view = b.view(120)
    both = view.series("process_resident_memory_bytes", target="ctl")
    assert {s.labels.get("source", "") for s in both} == {"", "psutil"}
    chosen = one_source(both)
    assert chosen and all("source" not in s.labels for s in chosen)
    memory = usage_series(view, "ctl", "memory")
    assert memory is not None and memory.source == "process_resident_memory_bytes (/metrics)"
    summary = target_summary(view, "ctl")
    own_max = max(v for s in chosen for _, v in s.points)
    assert summary["memory_bytes"]["max"] == pytest.approx(own_max)  # not own + 50 MB
    assert summary["memory_bytes"]["unit"] == "bytes"


def test_psutil_is_used_when_the_process_has_no_metrics(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    _psutil_twin(b, "pid-42", 24.3e6, 0.25, 60)
    view = b.view(60)
    summary = target_summary(view, "ctl")
    assert summary["memory_bytes"]["source"] == "RSS (psutil)"
    assert summary["memory_bytes"]["max"] == pytest.approx(24.3e6)
    cpu = summary["cpu_cores"]
    assert cpu["source"] == "utime+stime (psutil)"
    assert cpu["mean"] == pytest.approx(0.25) and cpu["p95"] == pytest.approx(0.25) and cpu["max"] == pytest.approx(0.25)
    assert summary["reconcile_rate"] is None and summary["throttled_seconds"] is None


def test_reconcile_numbers_match_the_load(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    load = ControllerLoad(results={"success": const(2.0), "error": const(0.5)}, reconcile_seconds=0.3)
    b.metrics(load, 300, instance="pod-0")
    b.metrics(load, 300, instance="pod-1")
    view = b.view(300)
    summary = bundle_summary(view)["ctl"]
    rates = summary["reconcile_rate"]["by_result"]
    assert rates["success"] == pytest.approx(4.0, rel=0.05) and rates["error"] == pytest.approx(1.0, rel=0.05)
    assert summary["error_rate"]["ratio"] == pytest.approx(0.2, rel=0.05)
    assert 0.25 <= summary["reconcile_p99_seconds"]["value"] <= 0.5  # observations sit in (0.25, 0.5]
    assert summary["reconcile_p99_seconds"]["unit"] == "seconds"
