"""gc-pressure: GC share of Go CPU samples (mark workers, assists, sweeping) and pause share from go_gc_duration_seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller_bundles import HEALTHY_DURATION, Bundle, ControllerLoad, analyze, const, healthy
from profkit.analyze.gc_pressure import gc_shares
from profkit.model import Frame, Profile


def go_profile(stacks: list[tuple[list[str], int]]) -> Profile:
    frames: list[Frame] = []
    index: dict[str, int] = {}
    out_stacks, weights = [], []
    for names, samples in stacks:
        ids = []
        for name in names:
            if name not in index:
                index[name] = len(frames)
                frames.append(Frame(name))
            ids.append(index[name])
        out_stacks.append(tuple(ids))
        weights.append(samples * 1e7)  # 10 ms per sample, in nanoseconds
    return Profile(frames, out_stacks, weights, period=1e7, language="go", duration=30.0)


RECONCILE = ["runtime.goexit", "sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller).reconcileHandler",
             "example.com/widgets/controllers.(*WidgetReconciler).Reconcile"]


def test_gc_share_counts_mark_workers_assists_and_names_the_allocator() -> None:
    profile = go_profile([
        (["runtime.goexit", "runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.scanobject"], 300),
        (RECONCILE + ["encoding/json.Marshal", "runtime.mallocgc", "runtime.gcAssistAlloc", "runtime.gcDrainN"], 100),
        (RECONCILE + ["encoding/json.Marshal", "runtime.mallocgc", "runtime.memclrNoHeapPointers"], 100),
        (RECONCILE + ["crypto/sha256.block"], 500),
    ])
    shares = gc_shares(profile)
    assert shares["gc_share"] == pytest.approx(0.4)
    assert shares["assist_share"] == pytest.approx(0.1)
    assert shares["malloc_share"] == pytest.approx(0.2)
    assert shares["samples"] == 1000
    assert shares["top_allocators"][0]["function"] == "encoding/json.Marshal"


def test_pause_share_from_go_gc_duration_seconds_is_a_warning(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(results={"success": const(1.0)}, gc_pause_share=0.08), HEALTHY_DURATION)
    [finding] = analyze(b.view(HEALTHY_DURATION), "gc-pressure")
    assert finding.severity == "warning"
    assert finding.evidence["gc_pause_share"] == pytest.approx(0.08, abs=0.005)
    assert "GOGC" in finding.recommendation


def test_healthy_gc_is_not_flagged(tmp_path: Path) -> None:
    assert analyze(healthy(tmp_path / "b").view(HEALTHY_DURATION), "gc-pressure") == []


@pytest.mark.parametrize("name", ["go-cpu-healthy", "go-cpu-keygen"])
def test_recorded_go_cpu_profiles_are_not_gc_bound(fixtures_dir: Path, name: str) -> None:
    """Real Go 1.2x profiles: GC frames carry suffixes (gcBgMarkWorker.func2); small shares, no finding."""
    path = fixtures_dir / f"{name}.pb.gz"
    from profkit.formats import load_profile_file

    shares = gc_shares(load_profile_file(path, kind="cpu"))
    assert shares["gc_share"] < 0.1 and shares["samples"] > 50
    if name == "go-cpu-keygen":
        assert shares["gc_share"] > 0  # runtime.gcBgMarkWorker.func2 / gcDrainMarkWorkerFractional counted
