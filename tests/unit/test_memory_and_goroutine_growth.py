"""memory-growth and goroutine-growth: growth beyond the object count fires; growth that follows objects does not."""

from __future__ import annotations

from pathlib import Path

from controller_bundles import HEALTHY_DURATION, Bundle, ControllerLoad, analyze, const, healthy, ramp

MiB = 1024 * 1024


def with_objects(path: Path, load: ControllerLoad, created: int, spread: float) -> Bundle:
    b = Bundle(path)
    b.metrics(load, HEALTHY_DURATION)
    b.objects([(i * spread / max(created, 1), f"default/w-{i}", "added") for i in range(created)])
    return b


def test_goroutines_climbing_with_a_constant_object_count_is_a_leak(tmp_path: Path) -> None:
    load = ControllerLoad(goroutines=ramp(150, 1150, HEALTHY_DURATION))
    b = with_objects(tmp_path / "b", load, created=100, spread=1.0)  # all objects exist from the start
    [finding] = analyze(b.view(HEALTHY_DURATION), "goroutine-growth")
    assert finding.severity == "critical"  # +1000 goroutines, 6.7x, still growing
    ev = finding.evidence
    assert ev["series"] == "go_goroutines" and ev["unexplained_growth"] > 900
    assert ev["objects_first"] == ev["objects_last"] == 100
    assert ev["goroutines_per_object_first"] < 2.5 and ev["goroutines_per_object_last"] > 10
    assert "context" in finding.recommendation


def test_heap_growing_without_objects_is_flagged(tmp_path: Path) -> None:
    load = ControllerLoad(heap_bytes=ramp(40 * MiB, 100 * MiB, HEALTHY_DURATION))
    b = with_objects(tmp_path / "b", load, created=50, spread=1.0)
    [finding] = analyze(b.view(HEALTHY_DURATION), "memory-growth")
    assert finding.severity == "critical"  # +60 MiB = 150 % of 40 MiB, still growing
    assert finding.evidence["series"] == "go_memstats_heap_inuse_bytes"
    assert "60.0 MiB" in finding.title


def test_memory_and_goroutines_that_follow_the_object_count_are_explained(tmp_path: Path) -> None:
    # 0 -> 1000 objects created over the run; heap and goroutines grow in step with them
    load = ControllerLoad(heap_bytes=ramp(40 * MiB, 140 * MiB, HEALTHY_DURATION),
                          goroutines=ramp(150, 2150, HEALTHY_DURATION))
    b = with_objects(tmp_path / "b", load, created=1000, spread=HEALTHY_DURATION)
    view = b.view(HEALTHY_DURATION)
    assert analyze(view, "memory-growth") == []
    assert analyze(view, "goroutine-growth") == []


def test_small_absolute_growth_is_noise(tmp_path: Path) -> None:
    load = ControllerLoad(heap_bytes=ramp(8 * MiB, 16 * MiB, HEALTHY_DURATION), goroutines=ramp(100, 160, HEALTHY_DURATION))
    view = with_objects(tmp_path / "b", load, created=10, spread=1.0).view(HEALTHY_DURATION)
    assert analyze(view, "memory-growth") == [] and analyze(view, "goroutine-growth") == []


def test_healthy_flat_memory_and_goroutines(tmp_path: Path) -> None:
    view = healthy(tmp_path / "b").view(HEALTHY_DURATION)
    assert analyze(view, "memory-growth") == [] and analyze(view, "goroutine-growth") == []


def test_growth_when_objects_fall_is_unexplained(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(goroutines=ramp(200, 900, HEALTHY_DURATION)), HEALTHY_DURATION)
    b.objects([(0.0, f"default/w-{i}", "added") for i in range(100)])
    b.objects([(i * 10.0, f"default/w-{i}", "deleted") for i in range(100)])
    [finding] = analyze(b.view(HEALTHY_DURATION), "goroutine-growth")
    assert finding.evidence["objects_last"] == 0
    _ = const  # keep the helper import list uniform


def test_resident_memory_growing_while_the_heap_stays_flat_points_at_the_runtime(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    b.metrics(ControllerLoad(), HEALTHY_DURATION)  # heap flat at 40 MB, RSS 64 MB
    for step in range(0, 241):  # a second RSS series on another pod that climbs 64 -> 200 MB
        t = step * 5.0
        b.writer.add_points("ctl", "pod-1", 1_764_000_000.0 + t, [
            ("go_memstats_heap_inuse_bytes", {}, 40e6),
            ("process_resident_memory_bytes", {}, 64e6 + 136e6 * t / HEALTHY_DURATION)])
    [finding] = analyze(b.view(HEALTHY_DURATION), "memory-growth")
    assert finding.evidence["series"] == "process_resident_memory_bytes"
    assert "the Go heap did not" in finding.title and "GOMEMLIMIT" in finding.recommendation


def test_goroutine_groups_name_the_entry_function_and_the_wait_site() -> None:
    from profkit.analyze.goroutine_growth import goroutine_group

    stack = ["runtime.goexit", "example.com/widgets/controllers.(*WidgetReconciler).watchWorkload.func1",
             "k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch", "runtime.gopark"]
    assert goroutine_group(stack) == ("example.com/widgets/controllers.(*WidgetReconciler).watchWorkload.func1 "
                                      "waiting in k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch")
